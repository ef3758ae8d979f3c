"""Scoring mask of InvertedDoublePendulum-v4.

The observation clips joint velocities to [-10, 10]; a transition that starts with a true velocity
beyond that bound is not scored (see ClippedVelocityMask). The canonical replay (see mujoco_masks)
applies as everywhere."""

from cwmb.envs.mujoco_masks import ClippedVelocityMask


class ScoringMask(ClippedVelocityMask):
    pass
