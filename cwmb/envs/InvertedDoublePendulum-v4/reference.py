"""Reference code world model for InvertedDoublePendulum-v4 (drives MuJoCo with Gymnasium's
inverted_double_pendulum.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import Simulator, angle

CLIP = 10.0  # the observation clips velocities and constraint forces to [-10, 10]
ALIVE_BONUS = 10.0
TIP_HEIGHT_TARGET = 2.0
FALLEN_HEIGHT = 1.0


class Environment:
    def __init__(self) -> None:
        self.sim = Simulator("inverted_double_pendulum.xml", frame_skip=5)

    def set_state(self, state) -> None:
        obs = np.asarray(state, dtype=np.float64).ravel()
        qpos = np.array([obs[0], angle(obs[1], obs[3]), angle(obs[2], obs[4])])
        self.sim.load(qpos, obs[5:8])  # constraint forces (obs[8:11]) are outputs, not state

    def step(self, action):
        self.sim.advance(np.asarray(action, dtype=np.float64).ravel())
        data = self.sim.data
        tip_x, _, tip_z = data.site_xpos[0]
        v1, v2 = data.qvel[1], data.qvel[2]
        reward = (
            ALIVE_BONUS
            - (0.01 * tip_x**2 + (tip_z - TIP_HEIGHT_TARGET) ** 2)
            - (1e-3 * v1**2 + 5e-3 * v2**2)
        )
        obs = np.concatenate(
            [
                data.qpos[:1],
                np.sin(data.qpos[1:]),
                np.cos(data.qpos[1:]),
                np.clip(data.qvel, -CLIP, CLIP),
                np.clip(data.qfrc_constraint, -CLIP, CLIP),
            ]
        )
        return obs, float(reward), bool(tip_z <= FALLEN_HEIGHT)
