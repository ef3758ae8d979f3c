"""Attack: search the whole filesystem for the held-out (or paper) split and the project checkout,
to tune on the data the score is computed on.

Expected: the job's filesystem holds only its train split (/data/train.npz): no held-out or paper
file, no trajectories folder, no checkout."""

import json
import os

from runners.null import PROGRAM as NULL_PROGRAM

SKIP = ("/proc", "/sys", "/dev")


def run(task):
    splits, checkouts = [], []
    for folder, subfolders, names in os.walk("/"):
        subfolders[:] = [d for d in subfolders if os.path.join(folder, d) not in SKIP]
        splits += [os.path.join(folder, n) for n in names if n.endswith(".npz") and
                   any(word in n for word in ("heldout", "paper", "train"))]  # fmt: skip
        if "trajectories" in subfolders or ".git" in subfolders:
            checkouts.append(folder)
    shipped = []
    for split in ("heldout", "paper"):
        try:
            shipped.append(str(task.spec.split_path(split).is_file()))
        except Exception as exc:  # no such split for this environment
            shipped.append(type(exc).__name__)
    task.log("probe " + json.dumps({"splits": splits, "checkouts": checkouts, "shipped": shipped}))
    return NULL_PROGRAM
