"""The shared helpers on `Run`: the last-k target and the recipe a run belongs to."""

from __future__ import annotations

import pytest

from rlscaling import Run
from rlscaling.decide.seeds import final_reward
from rlscaling.io.checks import InputError
from rlscaling.io.runs import recipe_of


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


def test_recipe_of_reads_group_by_then_recipe_then_name():
    assert recipe_of({"recipe": "cispo", "arm": 2}, "r1") == "cispo"
    assert recipe_of({"recipe": "cispo", "arm": 2}, "r1", group_by="arm") == "2"
    assert recipe_of({}, "r1") == "r1"
    assert recipe_of({"recipe": None}, "r1") == "r1"  # an unset recipe is no recipe
    assert recipe_of({}, "r1", fallback=False) is None
    run = Run([1, 2], [0.1, 0.2], name="r2", metadata={"recipe": 7})
    assert run.recipe_key() == "7"
    assert run.recipe_key(fallback=False) == "7"
    with pytest.raises(InputError, match=r"group_by='arm': run 'r2' has no metadata\['arm'\]"):
        run.recipe_key("arm")


def test_every_decision_groups_runs_by_the_same_recipe():
    """seed_spread, compare and the backtest's recipe column pool the same runs."""
    from rlscaling.decide.backtest import backtest
    from rlscaling.decide.compare import _group
    from rlscaling.decide.seeds import seed_spread

    runs = [
        Run(
            [1, 2, 3, 4, 5, 6],
            [0.1, 0.2, 0.3, 0.4, 0.45, 0.5 + 0.01 * i],
            name=f"r{i}",
            metadata={"recipe": "ab"[i % 2], "arm": i // 2},
        )
        for i in range(4)
    ]
    assert {k: [r.name for r in v] for k, v in _group(runs, None).items()} == {
        "a": ["r0", "r2"],
        "b": ["r1", "r3"],
    }
    assert list(seed_spread(runs).table.index) == ["a", "b"]
    assert list(seed_spread(runs, group_by="arm").table.index) == ["0", "1"]
    # Per recipe, the seeds' final rewards (mean of last 3): a = 0.455, 0.4617; sd by hand.
    a = [(0.4 + 0.45 + 0.50) / 3, (0.4 + 0.45 + 0.52) / 3]
    assert seed_spread(runs).table.loc["a", "final_mean"] == pytest.approx(sum(a) / 2)
    bt = backtest(runs, fractions=(0.5,), progress=False, n_samples=50, method="plateau")
    assert sorted(bt.frame["recipe"].unique()) == ["a", "b"]


def test_every_decision_takes_a_table_of_runs_as_it_takes_the_runs():
    """backtest, seed_spread and early_fit_report read a DataFrame of runs (a run column, a
    recipe column) as compare does; what is not runs is refused saying what is expected."""
    import pandas as pd

    from rlscaling.decide.backtest import backtest
    from rlscaling.decide.report import early_fit_report
    from rlscaling.decide.seeds import seed_spread

    runs = [
        Run(
            [1, 2, 3, 4, 5, 6, 7, 8],
            [0.1, 0.2, 0.3, 0.4, 0.45, 0.48, 0.5, 0.5 + 0.01 * i],
            name=f"r{i}",
            metadata={"recipe": "ab"[i % 2]},
        )
        for i in range(4)
    ]
    table = pd.concat([r.to_frame().assign(run=r.name, recipe=r.metadata["recipe"]) for r in runs])
    pd.testing.assert_frame_equal(seed_spread(table).table, seed_spread(runs).table)
    kw = {"fractions": (0.5,), "progress": False, "n_samples": 50, "method": "plateau"}
    # the table's runs come recipe by recipe
    got = backtest(table, **kw).frame.sort_values(["run", "method"], ignore_index=True)
    want = backtest(runs, **kw).frame.sort_values(["run", "method"], ignore_index=True)
    assert got["run"].tolist() == want["run"].tolist()
    assert got["recipe"].tolist() == want["recipe"].tolist()
    assert got["abs_error"].to_numpy() == pytest.approx(want["abs_error"].to_numpy(), nan_ok=True)
    rep = early_fit_report(table, fractions=(0.5,), n_samples=50, n_boot=50, progress=False)
    assert sorted(rep.per_run["recipe"].unique()) == ["a", "b"]
    for call in (backtest, seed_spread, early_fit_report):
        with pytest.raises(InputError, match=r"runs='runs/\*.csv' is a path: .*load_runs\(path\)"):
            call("runs/*.csv")
        with pytest.raises(InputError, match=r"Runs or a DataFrame of runs .* item of type int"):
            call([1, 2])
