"""Reference code world model for Reacher-v4 (drives MuJoCo with Gymnasium's reacher.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import Simulator, angle, squared_norm


class Environment:
    def __init__(self) -> None:
        self.sim = Simulator("reacher.xml", frame_skip=2)
        self.fingertip = self.sim.body_id("fingertip")
        self.target = self.sim.body_id("target")
        # Fingertip minus target as the last observation reported it. The simulator reports body
        # positions from the start of its last physics step, and the reward of the next step uses
        # exactly that vector, so it is kept rather than recomputed from the joint angles.
        self.offset = np.zeros(3)

    def set_state(self, state) -> None:
        obs = np.asarray(state, dtype=np.float64).ravel()
        qpos = np.array([angle(obs[2], obs[0]), angle(obs[3], obs[1]), obs[4], obs[5]])
        qvel = np.array([obs[6], obs[7], 0.0, 0.0])  # the target never moves
        self.sim.load(qpos, qvel)
        self.offset = obs[8:11].copy()

    def step(self, action):
        control = np.asarray(action, dtype=np.float64).ravel()
        reward = -float(np.linalg.norm(self.offset)) - squared_norm(control)
        self.sim.advance(control)
        return self.observe(), reward, False

    def observe(self) -> np.ndarray:
        data = self.sim.data
        self.offset = data.xpos[self.fingertip] - data.xpos[self.target]
        theta = data.qpos[:2]
        return np.concatenate(
            [np.cos(theta), np.sin(theta), data.qpos[2:], data.qvel[:2], self.offset]
        )
