"""The bundled calibration runs do what they are for: ceilings below 1 that depend on the recipe.

Measured with the library's own fit on the real trainer runs shipped in the package
(``rlscaling.io.datasets.calibration_runs``), and the early-fit report's numbers checked by hand
on the same runs.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from rlscaling import fit_sigmoid
from rlscaling.decide.report import early_fit_report
from rlscaling.io.datasets import calibration_runs, sorting_runs


@pytest.fixture(scope="module")
def runs():
    return calibration_runs()


@pytest.fixture(scope="module")
def table(runs):
    rows = []
    for r in runs:
        f = fit_sigmoid(r, warn=False)
        rows.append(
            {
                "recipe": r.metadata["recipe"],
                "seed": r.metadata["seed"],
                "A": f.A,
                "identified": f.identified,
                "final": r.last_mean(3),
            }
        )
    return pd.DataFrame(rows)


def test_the_sweep_has_at_least_four_recipes_with_three_seeds_each(table):
    counts = table.groupby("recipe")["seed"].nunique()
    assert len(counts) >= 4 and (counts >= 3).all(), counts


def test_the_asymptote_is_identified_in_at_least_two_thirds_of_the_runs(table):
    assert table["identified"].sum() >= 2 / 3 * len(table), table


def test_every_recipes_ceiling_is_below_0_9(table):
    assert (table.groupby("recipe")["A"].mean() <= 0.9).all(), table


def test_a_pair_of_recipes_differs_in_A_by_more_than_twice_the_seed_sd(table):
    g = table.groupby("recipe")["A"]
    pooled_sd = float(np.sqrt(g.var(ddof=1).mean()))
    means = g.mean()
    gaps = np.abs(means.to_numpy()[:, None] - means.to_numpy()[None, :])
    assert gaps.max() > 2 * pooled_sd, (means, pooled_sd)


@pytest.fixture(scope="module")
def report(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return early_fit_report(runs, fractions=(0.5,), n_samples=300, n_boot=100, progress=False)


def test_report_fits_are_the_librarys_own(report, table):
    per_run = report.per_run.set_index(["recipe", "seed"]).sort_index()
    mine = table.set_index(["recipe", "seed"]).sort_index()
    assert np.allclose(per_run["A"], mine["A"], rtol=1e-6)
    assert (per_run["identified"].astype(bool) == mine["identified"]).all()


def test_report_says_whether_the_final_ranking_is_predicted_from_half(report, table):
    rk = report.backtest.ranking
    row = rk[(rk["fraction"] == 0.5) & (rk["method"] == report.backtest.forecast_method)].iloc[0]
    # The final order by hand: each recipe's mean over seeds of its last three evaluations.
    true_order = " > ".join(table.groupby("recipe")["final"].mean().sort_values()[::-1].index)
    assert row["true_order"] == true_order
    # The forecast order by hand: each recipe's mean forecast from half of each run.
    fr = report.backtest.frame
    fr = fr[(fr["fraction"] == 0.5) & (fr["method"] == report.backtest.forecast_method)]
    pred = fr[~fr["refused"]].groupby("recipe")["prediction"].mean().sort_values()[::-1]
    assert row["predicted_order"] == " > ".join(pred.index)
    said = "predicted" if row["predicted_order"] == true_order else "NOT predicted"
    assert any(v.startswith(f"Final ranking {said} from 50%") for v in report.verdicts())


def test_the_sorting_runs_stay_available_and_end_near_their_ceiling():
    runs = sorting_runs()
    assert len(runs) == 12
    assert all(r.last_mean(3) > 0.9 for r in runs)
