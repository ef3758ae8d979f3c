"""Paper-mode accuracy: the transition accuracy as the GIF-MCTS authors' evaluation code computes
it, so that a CWMB number can be set beside the paper's published ones.

It differs from CWMB's own accuracy (`cwmb.scoring`) in four ways, all on purpose:
- the reward is credited only when it equals the reward stored as float32, with `==` (no
  tolerance), so a continuous reward is in practice never credited;
- the done label is "terminated, or truncated by the environment's registered time limit"; the
  benchmark's own cap on a recorded episode is not a done;
- a program that raised on any transition scores 0 on the whole split;
- no masks: every recorded transition is scored.
What stays the same: 1/2 reward + 1/2 done where the label is done, else 1/3 next state (split over
its elements) + 1/3 reward + 1/3 done; states match with rtol = atol = 1e-5 for continuous
observations and exactly for discrete ones; transitions are weighted inversely to the frequency of
their (float32) reward value. Predictions are plain data, compared here on the trusted side."""

from __future__ import annotations

from typing import Any

import numpy as np

from cwmb.dataset import Transitions
from cwmb.registry import EnvSpec

# A prediction as it crosses the sandbox boundary (`cwmb.scoring.Prediction`; that module uses
# this one, so the alias is repeated rather than imported).
Prediction = dict[str, Any]

# The authors' fixed state tolerances (independent of an environment's own tolerances).
RTOL = ATOL = 1e-5


class _Raised(Exception):
    """A comparison the authors' code could not have evaluated: it would have raised there, so the
    program scores 0 on the split."""


def time_limit_truncated(spec: EnvSpec, data: Transitions) -> np.ndarray:
    """Which transitions the environment's own registered time limit truncated (`step` counts from
    0, so the limit's last step is `step + 1 == limit`). Truncations by the benchmark's episode cap
    below that limit are not included."""
    limit = spec.env_time_limit
    if limit is None:
        return np.zeros(len(data), dtype=bool)
    return np.asarray(data.truncated, dtype=bool) & (np.asarray(data.step) + 1 >= limit)


def done_labels(spec: EnvSpec, data: Transitions) -> np.ndarray:
    """The authors' done label: terminated or truncated by the environment's time limit."""
    return np.asarray(data.terminated, dtype=bool) | time_limit_truncated(spec, data)


def _numeric(value: Any) -> float | None:
    """`value` as the number that `value == stored` compares, None where `==` is simply False.

    Numbers and booleans compare by value; a one-element list compares as its element (numpy
    broadcasts it); any other array-like cannot be turned into one truth value and raises."""
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, list):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
        if array.size != 1:
            raise _Raised(f"a prediction of {array.size} values where one was expected")
        return float(array.ravel()[0])
    return None


def _matches(value: Any, stored: float) -> float:
    number = _numeric(value)
    return 1.0 if number is not None and number == stored else 0.0


def _state_credit(spec: EnvSpec, predicted: Any, true_next: np.ndarray) -> float:
    """The fraction of next-state elements right: element i of the prediction (its first axis)
    against element i of the recorded state, as the authors' loop does."""
    if predicted is None:
        raise _Raised("no next state predicted")
    try:
        array = np.asarray(predicted, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _Raised(f"a next state that is not an array of numbers: {exc}") from exc
    if not spec.observation.shape:
        # A scalar observation is compared whole (a list against it element by element).
        return float(np.all(array == true_next[0]))
    if array.ndim == 0 or len(array) < true_next.size:
        raise _Raised(f"a next state of shape {array.shape} where {true_next.size} values were due")
    right = [_element_matches(spec, array[i], true_next[i]) for i in range(true_next.size)]
    return float(np.mean(right))


def _element_matches(spec: EnvSpec, predicted: np.ndarray, true: float) -> bool:
    if spec.observation.discrete:
        return bool(np.all(predicted == true))
    return bool(np.all(np.isclose(predicted, true, rtol=RTOL, atol=ATOL)))


def _transition_credit(
    spec: EnvSpec, pred: Prediction, true_next: np.ndarray, reward: float, done: bool
) -> float:
    reward_right = _matches(pred.get("reward"), reward)
    done_right = _matches(pred.get("done"), float(done))
    if done:
        return 0.5 * reward_right + 0.5 * done_right
    state = _state_credit(spec, pred.get("next_state"), true_next)
    return (state + reward_right + done_right) / 3.0


def paper_accuracy(spec: EnvSpec, data: Transitions, predictions: list[Prediction]) -> float:
    """The authors' accuracy of `predictions` (one per transition of `data`, in order)."""
    n = len(data)
    if n == 0 or any(p.get("error") for p in predictions):
        return 0.0
    stored = np.asarray(data.reward).astype(np.float32)
    labels = done_labels(spec, data)
    true_next = np.asarray(data.next_obs, dtype=np.float64).reshape(n, -1)
    try:
        credit = np.array(
            [
                _transition_credit(
                    spec, predictions[i], true_next[i], float(stored[i]), bool(labels[i])
                )
                for i in range(n)
            ]
        )
    except _Raised:
        return 0.0
    return float(np.average(credit, weights=_class_weights(stored)))


def _class_weights(rewards: np.ndarray) -> np.ndarray:
    """The authors' weight of each transition: N / N_c for its reward class c (np.average then
    normalizes)."""
    _, inverse, counts = np.unique(rewards, return_inverse=True, return_counts=True)
    return len(rewards) / counts[inverse]
