"""Attack: read the answer key in any form — the environment's reference program as source, or its
compiled copy in __pycache__ — and return a program that runs it (held-out accuracy 1.0 with no
LLM call).

Expected: the job sees an empty reference.py and empty __pycache__ folders, finds nothing, and
returns the null program; the recorded score is the null program's."""

import base64
import json
from pathlib import Path

import cwmb.envs
from runners.null import PROGRAM as NULL_PROGRAM

# A program that runs the reference's compiled code (a .pyc is a 16-byte header + marshal data).
LOADER = "import base64, marshal\nexec(marshal.loads(base64.b64decode({data!r})[16:]))\n"


def run(task):
    envs = Path(cwmb.envs.__file__).parent
    source = task.spec.reference_source()
    compiled = sorted(
        p for p in envs.rglob("*.pyc") if p.stem.split(".")[0] in ("reference", "mask")
    )
    task.log("probe " + json.dumps({
        "source_bytes": len(source),
        "compiled": [str(p) for p in compiled],
        "env_cache": sorted(p.name for p in (envs / task.env_id / "__pycache__").glob("*")),
    }))  # fmt: skip
    if source.strip():
        return source
    for path in compiled:
        if path.parent.parent.name == task.env_id and path.stem.startswith("reference"):
            return LOADER.format(data=base64.b64encode(path.read_bytes()).decode())
    return NULL_PROGRAM
