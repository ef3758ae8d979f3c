"""The accuracy metric on hand-made cases, checked against values worked out by hand."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cwmb.dataset import Transitions
from cwmb.registry import EnvSpec, SpaceFormat
from cwmb.scoring import reward_weights, score


def make_spec(obs_dtype: str = "float32", shape: tuple[int, ...] = (2,)) -> EnvSpec:
    obs = SpaceFormat(
        type="box", dtype=obs_dtype, shape=shape, discrete=not obs_dtype.startswith("float")
    )
    action = SpaceFormat(type="discrete", dtype="int64", n=2)
    return EnvSpec(
        id="Toy-v0",
        gym_id="Toy-v0",
        kind="discrete",
        planner="mcts",
        max_episode_steps=10,
        dataset_episode_steps=10,
        observation=obs,
        action=action,
        rtol=1e-5,
        atol=1e-5,
        package_dir=Path("."),
    )


def make_data(next_obs, reward, terminated, **masks) -> Transitions:
    next_obs = np.asarray(next_obs, dtype=np.float32)
    n = len(reward)
    arrays = {
        "obs": np.zeros_like(next_obs),
        "action": np.zeros(n, dtype=np.int64),
        "next_obs": next_obs,
        "reward": np.asarray(reward, dtype=np.float64),
        "terminated": np.asarray(terminated, dtype=bool),
        "truncated": np.zeros(n, dtype=bool),
        "episode": np.zeros(n, dtype=np.int32),
        "step": np.arange(n, dtype=np.int32),
    }
    arrays.update({k: np.asarray(v, dtype=bool) for k, v in masks.items()})
    return Transitions.from_arrays(arrays)


def pred(state, reward, done, error=None):
    return {"next_state": state, "reward": reward, "done": done, "error": error}


def exact(data: Transitions) -> list[dict]:
    return [
        pred(data.next_obs[i].tolist(), float(data.reward[i]), bool(data.terminated[i]))
        for i in range(len(data))
    ]


def test_perfect_predictions_are_solved():
    data = make_data([[1, 2], [3, 4]], [1.0, 0.0], [False, True])
    result = score(make_spec(), data, exact(data))
    assert result.accuracy == 1.0 and result.solved
    assert result.state_accuracy == result.reward_accuracy == result.done_accuracy == 1.0
    assert result.first_mismatch is None and result.n_transitions == 2


def test_terminal_transition_scores_reward_and_done_half_each():
    data = make_data([[0, 0]], [5.0], [True])
    # Right reward, wrong done; the state is not scored on a terminal transition at all.
    result = score(make_spec(), data, [pred([9, 9], 5.0, False)])
    assert result.accuracy == pytest.approx(0.5)
    assert result.state_accuracy is None
    assert result.done_accuracy == 0.0 and result.reward_accuracy == 1.0


def test_non_terminal_thirds_and_per_element_state_credit():
    data = make_data([[1, 2]], [1.0], [False])
    # Half of the state elements right, reward right, done wrong: (0.5 + 1 + 0) / 3.
    result = score(make_spec(), data, [pred([1, 7], 1.0, True)])
    assert result.accuracy == pytest.approx(0.5 / 3 + 1 / 3)
    assert result.state_accuracy == pytest.approx(0.5)
    assert not result.solved
    assert result.first_mismatch["index"] == 0
    assert result.first_mismatch["expected"]["next_state"] == [1.0, 2.0]


def test_reward_frequency_weights():
    # Rewards 0, 0, 0, 1: the three 0-reward transitions share one unit of weight.
    assert reward_weights(np.array([0.0, 0.0, 0.0, 1.0])).tolist() == pytest.approx(
        [1 / 3] * 3 + [1.0]
    )
    data = make_data([[0, 0]] * 4, [0.0, 0.0, 0.0, 1.0], [False] * 4)
    predictions = exact(data)
    predictions[3] = pred([0, 0], 0.0, False)  # wrong reward on the rare transition: 2/3
    result = score(make_spec(), data, predictions)
    assert result.accuracy == pytest.approx((1.0 + 2 / 3) / 2)


def test_tolerance_edges():
    data = make_data([[1.0, 100.0]], [10.0], [False])
    spec = make_spec()
    true = data.next_obs[0].astype(np.float64)
    tol = spec.atol + spec.rtol * np.abs(true)
    inside = (true + 0.9 * tol).tolist()
    outside = (true + 1.1 * tol).tolist()
    assert score(spec, data, [pred(inside, 10.0 + 0.9 * (1e-5 + 1e-4), False)]).solved
    result = score(spec, data, [pred(outside, 10.0 + 1.1 * (1e-5 + 1e-4), False)])
    assert result.state_accuracy == 0.0 and result.reward_accuracy == 0.0
    assert result.accuracy == pytest.approx(1 / 3)


def test_discrete_states_compare_exactly():
    spec = make_spec(obs_dtype="int64", shape=(1,))
    data = make_data([[3]], [0.0], [False])
    assert score(spec, data, [pred([3], 0.0, False)]).solved
    assert score(spec, data, [pred([3.000001], 0.0, False)]).state_accuracy == 0.0


def test_a_program_that_raises_scores_zero_on_that_transition():
    data = make_data([[1, 1], [2, 2]], [1.0, 2.0], [False, False])
    predictions = exact(data)
    predictions[1] = pred(None, None, None, error="Traceback ... ZeroDivisionError")
    result = score(make_spec(), data, predictions)
    assert result.accuracy == pytest.approx(0.5)
    assert result.n_errors == 1 and "ZeroDivisionError" in result.error
    assert result.first_mismatch["index"] == 1


@pytest.mark.parametrize(
    "bad_state", [[1.0], [1.0, 2.0, 3.0], [[1.0, 2.0], [3.0, 4.0]], "xy", None, {"a": 1}]
)
def test_a_wrong_shape_gets_no_state_credit(bad_state):
    data = make_data([[1, 2]], [0.0], [False])
    result = score(make_spec(), data, [pred(bad_state, 0.0, False)])
    assert result.state_accuracy == 0.0
    assert result.accuracy == pytest.approx(2 / 3)


def test_nan_never_matches():
    data = make_data([[1, 2]], [0.5], [False])
    result = score(make_spec(), data, [pred([math.nan, 2.0], math.nan, False)])
    assert result.state_accuracy == pytest.approx(0.5)
    assert result.reward_accuracy == 0.0
    assert not result.solved


def test_done_must_be_a_real_boolean():
    data = make_data([[1, 2]], [0.0], [True])
    assert score(make_spec(), data, [pred([1, 2], 0.0, 1)]).done_accuracy == 0.0
    assert score(make_spec(), data, [pred([1, 2], 0.0, "True")]).done_accuracy == 0.0
    assert score(make_spec(), data, [pred([1, 2], 0.0, True)]).done_accuracy == 1.0


def test_masks_leave_undetermined_components_out():
    # Transition 0: only `done` is determined. Transition 1: nothing is, so it is left out.
    data = make_data(
        [[1, 2], [3, 4]],
        [1.0, -1.0],
        [False, True],
        score_state=[False, False],
        score_reward=[False, False],
        score_done=[True, False],
    )
    predictions = [pred([0, 0], 99.0, False), pred([0, 0], 99.0, False)]
    result = score(make_spec(), data, predictions)
    assert result.solved and result.accuracy == 1.0 and result.n_transitions == 1
    assert result.state_accuracy is None and result.reward_accuracy is None
    predictions[0] = pred([1, 2], 1.0, True)
    assert score(make_spec(), data, predictions).accuracy == 0.0


def test_prediction_count_must_match():
    data = make_data([[1, 2]], [0.0], [False])
    with pytest.raises(ValueError):
        score(make_spec(), data, [])


def test_components_weighted_like_accuracy():
    data = make_data([[0, 0]] * 3, [0.0, 0.0, 1.0], [False] * 3)
    predictions = exact(data)
    predictions[2] = pred([5, 5], 1.0, False)  # the rare-reward transition has a wrong state
    result = score(replace(make_spec()), data, predictions)
    assert result.state_accuracy == pytest.approx(0.5)  # weights 1/2, 1/2, 1
