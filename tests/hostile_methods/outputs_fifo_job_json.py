"""Attack: leave `job.json` as a FIFO, so a host that opens it blocks until the job's timeout.
Expected: the host refuses it at once ("job.json is not a regular file"), the job fails, its
program is still scored by the host."""

import os
from pathlib import Path


def run(task):
    from runners.null import PROGRAM

    out = Path(task.trace.path).parent
    (out / "program.py").write_text(PROGRAM)
    os.mkfifo(out / "job.json")
    os._exit(0)
