"""Scoring mask of HumanoidStandup-v4: the observation is the full simulator state apart from coordinates the
dynamics do not depend on, so only the canonical replay applies (see mujoco_masks)."""

from cwmb.envs.mujoco_masks import MujocoScoringMask


class ScoringMask(MujocoScoringMask):
    hidden = 2  # unobserved leading qpos coordinates
