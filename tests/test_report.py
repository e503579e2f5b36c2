"""The early-fit report and the seed spread: numbers, statements, HTML/JSON, a real browser."""

import json
import shutil

import numpy as np
import pytest

from rlscaling import Run, forecast
from rlscaling.decide.report import early_fit_report
from rlscaling.decide.seeds import seed_spread
from rlscaling.io.checks import InputError
from rlscaling.model.simulate import simulate_curve

COMPUTE = np.geomspace(100, 20000, 40)


def _recipe_runs(name, a_values, noise=0.005, b=1.4, c_mid=2000.0):
    return [
        simulate_curve(
            a, b, c_mid, 0.1, compute=COMPUTE, noise=noise, seed=100 * k + len(name),
            name=f"{name}/seed{k}", metadata={"recipe": name, "seed": k},
        )
        for k, a in enumerate(a_values)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def report():
    runs = _recipe_runs("strong", [0.70, 0.70, 0.70]) + _recipe_runs("spready", [0.45, 0.55, 0.65])
    return early_fit_report(runs, fractions=(0.5,), n_samples=300, n_boot=200, progress=False)


def test_full_run_fits_recover_each_seed(report):
    strong = report.per_run[report.per_run["recipe"] == "strong"]
    assert np.allclose(strong["A"], 0.70, atol=0.02)
    spready = report.per_run[report.per_run["recipe"] == "spready"].sort_values("seed")
    assert np.allclose(spready["A"], [0.45, 0.55, 0.65], atol=0.02)
    assert (report.per_run["A_lower"] < report.per_run["A"]).all()
    assert (report.per_run["A"] < report.per_run["A_upper"]).all()


def test_seed_table_flags_seeds_that_disagree_beyond_a_single_runs_interval(report):
    tab = report.seed_table
    assert bool(tab.loc["spready", "seed_wider"]) is True
    assert tab.loc["spready", "A_seed_sd"] == pytest.approx(0.1, abs=0.02)
    assert bool(tab.loc["strong", "seed_wider"]) is False
    assert any("Seeds disagree" in v and "spready" in v for v in report.verdicts())


def test_comparison_ranks_recipes_and_backtest_has_baselines(report):
    pairs = report.comparison.pairwise
    row = pairs.iloc[0]
    p_strong = row["P_A"] if row["recipe_i"] == "strong" else 1 - row["P_A"]
    assert p_strong > 0.9
    methods = set(report.backtest.frame["method"])
    assert {"carry_last", "forecast[auto]"} <= methods
    assert any("carry-last" in v and "smoothed level" in v for v in report.verdicts())


def test_write_gives_self_contained_html_and_json(report, tmp_path):
    paths = report.write(tmp_path / "rep")
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 2  # one figure per recipe
    assert "http://" not in html and "https://" not in html  # nothing fetched from outside
    doc = json.loads(paths["json"].read_text())
    assert doc["n_runs"] == 6 and set(doc["recipes"]) == {"strong", "spready"}
    assert doc["seed_spread"]["dof"] == 4
    assert paths["figure:strong"].stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_report_renders_in_headless_chromium_with_its_figures(report, tmp_path):
    from matplotlib.image import imread

    from rlscaling.decide.report_html import screenshot

    paths = report.write(tmp_path / "rep")
    png = screenshot(paths["html"], tmp_path / "shot.png", height=3000)
    img = imread(png)[..., :3]
    # Matplotlib's first colour (31, 119, 180) is drawn only inside the embedded figures, so
    # finding many such pixels shows the browser decoded and laid out the images.
    c0 = np.array([31, 119, 180]) / 255
    near = np.all(np.abs(img - c0) < 0.06, axis=-1)
    assert near.sum() > 500
    assert (img.mean(axis=-1) < 0.5).mean() > 0.005  # text and axes are drawn


def test_seed_spread_by_hand_and_inflation_widens_forecasts():
    runs = _recipe_runs("a", [0.5, 0.6, 0.7]) + _recipe_runs("b", [0.4, 0.4])
    sp = seed_spread(runs, target="last")
    finals = {r.name: r.reward[-1] for r in runs}
    va = np.array([finals[f"a/seed{k}"] for k in range(3)])
    vb = np.array([finals[f"b/seed{k}"] for k in range(2)])
    pooled = np.sqrt((((va - va.mean()) ** 2).sum() + ((vb - vb.mean()) ** 2).sum()) / 3)
    assert sp.sd == pytest.approx(pooled) and sp.dof == 3
    fc = forecast(runs[0].truncate(0.5), budget=20000, n_samples=500)
    wide = sp.inflate(fc)
    w0 = np.subtract(*fc.interval(0.9)[::-1])[0]
    w1 = np.subtract(*wide.interval(0.9)[::-1])[0]
    assert w1 > w0 and any("between-seed" in n for n in wide.notes)


def test_seed_spread_refuses_what_it_cannot_estimate():
    runs = _recipe_runs("a", [0.5])
    with pytest.raises(InputError, match="two or more seeds"):
        seed_spread(runs)
    with pytest.raises(InputError, match="metadata"):
        seed_spread([Run([1, 2, 3], [0.1, 0.2, 0.3], name="x")])
    with pytest.raises(InputError, match="sd must be"):
        forecast(runs[0].truncate(0.5), n_samples=100).with_spread(float("nan"))
    with pytest.raises(InputError, match="runs is empty"):
        early_fit_report([])


def test_report_says_when_recipes_differ_by_less_than_seed_noise(report):
    # The fixture's recipes end 0.15 apart with a between-seed sd near 0.07: rankable.
    assert not any("no ranking" in v for v in report.verdicts())
    same = _recipe_runs("x", [0.60, 0.66, 0.63], noise=0.01) + _recipe_runs(
        "y", [0.62, 0.65, 0.61], noise=0.01
    )
    rep = early_fit_report(same, fractions=(0.5,), n_samples=200, n_boot=100, progress=False)
    assert any("no ranking of these recipes" in v for v in rep.verdicts())


def test_accuracy_is_stated_relative_to_each_runs_range(report, tmp_path):
    tab = report.accuracy_table()
    assert {"median_rel_error", "rel_width_0.9"} <= set(tab.columns)
    assert any("of the run's reward range" in v for v in report.verdicts())
    html = report.write(tmp_path / "rep")["html"].read_text()
    assert "median error / range" in html and "median_abs_error" not in html


def test_per_run_identified_is_the_fits_own_flag(report):
    from rlscaling import fit_sigmoid

    for run in report.runs:
        row = report.per_run[report.per_run["run"] == run.name].iloc[0]
        assert bool(row["identified"]) == fit_sigmoid(run, warn=False).identified


def test_report_figures_have_captions_and_pairs_name_their_compute(report, tmp_path):
    html = report.write(tmp_path / "rep")["html"].read_text()
    assert html.count("<figcaption>") == 2
    assert "forecast of the final reward and its 90% interval" in html
    assert f"P_reward at {report.comparison.budget:.3g}" in html


def test_a_comparison_handed_to_the_report_is_used_not_made_again():
    """The demo compares the recipes and hands that comparison to the report: the report's
    numbers are the same as when it compares them itself, and no second comparison is made."""
    import pandas as pd

    from rlscaling import compare, example_curves
    from rlscaling.decide.report import early_fit_report
    from rlscaling.io.checks import InputError

    runs = example_curves()[:2]
    kw = {"fractions": (0.5,), "n_samples": 100, "n_boot": 100, "progress": False}
    own = early_fit_report(runs, **kw)
    budget = float(max(r.compute.max() for r in runs))
    cmp = compare(runs, level=0.9, n=200, seed=0, budget=budget)
    given = early_fit_report(runs, comparison=cmp, **kw)
    assert given.comparison is cmp
    pd.testing.assert_frame_equal(given.to_frame(), own.to_frame())
    pd.testing.assert_frame_equal(given.comparison.pairwise, own.comparison.pairwise)
    with pytest.raises(InputError, match=r"at level 0\.8"):
        early_fit_report(runs, comparison=compare(runs, level=0.8, n=200), **kw)
    with pytest.raises(InputError, match="recipes of runs"):
        early_fit_report(example_curves(), comparison=cmp, **kw)


def test_report_progress_false_silences_the_comparisons_bar(monkeypatch):
    """progress=False reached the backtest and the full fits but not compare, whose bar showed
    on a terminal."""
    import io
    import sys

    from rlscaling import example_curves

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    rep = early_fit_report(
        example_curves()[:2], fractions=(0.5,), n_samples=50, n_boot=50, progress=False
    )
    assert rep.comparison is not None
    assert "compare" not in err.getvalue()


def test_a_run_that_cannot_be_fitted_is_left_out_of_the_comparison_not_fatal(tmp_path):
    """A learning rate whose run collapsed to 0 (constant reward) made compare raise, and the
    whole report with it."""
    runs = _recipe_runs("a", [0.6, 0.62]) + _recipe_runs("b", [0.5, 0.52])
    dead = Run(COMPUTE, np.zeros(COMPUTE.size), name="dead", metadata={"recipe": "dead"})
    rep = early_fit_report(
        [*runs, dead], fractions=(0.5,), n_samples=100, n_boot=50, progress=False
    )
    assert set(rep.comparison.recipes) == {"a", "b"}
    assert any("left out of the comparison" in n and "dead" in n for n in rep.notes)
    assert "error" in rep.per_run and rep.per_run.set_index("run").loc["dead", "error"]
    html = rep.write(tmp_path / "rep")["html"].read_text()
    assert "left out of the comparison" in html


def test_one_recipe_report_answers_interval_and_says_when_nothing_was_forecast():
    """With one recipe, interval() defaulted to kind='curve', which the backtest refuses; a
    run with nothing to observe gave "median error nan% ... (xnan)"."""
    from rlscaling import example_curves

    rep = early_fit_report(
        example_curves()[:1], fractions=(0.5,), n_samples=100, n_boot=50, progress=False
    )
    lo, hi = rep.interval(0.9)
    assert len(lo) == len(rep.to_frame()) and np.nanmin(hi - lo) > 0
    three = Run([10.0, 20.0, 40.0], [0.1, 0.2, 0.3], name="three")
    rep = early_fit_report([three], fractions=(0.5,), n_samples=100, n_boot=50, progress=False)
    first = rep.verdicts()[0]
    assert "no forecast; it refused the run" in first and "nan" not in first


def test_verdicts_compare_with_carry_last_on_the_runs_the_forecast_answered():
    c = np.geomspace(100, 20000, 30)
    runs = [
        simulate_curve(0.6, 1.5, 2000, 0.1, compute=c, noise=0.005, seed=1, name="long"),
        Run([8000, 12000, 15000, 18000, 20000], [0.1, 0.5, 0.6, 0.6, 0.6], name="short"),
    ]
    rep = early_fit_report(runs, fractions=(0.5,), n_samples=100, n_boot=50, progress=False)
    _ours, naive, n = rep.backtest.versus(0.5, "carry_last")
    assert n == 1
    first = rep.verdicts()[0]
    assert f"vs carry-last {naive:.1%}" in first
    assert "on the 1 run that both answered; the forecast refused 1 of 2" in first


def test_html_names_the_fractions_observed_and_why_methods_refused(report, tmp_path):
    """The page said "cut at 25/50/75%" whatever fractions the report used."""
    html = report.write(tmp_path / "rep")["html"].read_text()
    assert "cut at 50% of its compute" in html and "25/50/75" not in html
    assert "smoothed level" in html


def test_figure_shows_as_seen_only_what_the_backtest_observed():
    """At 90% of compute the figure drew the target's evaluations as seen (and fitted them)."""
    runs = _recipe_runs("a", [0.6])
    rep = early_fit_report(runs, fractions=(0.9,), n_samples=100, n_boot=50, progress=False)
    fig = rep.recipe_figure("a")
    seen = fig.axes[0].collections[0].get_offsets()
    row = rep.backtest.frame.query("method == 'forecast[auto]'").iloc[0]
    assert len(seen) == row["n_observed"] == COMPUTE.size - 3
    assert seen[:, 0].max() == pytest.approx(row["observed_compute"])
