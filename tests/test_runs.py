"""The shared helpers on `Run`: the last-k target and the recipe a run belongs to."""

from __future__ import annotations

import pytest

from rlscaling import Run
from rlscaling.decide.seeds import final_reward
from rlscaling.io.checks import InputError


def test_last_mean_is_the_mean_of_the_last_k_rewards():
    run = Run([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.5, 0.7], name="r")
    # (0.3 + 0.5 + 0.7) / 3 = 0.5; (0.5 + 0.7) / 2 = 0.6; the last alone 0.7.
    assert run.last_mean(3) == pytest.approx(0.5)
    assert run.last_mean() == pytest.approx(0.5)
    assert run.last_mean(2) == pytest.approx(0.6)
    assert run.last_mean(1) == run.final_reward == 0.7
    # seed_spread's targets read the same numbers.
    assert final_reward(run, "last3") == run.last_mean(3)
    assert final_reward(run, "last") == 0.7


def test_last_mean_refuses_too_few_evaluations_and_bad_k():
    run = Run([1, 2], [0.1, 0.2], name="short")
    with pytest.raises(InputError, match="'short' has 2 evaluations; target needs 3"):
        run.last_mean(3)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="k must be an integer >= 1"):
            run.last_mean(bad)
