"""Attack: leave `program.py` as a symbolic link to /etc/passwd, hoping the host reads (as root) a
file the job cannot see, and copies its first line into score.json as the program's error.
Expected: the host refuses the link ("program.py is a symbolic link"), the job fails, no line of
/etc/passwd reaches any host file."""

import os
from pathlib import Path


def run(task):
    out = Path(task.trace.path).parent
    os.symlink("/etc/passwd", out / "program.py")
    os._exit(0)  # the job writes nothing more: the link stays the job's program.py
