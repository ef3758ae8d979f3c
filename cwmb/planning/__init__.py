"""Planners that act with a world model: MCTS for discrete actions, CEM for continuous ones."""
