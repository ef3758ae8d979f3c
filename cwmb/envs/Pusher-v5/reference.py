"""Reference code world model for Pusher-v5 (drives MuJoCo with Gymnasium's pusher_v5.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import Simulator, squared_norm

ARM_JOINTS = 7
NEAR_WEIGHT = 0.5
DIST_WEIGHT = 1.0
CONTROL_WEIGHT = 0.1


class Environment:
    def __init__(self) -> None:
        self.sim = Simulator("pusher_v5.xml", frame_skip=5)
        model = self.sim.model
        self.tips = self.sim.body_id("tips_arm")
        self.object = self.sim.body_id("object")
        self.goal = self.sim.body_id("goal")
        # Object and goal each slide on two joints along world axes; a slide coordinate is the
        # body's displacement from its rest position along the joint axis.
        self.slides = []
        for body in (self.object, self.goal):
            for joint in range(model.njnt):
                if model.jnt_bodyid[joint] == body:
                    self.slides.append(
                        (body, int(model.jnt_qposadr[joint]), model.jnt_axis[joint].copy())
                    )
        self.rest = {body: model.body_pos[body].copy() for body in (self.object, self.goal)}

    def set_state(self, state) -> None:
        obs = np.asarray(state, dtype=np.float64).ravel()
        qpos = np.zeros(self.sim.nq)
        qvel = np.zeros(self.sim.nv)  # object and goal are at rest (see the scoring mask)
        qpos[:ARM_JOINTS] = obs[0:7]
        qvel[:ARM_JOINTS] = obs[7:14]
        position = {self.object: obs[17:20], self.goal: obs[20:23]}
        for body, address, axis in self.slides:
            qpos[address] = float(np.dot(position[body] - self.rest[body], axis))
        self.sim.load(qpos, qvel)

    def step(self, action):
        control = np.asarray(action, dtype=np.float64).ravel()
        self.sim.advance(control)
        xpos = self.sim.data.xpos
        tips, obj, goal = xpos[self.tips], xpos[self.object], xpos[self.goal]
        reward = (
            -NEAR_WEIGHT * float(np.linalg.norm(obj - tips))
            - DIST_WEIGHT * float(np.linalg.norm(obj - goal))
            - CONTROL_WEIGHT * squared_norm(control)
        )
        data = self.sim.data
        obs = np.concatenate([data.qpos[:ARM_JOINTS], data.qvel[:ARM_JOINTS], tips, obj, goal])
        return obs, reward, False
