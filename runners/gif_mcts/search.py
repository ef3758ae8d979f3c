"""The GIF-MCTS search (Dainese et al., NeurIPS 2024), rule by rule, as the authors' code runs it
(src/mcts/gif_mcts/ in their repository; where the paper's text differs, the code wins).

One iteration = one selection from the root, one expansion (exactly one LLM call), one evaluation
of the new program on the train split, one value-model update and one backpropagation. The search
stops when the budget of LLM calls is spent or as soon as a program is right on every train
transition.

Rules:
- Nodes are programs. A generate child asks the LLM to continue its parent's partial program; the
  completed program is its rollout, whose credit (train accuracy, 0 if it raised) is what it is
  worth. Improve and fix children hold the corrected program. Every child's partial program is
  cut from its rollout by the authors' line count (`cwmb.program_parser.grow`): the parent's
  line count plus L (=2), blank lines included, the root counting as 2 lines - so 4 lines at
  depth 1, then 3 more per level. Fewer than L new lines make the node terminal.
- The root allows only generate. A healthy non-terminal node allows generate and improve.
  A terminal node has no actions: its own value is 0 and its credit is a reward that its parent
  receives on backpropagation. Expanding an action adds a new untried action of the same type to
  the parent.
- A program that raises is buggy; its only action is one fix (none if it is terminal). Its
  temporary value is 0.99 * fixes_left / f with f=3 (0.99, 0.66, 0.33, 0 after 0..3 failed
  fixes), shared by its whole fix chain and never backpropagated (ancestors only count the
  visit). After f failed fixes the chain is closed (value 0, no actions). When a fix succeeds,
  the chain takes the fixed program's value.
- Selection maximizes v + C * sqrt(ln N / (n_a + eps)), C=0.1, eps=1; N is the parent's visits
  (the root starts with one), n_a the child's visits, or for an untried action the number of the
  parent's expanded children of its type, whose v comes from the per-type value model
  (values.py), clipped to [0, 1]. Ties are broken with the task's seeded RNG.
- The value model of the expanded type learns after the expansion: v_G is its running mean so
  far, v_L the mean value of the parent's expanded children of that type with the new child
  already among them (value 0, as it is not yet backpropagated); the target is the new credit.
- Discount 1: every node on the path receives the new node's value (a terminal node's reward).
- The best program is the rollout with the highest credit; at equal credit the first stays.
- Ablations (Table 6; options in __init__.py): without generate, the root's first generate is
  the only one (no new generate replaces it) and other nodes start with improve only; without
  improve, nodes start with generate only; with f=0 a buggy node has no action and value 0.
- Candidates are formatted with autopep8 before they are scored, and the formatted text is the
  rollout (see `cwmb.runner`); partial programs are cut from the unformatted answer, as theirs.

Where this follows the authors' code rather than the paper's text (which is silent or simpler):
- L lines are counted with blank lines and the node code's leading newline, so a node grows by
  L + 1 lines past depth 1, not by L code lines;
- a terminal node's credit is a reward on the edge to it (its own value stays 0);
- the value model is fitted after each expansion with v_L including the new child at value 0,
  not from the v_L seen when the action was chosen;
- a program that raised is worth 0 as a whole, also as a candidate for the best program;
- candidates are formatted with autopep8 before scoring (the paper does not mention it).

Differences from the authors' code, kept on purpose:
- A terminal node (or a node whose subtree has no action left) is never selected again. Their
  selection can stop at an already expanded terminal child and then re-runs that action from the
  parent, overwriting the node; here the parent's untried action of that type plays that part.
- Ties are broken with the job's seeded generator instead of numpy's global one.
- A tree with no action left (possible only with allow_generate=false) ends the search early,
  with the budget unspent; their selection would descend into a node with no children and fail
  on the maximum of its empty list of scores.
The trace gets one "node" record per expansion and a final "tree" record."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cwmb import prompts
from cwmb.llm.errors import BudgetExhausted
from cwmb.program_parser import ROOT_PARTIAL, continue_partial, extract_program, grow
from cwmb.runner import Task, fix_request, program_id
from runners.gif_mcts.tree import FIX, GENERATE, IMPROVE, ROOT, Node
from runners.gif_mcts.values import ValueModel


@dataclass(frozen=True)
class Config:
    lines_per_node: int = 2  # L
    max_fixes: int = 3  # f
    exploration: float = 0.1  # C
    epsilon: float = 1.0
    discount: float = 1.0
    max_bug_value: float = 0.99
    priors: Mapping[str, float] = field(
        default_factory=lambda: {GENERATE: 0.5, IMPROVE: 0.55, FIX: 0.5}
    )
    prior_count: int = 2
    weight_init: float = 0.5
    allow_generate: bool = True  # False: the root's first generate is the only one
    allow_improve: bool = True


@dataclass
class Option:
    """A choice at a node during selection: an expanded child or an untried action type."""

    child: Node | None
    action: str
    value: float
    exploration: float
    v_global: float | None = None
    v_local: float | None = None

    @property
    def score(self) -> float:
        return self.value + self.exploration

    def to_json(self) -> dict[str, Any]:
        return {
            "option": self.child.id if self.child is not None else f"new {self.action}",
            "value": self.value,
            "exploration": self.exploration,
        }


class GifMcts:
    def __init__(self, task: Task, config: Config | None = None):
        self.task = task
        self.config = config or Config()
        c = self.config
        self.models = {
            kind: ValueModel(c.priors[kind], c.prior_count, c.weight_init, c.weight_init)
            for kind in (GENERATE, IMPROVE, FIX)
        }
        self.root = Node(
            id=0, parent=None, action=ROOT, program=ROOT_PARTIAL, visits=1, untried=[GENERATE]
        )
        self.nodes: list[Node] = [self.root]
        self.best: Node | None = None
        self.solved = False

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> str:
        try:
            while self.task.llm.left > 0 and not self.solved:
                if self.root.exhausted():
                    self.task.log("GIF-MCTS: no action is left in the tree; stopping")
                    break
                self.iterate()
        except BudgetExhausted:
            self.task.log("GIF-MCTS: the gateway reports the budget spent; stopping")
        finally:
            self.task.trace.write("tree", **self.summary(), nodes=[n.to_json() for n in self.nodes])
        if self.best is not None:
            return self.best.rollout
        return self.task.best_program or ""

    def iterate(self) -> Node:
        path, chosen, scores = self.select()
        parent = path[-1]
        child = self.expand(parent, chosen.action)
        # After the expansion, as the authors do: the new child (value 0 until backpropagated)
        # already counts in v_L.
        model = self.models[chosen.action]
        v_global = model.global_value()
        v_local = self.local_value(parent, chosen.action)
        predicted = model.update(v_global, v_local, child.accuracy)
        model.observe(child.accuracy)
        self.backpropagate(path, child)
        if chosen.action == FIX:
            self.update_fix_chain(parent, child)
        if self.best is None or child.accuracy > self.best.accuracy:
            self.best = child
        self.solved = bool(child.evaluation and child.evaluation.solved)
        self.task.trace.write(
            "node",
            **{k: v for k, v in child.to_json().items() if k not in ("children", "rollout")},
            program_id=program_id(child.rollout),
            options=[o.to_json() for o in scores],
            value_model={
                "action": chosen.action,
                "v_global": v_global,
                "v_local": v_local,
                "predicted": predicted,
                "target": child.accuracy,
                **model.state(),
            },
            parent_untried=list(parent.untried),
        )
        self.task.log(
            f"GIF-MCTS node {child.id}: {chosen.action} from {parent.id} at depth {child.depth}, "
            f"accuracy {child.accuracy:.4f}"
            + (f", buggy ({child.fixes_left} fixes left)" if child.buggy else "")
            + (", terminal" if child.terminal else "")
        )
        return child

    # -- selection -------------------------------------------------------------------------
    def options(self, node: Node) -> list[Option]:
        c = self.config
        log_n = math.log(max(node.visits, 1))
        found = [
            Option(
                child,
                child.action,
                child.value,
                c.exploration * math.sqrt(log_n / (child.visits + c.epsilon)),
            )
            for child in node.children
            if not child.exhausted()
        ]
        for action in node.untried:
            v_global = self.models[action].global_value()
            v_local = self.local_value(node, action)
            value = min(1.0, max(0.0, self.models[action].predict(v_global, v_local)))
            n_same = len(node.expanded_of(action))
            bonus = c.exploration * math.sqrt(log_n / (n_same + c.epsilon))
            found.append(Option(None, action, value, bonus, v_global, v_local))
        return found

    @staticmethod
    def local_value(node: Node, action: str) -> float | None:
        same = node.expanded_of(action)
        return sum(c.value for c in same) / len(same) if same else None

    def select(self) -> tuple[list[Node], Option, list[Option]]:
        """Descend from the root to an untried action; return the path, the action's option and
        the options seen at the last node."""
        node = self.root
        path = [node]
        while True:
            options = self.options(node)
            if not options:  # cannot happen: only closed chains are exhausted and they are skipped
                raise RuntimeError(f"GIF-MCTS: node {node.id} has nothing to select")
            best = max(o.score for o in options)
            tied = [o for o in options if o.score >= best - 1e-12]
            chosen = tied[int(self.task.rng.integers(len(tied)))] if len(tied) > 1 else tied[0]
            if chosen.child is None:
                return path, chosen, options
            node = chosen.child
            path.append(node)

    # -- expansion -------------------------------------------------------------------------
    def request(self, parent: Node, action: str) -> list[prompts.Message]:
        task = self.task
        if action == GENERATE:
            return prompts.generate_messages(task.description, task.interface, parent.program)
        assert parent.evaluation is not None
        if action == IMPROVE:
            assert parent.evaluation.first_mismatch is not None
            return prompts.improve_messages(
                task.description, task.interface, parent.rollout, parent.evaluation.first_mismatch
            )
        return fix_request(task, parent.rollout, parent.evaluation)

    def expand(self, parent: Node, action: str) -> Node:
        c = self.config
        answer = self.task.llm.complete(self.request(parent, action), purpose=action)
        code = extract_program(answer)
        full = continue_partial(parent.program, code) if action == GENERATE else code
        state, added = grow(full, parent.program, c.lines_per_node)
        evaluation = self.task.evaluate(full)
        child = Node(
            id=len(self.nodes),
            parent=parent,
            action=action,
            program=state,
            rollout=self.task.formatted(full),
            evaluation=evaluation,
            depth=parent.depth + 1,
            terminal=added < c.lines_per_node,
            buggy=evaluation.buggy,
        )
        if child.terminal:
            child.reward = child.accuracy
        if child.buggy:
            child.fixes_left = parent.fixes_left - 1 if action == FIX else c.max_fixes
            child.chain = "open" if child.fixes_left > 0 else "closed"
        else:
            child.fixes_left = c.max_fixes
        child.untried = self.allowed_actions(child)
        parent.children.append(child)
        if action == FIX:
            parent.untried.remove(FIX)  # a buggy node gets a single fix
        elif action == GENERATE and not c.allow_generate:
            parent.untried.remove(GENERATE)  # the ablation adds no new generate
        # (otherwise the parent keeps an untried action of that type: the expanded one is
        # replaced by a new one)
        self.nodes.append(child)
        return child

    def allowed_actions(self, node: Node) -> list[str]:
        if node.terminal:
            return []
        if node.buggy:
            return [FIX] if node.fixes_left > 0 else []
        c = self.config
        can_improve = node.evaluation is not None and node.evaluation.first_mismatch is not None
        return ([GENERATE] if c.allow_generate else []) + (
            [IMPROVE] if can_improve and c.allow_improve else []
        )

    # -- values ----------------------------------------------------------------------------
    def bug_value(self, fixes_left: int) -> float:
        c = self.config
        return c.max_bug_value * fixes_left / c.max_fixes if c.max_fixes else 0.0

    def backpropagate(self, path: list[Node], child: Node) -> None:
        """`path` runs from the root to `child`'s parent; `child` is new (no visits yet)."""
        nodes = [*path, child]
        if child.buggy:
            # The temporary value stays on the node; ancestors only count the visit.
            child.value_sum = 0.0 if child.terminal else self.bug_value(child.fixes_left)
            for node in nodes:
                node.value_sum += node.value
                node.visits += 1
            return
        value = 0.0 if child.terminal else child.accuracy
        for node in reversed(nodes):
            node.value_sum += value
            node.visits += 1
            value = node.reward + self.config.discount * value

    def update_fix_chain(self, parent: Node, child: Node) -> None:
        chain = parent.fix_chain()
        if not child.buggy:
            for node in chain:
                node.set_value(child.value)
                node.chain = "resolved"
        elif child.fixes_left > 0:
            for node in chain:
                node.set_value(self.bug_value(child.fixes_left))
        else:
            for node in [*chain, child]:
                node.set_value(0.0)
                node.untried.clear()
                node.chain = "closed"

    # -- reporting -------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        expanded = self.nodes[1:]
        return {
            "n_nodes": len(expanded),
            "actions": dict(Counter(n.action for n in expanded)),
            "max_depth": max((n.depth for n in expanded), default=0),
            "buggy": sum(n.buggy for n in expanded),
            "terminal": sum(n.terminal for n in expanded),
            "best_node": None if self.best is None else self.best.id,
            "best_accuracy": None if self.best is None else self.best.accuracy,
            "solved": self.solved,
            "llm_calls": self.task.llm.calls,
            "value_models": {kind: m.state() for kind, m in self.models.items()},
        }
