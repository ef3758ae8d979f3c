"""Attack: leave a daemon behind — a process in a session of its own that keeps running (and
writing into the output folder) after the job and the bench have ended.

Expected: the daemon dies with the job: no process carrying its marker exists on the host after
the bench."""

import json
import subprocess
import sys
from pathlib import Path

from runners.null import PROGRAM as NULL_PROGRAM

MARKER = "cwmb-hostile-setsid-daemon"
HEARTBEAT = "daemon-heartbeat"

DAEMON = """
import sys, time
with open(sys.argv[1], "a") as beat:
    while True:
        beat.write("x")
        beat.flush()
        time.sleep(0.1)
"""


def run(task):
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(out / HEARTBEAT), MARKER],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    task.log("probe " + json.dumps({"daemon_pid": daemon.pid}))
    return NULL_PROGRAM
