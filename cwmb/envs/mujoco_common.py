"""Shared machinery of the MuJoCo reference world models (trusted project code).

A reference drives `mujoco` with the very model file Gymnasium uses. The file is located inside the
installed `gymnasium` package without importing it (importing Gymnasium is slow and the sandbox
that runs references does not need it).

The reference rebuilds the simulator state (qpos, qvel) from an observation. Coordinates that the
observation leaves out and the dynamics do not depend on (the forward position of a walker) are set
to 0. The constraint solver's warm start is not part of an observation either; a rebuilt state
starts it from zero, exactly as a Gymnasium reset does (the scoring masks leave out the rare
transitions whose outcome depends on it)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import mujoco
import numpy as np


def gymnasium_asset(name: str) -> Path:
    """Path of a model file shipped in the installed gymnasium package (which is not imported)."""
    spec = importlib.util.find_spec("gymnasium")
    if spec is None or spec.origin is None:
        raise ImportError("gymnasium is not installed; the MuJoCo model files ship with it")
    path = Path(spec.origin).parent / "envs" / "mujoco" / "assets" / name
    if not path.is_file():
        raise FileNotFoundError(f"gymnasium ships no model file {name!r} (looked at {path})")
    return path


@cache
def load_model(name: str) -> mujoco.MjModel:
    """One compiled model per file and process; the simulator never writes to it."""
    return mujoco.MjModel.from_xml_path(str(gymnasium_asset(name)))


class Simulator:
    """One MuJoCo model and its data, stepped the way Gymnasium's MujocoEnv steps it."""

    def __init__(self, model_file: str, frame_skip: int):
        self.model = load_model(model_file)
        self.data = mujoco.MjData(self.model)
        self.frame_skip = frame_skip
        self.dt = float(self.model.opt.timestep) * frame_skip  # duration of one environment step
        self.nq = int(self.model.nq)
        self.nv = int(self.model.nv)

    def load(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Start from (qpos, qvel) with every other piece of simulator state reset (warm start 0)."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = qpos
        self.data.qvel[:] = qvel
        # Fill the derived quantities (body positions, ...) as Gymnasium's set_state does.
        mujoco.mj_forward(self.model, self.data)

    def advance(self, action: Any) -> None:
        """One environment step: hold the control for frame_skip physics steps."""
        self.data.ctrl[:] = action
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        # Gymnasium refreshes the external contact forces (cfrc_ext) after stepping.
        mujoco.mj_rnePostConstraint(self.model, self.data)

    def body_id(self, name: str) -> int:
        return int(mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name))


def angle(sin_value: float, cos_value: float) -> float:
    """The hinge angle whose sine and cosine an observation reports (any 2*pi multiple will do:
    the dynamics of an unlimited hinge are periodic)."""
    return float(np.arctan2(sin_value, cos_value))


def squared_norm(values: Any) -> float:
    flat = np.asarray(values, dtype=np.float64).ravel()
    return float(np.dot(flat, flat))


class PositionVelocityWorld:
    """Base of the references whose observation begins with qpos[hidden:] and then qvel.

    `hidden` leading coordinates of qpos (the forward position, or x and y) are not observed; the
    rebuilt state puts them at 0. `velocity_clip`, when set, is the bound the observation clips
    qvel to (an observed value at the bound may stand for a larger true one; the scoring mask
    leaves such transitions out). Subclasses set the class attributes and write `step`."""

    model_file: str
    frame_skip: int
    hidden: int
    velocity_clip: float | None = None

    def __init__(self) -> None:
        self.sim = Simulator(self.model_file, self.frame_skip)

    def set_state(self, state: Any) -> None:
        obs = np.asarray(state, dtype=np.float64).ravel()
        n_pos = self.sim.nq - self.hidden
        qpos = np.concatenate([np.zeros(self.hidden), obs[:n_pos]])
        qvel = obs[n_pos : n_pos + self.sim.nv]
        self.sim.load(qpos, qvel)

    def observe(self) -> np.ndarray:
        data = self.sim.data
        qvel = data.qvel
        if self.velocity_clip is not None:
            qvel = np.clip(qvel, -self.velocity_clip, self.velocity_clip)
        return np.concatenate([data.qpos[self.hidden :], qvel, *self.extra_observation()])

    def extra_observation(self) -> list[np.ndarray]:
        """Observation entries after qvel (none by default)."""
        return []


class HumanoidWorld(PositionVelocityWorld):
    """Base of the two humanoid references: after qpos[2:] and qvel the observation lists, per body
    (world body included), the composite inertia (10 values), the spatial velocity (6), then the
    actuator force on every degree of freedom, then per body the external contact force (6)."""

    model_file = "humanoid.xml"
    frame_skip = 5
    hidden = 2  # torso x and y (rebuilt as 0; the floor is the same everywhere)

    def extra_observation(self) -> list[np.ndarray]:
        data = self.sim.data
        return [
            data.cinert.ravel(),
            data.cvel.ravel(),
            data.qfrc_actuator.ravel(),
            data.cfrc_ext.ravel(),
        ]

    def control_cost(self, weight: float) -> float:
        """weight * |ctrl|^2, from the control as the simulator holds it (unclipped)."""
        return weight * squared_norm(self.sim.data.ctrl)
