"""GIF-MCTS's value estimate for untried actions: one small linear model per action type.

For an untried action of type T at node P:
    v_G = running mean value of all type-T expansions in the tree (seeded with a prior value
          that counts as `prior_count` observations),
    v_L = mean value of P's expanded type-T children (undefined when P has none),
    prediction = (w_G * v_G + w_L * v_L) / (w_G + w_L), or v_G alone when v_L is undefined.
After each type-T expansion the weights take one SGD step on the squared error between the
prediction (from the v_G, v_L seen when the action was chosen) and the value obtained, with
learning rate 1/n, where n starts at 1 + prior_count and grows by one per update."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ValueModel:
    prior: float
    prior_count: int = 2
    w_global: float = 0.5
    w_local: float = 0.5

    def __post_init__(self) -> None:
        self.total = self.prior * self.prior_count
        self.count = self.prior_count
        self.n = 1 + self.prior_count
        self.updates = 0

    @property
    def learning_rate(self) -> float:
        return 1.0 / self.n

    def global_value(self) -> float:
        return self.total / self.count

    def predict(self, v_global: float, v_local: float | None) -> float:
        weight = self.w_global + self.w_local
        if v_local is None or abs(weight) < 1e-12:
            return v_global
        return (self.w_global * v_global + self.w_local * v_local) / weight

    def update(self, v_global: float, v_local: float | None, target: float) -> float:
        """One SGD step towards `target`; returns the prediction before the step."""
        prediction = self.predict(v_global, v_local)
        weight = self.w_global + self.w_local
        if v_local is not None and abs(weight) >= 1e-12:
            # d(prediction)/d(w_global) = w_local (v_G - v_L) / (w_G + w_L)^2, and symmetrically.
            error = 2.0 * (prediction - target)
            grad_global = error * self.w_local * (v_global - v_local) / weight**2
            grad_local = error * self.w_global * (v_local - v_global) / weight**2
            self.w_global -= self.learning_rate * grad_global
            self.w_local -= self.learning_rate * grad_local
        self.n += 1
        self.updates += 1
        return prediction

    def observe(self, value: float) -> None:
        """Add one expansion's value to the running mean behind v_G."""
        self.total += value
        self.count += 1

    def state(self) -> dict[str, float]:
        return {
            "w_global": self.w_global,
            "w_local": self.w_local,
            "mean": self.global_value(),
            "learning_rate": self.learning_rate,
        }
