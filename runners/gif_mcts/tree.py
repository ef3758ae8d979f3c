"""The GIF-MCTS tree: nodes are programs, edges are generate / improve / fix actions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cwmb.runner import Evaluation

ROOT = "root"
GENERATE = "generate"
IMPROVE = "improve"
FIX = "fix"
ACTION_TYPES = (GENERATE, IMPROVE, FIX)


@dataclass
class Node:
    """One program in the tree.

    `program` is the node's state: for generate children the parent's lines plus L new ones (a
    partial program), for improve/fix children the corrected program cut the same way. `rollout`
    is the complete program the node was scored with; its train accuracy is the node's value.
    `untried` lists the action types with an untried action at this node (one of each at most:
    expanding one adds a fresh one of its type, except for the single fix of a buggy node)."""

    id: int
    parent: Node | None
    action: str
    program: str = ""
    rollout: str = ""
    evaluation: Evaluation | None = None
    depth: int = 0
    terminal: bool = False  # the completion added fewer than L lines: the program is complete
    reward: float = 0.0  # a terminal node's credit, passed to its parent on backpropagation
    buggy: bool = False  # the rollout raised
    fixes_left: int = 0  # failed fixes still allowed in this node's chain
    chain: str = ""  # for buggy nodes: "open", "closed" (fixes used up) or "resolved"
    value_sum: float = 0.0
    visits: int = 0
    children: list[Node] = field(default_factory=list)
    untried: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0

    @property
    def accuracy(self) -> float:
        """The rollout's credit: train accuracy, 0 if it raised. The value model, v_G and the
        choice of the best program all use it."""
        return 0.0 if self.evaluation is None else self.evaluation.credit

    def set_value(self, value: float) -> None:
        """Make the node's mean value `value` without changing its visits."""
        self.value_sum = value * self.visits

    def expanded_of(self, action: str) -> list[Node]:
        return [c for c in self.children if c.action == action]

    def exhausted(self) -> bool:
        """No action is left anywhere below (only a closed fix chain ends up so)."""
        return not self.untried and all(c.exhausted() for c in self.children)

    def fix_chain(self) -> list[Node]:
        """This buggy node and the buggy ancestors it was fixed from, up to the chain's head (the
        first buggy node, reached by generate or improve)."""
        chain = [self]
        node = self
        while node.action == FIX and node.parent is not None:
            node = node.parent
            chain.append(node)
        return chain

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": None if self.parent is None else self.parent.id,
            "action": self.action,
            "depth": self.depth,
            "value": self.value,
            "visits": self.visits,
            "accuracy": None if self.evaluation is None else self.evaluation.accuracy,
            "buggy": self.buggy,
            "terminal": self.terminal,
            "reward": self.reward,
            "fixes_left": self.fixes_left,
            "chain": self.chain,
            "untried": list(self.untried),
            "children": [c.id for c in self.children],
            "program": self.program,
            "rollout": self.rollout,
        }
