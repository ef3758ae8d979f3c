"""Paper-mode accuracy (the authors' metric) on hand-made cases, with values worked out by hand, and
where it shows up: `cwmb score`, the evaluation a method receives, summary rows."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from test_scoring import exact, make_data, make_spec, pred

from cwmb import registry
from cwmb.bench.results import SUMMARY_COLUMNS, summary_row
from cwmb.dataset import Transitions
from cwmb.paper_metric import done_labels, paper_accuracy
from cwmb.runner import Evaluation
from cwmb.scoring import failed, score


def episode(n: int, truncated_last: bool, reward: float = 1.0) -> Transitions:
    """One episode of `n` steps with 2-element states; the last step truncated if asked."""
    data = make_data([[i, i + 1] for i in range(n)], [reward] * n, [False] * n)
    data.truncated[-1] = truncated_last
    return data


# -- the reward: `==` against the float32-stored value ------------------------------------------


def test_reward_counts_only_when_equal_to_the_float32_stored_value():
    data = make_data([[1, 2]], [0.1], [False])  # stored as float64 0.1, compared as float32
    spec = make_spec()
    close = [pred([1, 2], 0.1, False)]  # exactly what the environment returned...
    rounded = [pred([1, 2], float(np.float32(0.1)), False)]  # ...and its float32 value
    assert score(spec, data, close).accuracy == 1.0  # ours: within tolerance
    assert paper_accuracy(spec, data, close) == pytest.approx(2 / 3)  # state + done, no reward
    assert paper_accuracy(spec, data, rounded) == 1.0
    off = [pred([1, 2], float(np.float32(0.1)) + 1e-9, False)]
    assert paper_accuracy(spec, data, off) == pytest.approx(2 / 3)


def test_an_integer_valued_reward_is_credited_whatever_its_number_type():
    data = make_data([[1, 2], [3, 4]], [1.0, 0.0], [False, False])
    predictions = [pred([1, 2], 1, False), pred([3, 4], [0.0], 0)]  # int, one-element list
    assert paper_accuracy(make_spec(), data, predictions) == 1.0


# -- the done label: terminated, or truncated by the environment's own time limit ---------------


def test_a_truncation_at_the_environments_time_limit_is_a_done():
    spec = replace(make_spec(), max_episode_steps=3, dataset_episode_steps=3)
    data = episode(3, truncated_last=True)
    assert done_labels(spec, data).tolist() == [False, False, True]
    # Predicting "not done" there loses the done half of that transition (reward half kept):
    # (1 + 1 + 0.5) / 3 transitions of equal reward weight.
    assert paper_accuracy(spec, data, exact(data)) == pytest.approx(2.5 / 3)
    says_done = exact(data)
    says_done[-1]["done"] = True
    assert paper_accuracy(spec, data, says_done) == 1.0
    # Our metric keeps "terminated" as the label: truncation is not a done there.
    assert score(spec, data, exact(data)).accuracy == 1.0


def test_the_benchmarks_episode_cap_is_not_a_done():
    # The environment's limit is 10; the benchmark stopped the episode after 3 steps.
    capped = replace(make_spec(), max_episode_steps=10, dataset_episode_steps=3)
    data = episode(3, truncated_last=True)
    assert not done_labels(capped, data).any()
    assert paper_accuracy(capped, data, exact(data)) == 1.0
    # No registered time limit at all (Blackjack, CliffWalking): a cap at 3 steps is no done.
    unregistered = replace(make_spec(), max_episode_steps=3, registered_time_limit=False)
    assert unregistered.env_time_limit is None
    assert not done_labels(unregistered, data).any()


def test_a_terminal_transition_scores_reward_and_done_half_each_ignoring_the_state():
    data = make_data([[0, 0]], [5.0], [True])
    assert paper_accuracy(make_spec(), data, [pred([9, 9], 5.0, False)]) == pytest.approx(0.5)
    assert paper_accuracy(make_spec(), data, [pred(None, 4.0, True)]) == pytest.approx(0.5)


@pytest.mark.parametrize("env_id", registry.env_ids())
def test_each_environments_time_limit_is_the_one_gymnasium_registers(env_id: str):
    spec = registry.get(env_id)
    assert spec.env_time_limit == gym.spec(spec.gym_id).max_episode_steps


# -- a raise anywhere scores the split 0 ---------------------------------------------------------


def test_a_raise_on_any_transition_scores_the_whole_split_zero():
    data = make_data([[1, 2], [3, 4], [5, 6]], [1.0, 1.0, 1.0], [False, False, True])
    predictions = exact(data)
    # It raised on the terminal transition, whose next state is never compared.
    predictions[2] = pred(None, None, None, error="Traceback ...\nZeroDivisionError")
    ours = score(make_spec(), data, predictions)
    assert ours.accuracy == pytest.approx(2 / 3)  # ours: 0 on that transition only
    assert ours.paper_accuracy == 0.0


def test_a_next_state_the_authors_comparison_cannot_index_counts_as_a_raise():
    data = make_data([[1, 2], [3, 4]], [1.0, 1.0], [False, False])
    for bad in (None, [3], "state"):
        predictions = [pred([1, 2], 1.0, False), pred(bad, 1.0, False)]
        assert paper_accuracy(make_spec(), data, predictions) == 0.0


def test_a_program_that_cannot_run_scores_zero():
    data = make_data([[1, 2]], [1.0], [False])
    assert failed(data, "SyntaxError").paper_accuracy == 0.0


# -- the state, the weights, no masks ------------------------------------------------------------


def test_state_elements_match_with_the_authors_tolerance_or_exactly():
    data = make_data([[1000.0, 2.0]], [1.0], [False])
    # 1000.005 is within 1e-5 + 1e-5 * 1000; 2.001 is not: half the state's third.
    near = [pred([1000.005, 2.001], 1.0, False)]
    assert paper_accuracy(make_spec(), data, near) == pytest.approx((0.5 + 1 + 1) / 3)
    discrete = make_spec(obs_dtype="int64")
    assert paper_accuracy(discrete, data, near) == pytest.approx((0 + 1 + 1) / 3)
    assert paper_accuracy(discrete, data, [pred([1000, 2], 1.0, False)]) == 1.0


def test_transitions_are_weighted_inversely_to_their_reward_class():
    data = make_data([[1, 2]] * 4, [1.0, 1.0, 1.0, 0.0], [False] * 4)
    predictions = exact(data)
    predictions[3]["reward"] = 7.0
    # Class 1.0 (3 transitions, credit 1) and class 0.0 (1 transition, credit 2/3) weigh the same.
    assert paper_accuracy(make_spec(), data, predictions) == pytest.approx((1 + 2 / 3) / 2)


def test_masks_are_ignored():
    data = make_data([[1, 2], [3, 4]], [1.0, 1.0], [False, False], score_state=[True, False])
    predictions = exact(data)
    predictions[1]["next_state"] = [0, 0]
    assert score(make_spec(), data, predictions).accuracy == 1.0  # ours leaves it out
    assert paper_accuracy(make_spec(), data, predictions) == pytest.approx((1 + 2 / 3) / 2)


# -- where it is shown ---------------------------------------------------------------------------


def test_the_evaluation_a_method_receives_carries_it():
    data = make_data([[1, 2]], [0.1], [False])
    evaluation = Evaluation.from_score(score(make_spec(), data, exact(data)))
    assert evaluation.accuracy == 1.0
    assert evaluation.paper_accuracy == pytest.approx(2 / 3)
    assert evaluation.summary()["paper_accuracy"] == evaluation.paper_accuracy
    # Built the old way (positionally, without it), an Evaluation still works.
    assert Evaluation(0.5, 0.5, 0.5, 0.5, False, 1, 0, None, None).paper_accuracy is None


def test_summary_rows_carry_it_for_both_splits():
    splits = {"train": {"accuracy": 1.0, "paper_accuracy": 0.66}, "heldout": {"accuracy": 0.9}}
    row = summary_row({"method": "m", "env": "e", "seed": 0, "splits": splits})
    assert row["train_paper_accuracy"] == 0.66 and row["heldout_paper_accuracy"] is None
    assert {"train_paper_accuracy", "heldout_paper_accuracy"} <= set(SUMMARY_COLUMNS)
    assert set(row) <= set(SUMMARY_COLUMNS)


def cwmb(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cwmb.cli", *args, "--isolation", "process"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_cwmb_score_shows_both_metrics_for_the_halfcheetah_reference():
    result = cwmb("score", "--reference", "--env", "HalfCheetah-v4", "--json")
    assert result.returncode == 0, result.stderr
    splits = json.loads(result.stdout)["splits"]
    assert set(splits) == {"train", "heldout", "paper"}  # `all`: every split the env has
    for name in ("train", "heldout"):
        split = splits[name]
        # A perfect program: every state and done right, no continuous reward ever credited.
        assert split["accuracy"] == 1.0
        assert split["paper_accuracy"] == pytest.approx(2 / 3)
    text = cwmb("score", "--reference", "--env", "HalfCheetah-v4", "--split", "train")
    assert text.returncode == 0, text.stderr
    assert "accuracy 1.0000  paper-mode 0.6667" in text.stdout
