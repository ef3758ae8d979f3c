"""The oracle's planning model for the continuous-action environments: a private copy of the
Gymnasium environment whose complete simulator state is saved and restored exactly.

A snapshot is one float64 array, so it can be handed to worker processes without pickle.

- MuJoCo: the integration state (time, qpos, qvel, actuator state, controls, applied forces,
  solver warm start, ...) plus the world-frame positions and frames the simulator cached during its
  last evaluation. Rewards read some of those before stepping (Ant's torso position, Humanoid's body
  centres, Reacher's fingertip), so restoring only qpos/qvel would not reproduce the true step.
- Classic control (Pendulum): the environment's `state` array."""

from __future__ import annotations

from typing import Any

import numpy as np

# Cached world-frame quantities (fixed size per model) restored along with the integration state.
CACHED_FIELDS = (
    "xpos",
    "xquat",
    "xmat",
    "xipos",
    "ximat",
    "geom_xpos",
    "geom_xmat",
    "site_xpos",
    "site_xmat",
    "subtree_com",
)


class MujocoStateCodec:
    """Flattens a MuJoCo environment's full simulator state into one float64 array and back."""

    def __init__(self, model: Any):
        import mujoco

        self._mujoco = mujoco
        self.spec = mujoco.mjtState.mjSTATE_INTEGRATION
        self.integration_size = int(mujoco.mj_stateSize(model, self.spec))

    def save(self, model: Any, data: Any) -> np.ndarray:
        state = np.empty(self.integration_size)
        self._mujoco.mj_getState(model, data, state, self.spec)
        cached = [np.asarray(getattr(data, name)).ravel() for name in CACHED_FIELDS]
        return np.concatenate([state, *cached])

    def load(self, model: Any, data: Any, snapshot: np.ndarray) -> None:
        snapshot = np.asarray(snapshot, dtype=np.float64)
        self._mujoco.mj_setState(model, data, snapshot[: self.integration_size], self.spec)
        offset = self.integration_size
        for name in CACHED_FIELDS:
            target = getattr(data, name)
            size = target.size
            target.reshape(-1)[:] = snapshot[offset : offset + size]
            offset += size


class SimulatorModel:
    """planning.base.Model over a private copy of the environment (see the module docstring)."""

    def __init__(self, env: Any):
        self.sim = env.unwrapped
        self._codec = MujocoStateCodec(self.sim.model) if hasattr(self.sim, "data") else None

    def _state_of(self, env: Any) -> np.ndarray:
        if self._codec is not None:
            return self._codec.save(env.model, env.data)
        return np.array(env.state, dtype=np.float64, copy=True)

    def sync(self, env: Any) -> None:
        """Copy the real environment's current state into the private copy."""
        self.restore(self._state_of(env.unwrapped))

    def snapshot(self) -> np.ndarray:
        return self._state_of(self.sim)

    def restore(self, snapshot: Any) -> None:
        if self._codec is not None:
            self._codec.load(self.sim.model, self.sim.data, snapshot)
        else:
            self.sim.state = np.array(snapshot, dtype=np.float64, copy=True)

    def step(self, action: Any) -> tuple[Any, float, bool]:
        obs, reward, terminated, _, _ = self.sim.step(action)
        return obs, float(reward), bool(terminated)
