"""The accuracy metric of CWMB, computed on the trusted side from plain-data predictions.

Per transition: if the recorded transition terminated, reward and `done` count 1/2 each; otherwise
next state, reward and `done` count 1/3 each, with the next state's credit split evenly over its
elements. Components a dataset marks as undetermined are dropped and the rest renormalized.
Transitions are weighted inversely to the frequency of their reward value. A transition on which the
program raised scores 0. The metric never sees the program, only what it predicted.

Every score also carries the paper-mode accuracy (`cwmb.paper_metric`), the authors' metric, to be
set beside the paper's published numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from cwmb.dataset import Transitions
from cwmb.paper_metric import paper_accuracy
from cwmb.registry import EnvSpec

# A prediction as it crosses the sandbox boundary: plain JSON values only.
Prediction = dict[str, Any]


@dataclass
class SplitScore:
    accuracy: float
    state_accuracy: float | None
    reward_accuracy: float | None
    done_accuracy: float | None
    solved: bool
    n_transitions: int
    paper_accuracy: float = 0.0  # the authors' metric on the same split (cwmb.paper_metric)
    n_errors: int = 0
    error: str | None = None
    first_mismatch: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("extra"))
        return data


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a dataset value (numpy scalars and arrays become lists/numbers)."""
    array = np.asarray(value)
    return array.tolist() if array.ndim else array.item()


def _as_vector(value: Any, size: int) -> np.ndarray | None:
    """Predicted state as a flat float vector of the expected size, or None if it cannot be one."""
    if value is None:
        return None
    try:
        vector = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError, OverflowError):
        return None
    return vector if vector.size == size else None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def reward_weights(rewards: np.ndarray) -> np.ndarray:
    """Weight of each transition: 1 / (number of transitions sharing its reward value)."""
    _, inverse, counts = np.unique(rewards, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


@dataclass
class _Credit:
    state: np.ndarray  # fraction of state elements right, NaN where not scored
    reward: np.ndarray  # 1.0 / 0.0, NaN where not scored
    done: np.ndarray
    errors: np.ndarray  # bool: the program raised on this transition


def _credits(spec: EnvSpec, data: Transitions, predictions: list[Prediction]) -> _Credit:
    n = len(data)
    state = np.full(n, np.nan)
    reward = np.full(n, np.nan)
    done = np.full(n, np.nan)
    errors = np.zeros(n, dtype=bool)
    size = max(spec.observation.size, 1)
    true_next = np.asarray(data.next_obs, dtype=np.float64).reshape(n, size)
    exact = spec.observation.discrete
    for i in range(n):
        pred = predictions[i]
        if pred.get("error"):
            errors[i] = True
            continue
        if data.score_state[i] and not data.terminated[i]:
            vector = _as_vector(pred.get("next_state"), size)
            if vector is None:
                state[i] = 0.0
            elif exact:
                state[i] = float(np.mean(vector == true_next[i]))
            else:
                close = np.isclose(vector, true_next[i], rtol=spec.rtol, atol=spec.atol)
                state[i] = float(np.mean(close))
        if data.score_reward[i]:
            value = _as_float(pred.get("reward"))
            target = float(data.reward[i])
            # Same rule as numpy.isclose (and the state): |a - b| <= atol + rtol * |b|.
            ok = value is not None and abs(value - target) <= spec.atol + spec.rtol * abs(target)
            reward[i] = 1.0 if ok else 0.0
        if data.score_done[i]:
            predicted_done = pred.get("done")
            ok = isinstance(predicted_done, bool) and predicted_done == bool(data.terminated[i])
            done[i] = 1.0 if ok else 0.0
    return _Credit(state, reward, done, errors)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float | None:
    keep = ~np.isnan(values)
    if not keep.any():
        return None
    return float(np.sum(values[keep] * weights[keep]) / np.sum(weights[keep]))


def _mismatch(data: Transitions, i: int, pred: Prediction) -> dict[str, Any]:
    return {
        "index": i,
        "episode": int(data.episode[i]),
        "step": int(data.step[i]),
        "state": _plain(data.obs[i]),
        "action": _plain(data.action[i]),
        "expected": {
            "next_state": _plain(data.next_obs[i]),
            "reward": float(data.reward[i]),
            "done": bool(data.terminated[i]),
        },
        "predicted": {k: pred.get(k) for k in ("next_state", "reward", "done")},
        "error": pred.get("error"),
    }


def score(spec: EnvSpec, data: Transitions, predictions: list[Prediction]) -> SplitScore:
    """Score `predictions` (one per transition of `data`, in order) against the recorded split."""
    if len(predictions) != len(data):
        raise ValueError(f"{len(predictions)} predictions for {len(data)} transitions")
    credit = _credits(spec, data, predictions)
    parts = np.stack([credit.state, credit.reward, credit.done])
    scored = ~np.isnan(parts)
    n_parts = scored.sum(axis=0)
    included = (n_parts > 0) | credit.errors
    # Per-transition score: the mean of its scored components; an exception scores 0.
    per_transition = np.where(n_parts > 0, np.nansum(parts, axis=0) / np.maximum(n_parts, 1), 0.0)
    per_transition[credit.errors] = 0.0
    weights = np.zeros(len(data))
    if included.any():
        weights[included] = reward_weights(np.asarray(data.reward)[included])
    n_scored = int(included.sum())
    accuracy = float(np.sum(per_transition * weights) / np.sum(weights)) if n_scored else 0.0
    wrong = included & ((per_transition < 1.0) | credit.errors)
    first = int(np.argmax(wrong)) if wrong.any() else None
    errors = [p.get("error") for p in predictions if p.get("error")]
    return SplitScore(
        accuracy=accuracy,
        state_accuracy=_weighted_mean(credit.state, weights),
        reward_accuracy=_weighted_mean(credit.reward, weights),
        done_accuracy=_weighted_mean(credit.done, weights),
        solved=n_scored > 0 and not wrong.any(),
        n_transitions=n_scored,
        paper_accuracy=paper_accuracy(spec, data, predictions),
        n_errors=len(errors),
        error=errors[0] if errors else None,
        first_mismatch=None if first is None else _mismatch(data, first, predictions[first]),
    )


def failed(data: Transitions, error: str) -> SplitScore:
    """The score of a program that could not be run at all (load failure, crash, timeout)."""
    return SplitScore(
        accuracy=0.0,
        state_accuracy=0.0,
        reward_accuracy=0.0,
        done_accuracy=0.0,
        solved=False,
        n_transitions=len(data),
        paper_accuracy=0.0,
        n_errors=len(data),
        error=error,
    )
