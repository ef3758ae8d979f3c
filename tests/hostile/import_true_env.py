"""Attack: the project's own wrapper around the true environment."""

from cwmb.true_env import make_env


class Environment:
    def __init__(self):
        self.env = make_env("CartPole-v1")

    def set_state(self, state):
        self.state = state

    def step(self, action):
        return self.env.step(action)[:3]
