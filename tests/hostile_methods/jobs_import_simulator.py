"""Attack: use the true simulators inside the job — import Gymnasium and MuJoCo, or find their
source files and shared libraries on disk — to label transitions for free.

Expected: the simulator packages are empty read-only folders in the job: nothing can be built or
stepped, and no simulator file is found on the search path."""

import json
import os
import sys

from runners.null import PROGRAM as NULL_PROGRAM


def _try(action):
    try:
        return f"worked: {action()}"
    except Exception as exc:  # the attack reports whatever stopped it
        return f"failed: {type(exc).__name__}: {exc}"


def _step_gymnasium(env_id):
    import gymnasium

    env = gymnasium.make(env_id)
    env.reset(seed=0)
    return str(env.step(env.action_space.sample())[1])


def _build_mujoco():
    import mujoco

    return str(mujoco.MjModel.from_xml_string("<mujoco/>").nq)


def _simulator_files():
    wanted = ("cartpole.py", "reacher.xml", "mujoco.so", "registration.py")
    found = []
    for entry in sys.path:
        for folder, _, names in os.walk(entry or "."):
            found += [os.path.join(folder, n) for n in names if n in wanted or "libmujoco" in n]
    return found


def run(task):
    task.log("probe " + json.dumps({
        "gymnasium": _try(lambda: _step_gymnasium(task.env_id)),
        "mujoco": _try(_build_mujoco),
        "files": _simulator_files(),
    }))  # fmt: skip
    return NULL_PROGRAM
