"""Building blocks of the MuJoCo scoring masks (collection time, trusted side).

A mask sees the unwrapped Gymnasium environment before and after every recorded step and decides
which components of the transition (next state, reward, done) the observation determines. Two
kinds of checks exist:

- env-specific conditions read from the full simulator state before the step (a velocity beyond the
  bound the observation clips it to, an object moving although its velocity is not observed,
  body positions cached by the simulator that differ from the observed state), written by each
  data package's `mask.py` on top of `MujocoScoringMask`;
- the canonical replay, common to every MuJoCo environment, for hidden information that matters
  only through rounding or solver convergence: the constraint solver starts from the previous
  step's accelerations (its warm start), which no observation contains, and coordinates the
  observation leaves out (the forward position x, or x and y) change the floating-point rounding.
  The check replays the step from the saved simulator state once as recorded and once with that
  information at its canonical value (warm start cleared, unobserved coordinates moved to 0, as a
  program that rebuilds the state from the observation has it) and scores a component only when
  both agree within half the scoring tolerance."""

from __future__ import annotations

from typing import Any, NamedTuple

import mujoco
import numpy as np

Scored = tuple[bool, bool, bool]  # (next state, reward, done)
ALL: Scored = (True, True, True)
NONE: Scored = (False, False, False)

# Half of the scoring tolerance (env.toml: rtol = atol = 1e-5), leaving the other half for the
# rounding a rebuilt state brings in otherwise (angles through arctan2, positions by subtraction).
REPLAY_RTOL = 5e-6
REPLAY_ATOL = 5e-6
# World-frame positions the simulator caches; a reward may read them before stepping, so moving the
# unobserved coordinates to 0 moves these along.
CACHED_POSITIONS = ("xpos", "xipos", "geom_xpos", "site_xpos", "xanchor", "subtree_com")


class Outcome(NamedTuple):
    obs: np.ndarray
    reward: float
    done: bool


def snapshot(env: Any) -> mujoco.MjData:
    """A full copy of the simulator data (state, warm start and cached quantities)."""
    copy = mujoco.MjData(env.model)
    mujoco.mj_copyData(copy, env.model, env.data)
    return copy


def restore(env: Any, saved: mujoco.MjData) -> None:
    mujoco.mj_copyData(env.data, env.model, saved)


def both(a: Scored, b: Scored) -> Scored:
    return (a[0] and b[0], a[1] and b[1], a[2] and b[2])


class CanonicalReplayCheck:
    """Does the step's outcome depend on the solver warm start carried over from earlier steps, or
    (through rounding) on the unobserved leading `hidden` coordinates of qpos?

    The hidden coordinates must be translations of the root along the world x (and then y) axis."""

    def __init__(self, hidden: int) -> None:
        self.hidden = hidden
        self._before: mujoco.MjData | None = None
        self._action: np.ndarray | None = None

    def before(self, env: Any, action: Any) -> None:
        self._before = snapshot(env)
        self._action = np.array(action, copy=True)

    def after(self, env: Any, next_obs: Any) -> Scored:
        assert self._before is not None and self._action is not None, "before() not called"
        after = snapshot(env)
        try:
            recorded = self._replay(env, canonical=False)
            canonical = self._replay(env, canonical=True)
        finally:
            restore(env, after)
        if not np.array_equal(recorded.obs, np.asarray(next_obs)):
            raise RuntimeError(
                "replaying a MuJoCo step did not reproduce the recorded observation; the mask "
                "must be called around every step (before_step, step, after_step)"
            )
        return (
            bool(np.allclose(canonical.obs, recorded.obs, rtol=REPLAY_RTOL, atol=REPLAY_ATOL)),
            bool(np.isclose(canonical.reward, recorded.reward, rtol=REPLAY_RTOL, atol=REPLAY_ATOL)),
            canonical.done == recorded.done,
        )

    def _replay(self, env: Any, canonical: bool) -> Outcome:
        assert self._before is not None
        restore(env, self._before)
        if canonical:
            data = env.data
            data.qacc_warmstart[:] = 0.0
            if self.hidden:
                shift = np.zeros(3)
                shift[: self.hidden] = data.qpos[: self.hidden]
                data.qpos[: self.hidden] = 0.0
                for name in CACHED_POSITIONS:
                    getattr(data, name)[:] -= shift
        obs, reward, terminated, _, _ = env.step(self._action)
        return Outcome(np.array(obs, copy=True), float(reward), bool(terminated))


class MujocoScoringMask:
    """ScoringMask (see the data-package contract) for a MuJoCo environment.

    Subclasses set `hidden` (how many leading qpos coordinates the observation leaves out) and
    override `determined` with their own conditions on the state before the step; the canonical
    replay applies to all."""

    hidden = 0

    def __init__(self) -> None:
        self._replay = CanonicalReplayCheck(self.hidden)
        self._before_step: Scored = ALL

    def determined(self, env: Any, obs: Any, action: Any) -> Scored:
        """Components the observation determines, judged from the full state before the step."""
        return ALL

    def before_step(self, env: Any, obs: Any, action: Any) -> None:
        self._before_step = self.determined(env, obs, action)
        self._replay.before(env, action)

    def after_step(self, env: Any, next_obs: Any) -> Scored:
        return both(self._before_step, self._replay.after(env, next_obs))


def velocities_within(env: Any, bound: float) -> bool:
    """True when no joint velocity lies beyond the bound the observation clips velocities to."""
    return bool(np.all(np.abs(env.data.qvel) <= bound))


def fresh_kinematics(env: Any) -> mujoco.MjData:
    """Body positions computed from the current qpos (the simulator's own may be one stage old)."""
    data = snapshot(env)
    mujoco.mj_kinematics(env.model, data)
    return data


def cached_positions_current(env: Any, field: str, bodies: slice | list[int]) -> bool:
    """True when the simulator's cached body positions (`xpos` or `xipos`) of `bodies` equal the
    ones the current qpos gives, i.e. the reward may use them as if computed from the observation."""
    fresh = fresh_kinematics(env)
    cached = getattr(env.data, field)[bodies]
    return bool(np.allclose(cached, getattr(fresh, field)[bodies], rtol=0.0, atol=1e-12))


class ClippedVelocityMask(MujocoScoringMask):
    """For observations that clip joint velocities to [-10, 10]: when a true velocity lies beyond
    that bound before the step, the observation does not tell how fast the joint moves, so
    nothing of the transition is scored."""

    velocity_clip = 10.0

    def determined(self, env: Any, obs: Any, action: Any) -> Scored:
        return ALL if velocities_within(env, self.velocity_clip) else NONE

    @classmethod
    def scored_from_observation(cls, obs: Any, action: Any) -> Scored:
        """The check without the simulator's state, for recorded buffers (the `paper` split): an
        observed element at the clip bound may stand for a faster joint. (The observations' other
        elements stay far below the bound, or are clipped to it too.)"""
        return NONE if np.any(np.abs(np.asarray(obs)) >= cls.velocity_clip) else ALL
