"""Attack: plant symbolic links under every name the host writes in a job folder (score.json and
the temporary files of its atomic writes), pointing at a host path, hoping the host writes
through them; the job's own files are left valid.
Expected: the host writes nothing in the job's own folder, the target is never created, and the
published job folder holds the host's score.json (the job counts: it did nothing wrong itself)."""

import json
import os
from pathlib import Path

TARGET = "/tmp/cwmb-hostile-outputs-link-target"
HOST_WRITES = ["score.json", "program.py", "job.json", "trace.jsonl", "log.txt"]


def run(task):
    from runners.null import PROGRAM

    out = Path(task.trace.path).parent
    for name in HOST_WRITES:
        os.symlink(TARGET, out / f".{name}.tmp")
    os.symlink(TARGET, out / "score.json")
    (out / "program.py").write_text(PROGRAM)
    info = {"status": "ok", "method": "outputs-link-host-files", "env": task.spec.id}
    (out / "job.json").write_text(json.dumps(info | {"seed": task.seed}))
    os._exit(0)
