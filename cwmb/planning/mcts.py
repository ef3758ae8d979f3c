"""The paper's MCTS planner: a fresh UCT search from the current state at every real step, random
rollouts, and the real action drawn from a softmax over the root's action values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cwmb.planning.base import Model


@dataclass(frozen=True)
class MCTSConfig:
    simulations: int = 25
    rollout_depth: int = 100  # at most this many random actions after the tree
    c: float = 1.0  # UCT exploration constant
    gamma: float = 0.99
    temperature: float = 0.01  # softmax over root Q-values when choosing the real action


@dataclass
class _Node:
    visits: int = 0
    action_visits: dict[int, int] = field(default_factory=dict)
    action_return: dict[int, float] = field(default_factory=dict)
    children: dict[int, _Node] = field(default_factory=dict)

    def q(self, action: int) -> float:
        return self.action_return[action] / self.action_visits[action]


class MCTSPlanner:
    def __init__(self, n_actions: int, config: MCTSConfig | None = None):
        self.n_actions = n_actions
        self.config = config or MCTSConfig()

    def act(self, model: Model, rng: np.random.Generator) -> int:
        root = _Node()
        start = model.snapshot()
        for _ in range(self.config.simulations):
            model.restore(start)
            self._simulate(root, model, rng)
        model.restore(start)
        return self._choose(root, rng)

    def _simulate(self, root: _Node, model: Model, rng: np.random.Generator) -> None:
        cfg = self.config
        path: list[tuple[_Node, int, float]] = []
        node = root
        tail = 0.0
        while True:
            untried = [a for a in range(self.n_actions) if a not in node.children]
            if untried:
                action = int(untried[rng.integers(len(untried))])
                _, reward, done = model.step(action)
                node.children[action] = _Node()
                path.append((node, action, reward))
                if not done:
                    tail = self._rollout(model, rng)
                break
            action = self._uct(node)
            _, reward, done = model.step(action)
            path.append((node, action, reward))
            node = node.children[action]
            if done:
                break
        value = tail
        for parent, action, reward in reversed(path):
            value = reward + cfg.gamma * value
            parent.visits += 1
            parent.action_visits[action] = parent.action_visits.get(action, 0) + 1
            parent.action_return[action] = parent.action_return.get(action, 0.0) + value

    def _uct(self, node: _Node) -> int:
        log_n = math.log(max(node.visits, 1))
        best, best_score = 0, -math.inf
        for action in range(self.n_actions):
            n = node.action_visits[action]
            score = node.q(action) + self.config.c * math.sqrt(log_n / n)
            if score > best_score:
                best, best_score = action, score
        return best

    def _rollout(self, model: Model, rng: np.random.Generator) -> float:
        total, discount = 0.0, 1.0
        for action in rng.integers(self.n_actions, size=self.config.rollout_depth):
            _, reward, done = model.step(int(action))
            total += discount * reward
            discount *= self.config.gamma
            if done:
                break
        return total

    def _choose(self, root: _Node, rng: np.random.Generator) -> int:
        actions = sorted(root.action_visits)
        if not actions:  # no simulation ran: act at random
            return int(rng.integers(self.n_actions))
        q = np.array([root.q(a) for a in actions])
        logits = (q - q.max()) / self.config.temperature
        probs = np.exp(logits)
        probs /= probs.sum()
        return int(actions[rng.choice(len(actions), p=probs)])
