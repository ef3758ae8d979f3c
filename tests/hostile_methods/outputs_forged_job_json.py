"""Attack: a `job.json` holding a list (which crashed the host's reader) next to a forged
`score.json` claiming held-out accuracy 1.0, hoping a resumed bench takes the job as finished.
Expected: the job fails with "job.json holds a JSON list", the host's real scores of the program
are recorded, and a resumed bench keeps the host's score.json."""

import json
import os
from pathlib import Path

FORGED = {"status": "ok", "splits": {"train": {"accuracy": 1.0}, "heldout": {"accuracy": 1.0}}}


def run(task):
    from runners.null import PROGRAM

    out = Path(task.trace.path).parent
    (out / "program.py").write_text(PROGRAM)
    (out / "job.json").write_text("[1, 2, 3]\n")
    (out / "score.json").write_text(json.dumps(FORGED))
    os._exit(0)
