"""Every result type answers the result protocol (``rlscaling.protocol``) the same way.

One suite, run on each result type (as every registered loss of the trainer passes one suite):
``to_frame()`` has a row per quantity, ``interval(level)`` gives ``(lower, upper)`` aligned with
those rows and nested across levels, ``prob_at_least(reward, at=...)`` is a probability that
falls as the reward rises, ``to_dict()`` survives JSON, ``summary()`` is text and
``plot(ax=None)`` returns the Axes it drew on (the one given, when given).
"""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from rlscaling import (
    InputError,
    backtest,
    compare,
    compute_to_reach,
    fit_sigmoid,
    forecast,
    load_example,
)
from rlscaling.decide.report import early_fit_report
from rlscaling.decide.seeds import seed_spread
from rlscaling.io.datasets import calibration_runs, example_curves
from rlscaling.protocol import Result


@pytest.fixture(scope="module")
def fit():
    return fit_sigmoid(load_example("scalerl_like"), warn=False)


@pytest.fixture(scope="module")
def runs():
    # two recipes x three seeds of real trainer runs: enough for seeds, compare and backtest
    return [r for r in calibration_runs() if r.metadata.get("recipe") in ("scalerl", "grpo")]


@pytest.fixture(scope="module")
def results(fit, runs):
    made = {
        "SigmoidFit": fit,
        "BootstrapResult": fit.bootstrap(100, method="block", seed=0),
        "MCMCResult": fit.mcmc(n_steps=300, extend=False, seed=0, warn=False),
        "Comparison": compare(example_curves()[:3], n=100, seed=0),
        "BacktestResult": backtest(
            runs[:2], fractions=(0.5,), levels=(0.8, 0.9), n_samples=200, seed=0
        ),
        "SeedSpread": seed_spread(runs),
        "EarlyFitReport": early_fit_report(
            runs, fractions=(0.5,), n_samples=200, n_boot=50, seed=0, progress=False
        ),
        "Forecast": forecast(load_example("scalerl_like").truncate(0.5), n_samples=300, seed=0),
        "TargetForecast": compute_to_reach(
            load_example("scalerl_like").truncate(0.5), 0.55, n_samples=300, seed=0
        ),
    }
    return made


ALL = [
    "SigmoidFit",
    "BootstrapResult",
    "MCMCResult",
    "Comparison",
    "BacktestResult",
    "SeedSpread",
    "EarlyFitReport",
    "Forecast",
    "TargetForecast",
]
WITH_PROB = ALL
CHECKS_KIND = ALL
# A backtest scores forecasts against what happened: it holds no distribution of the reward.
NO_DISTRIBUTION = {"BacktestResult"}


@pytest.mark.parametrize("name", ALL)
def test_is_a_result(results, name):
    assert isinstance(results[name], Result)


@pytest.mark.parametrize("name", ALL)
def test_to_frame_has_a_row_per_quantity(results, name):
    frame = results[name].to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) >= 1


@pytest.mark.parametrize("name", ALL)
def test_interval_is_aligned_with_the_frame_and_nested_across_levels(results, name):
    res = results[name]
    n_rows = len(res.to_frame())
    lo8, hi8 = (np.asarray(v, dtype=float) for v in res.interval(0.8))
    lo9, hi9 = (np.asarray(v, dtype=float) for v in res.interval(0.9))
    assert lo9.shape == hi9.shape == (n_rows,)
    # an end may be infinite (compute to reach: draws that never reach the target); NaN marks
    # a row with no interval (a refused backtest case)
    ok = ~np.isnan(lo9) & ~np.isnan(hi9) & (np.isfinite(lo9) | np.isfinite(hi9))
    assert ok.any()
    assert np.all(lo9[ok] <= hi9[ok])
    # a wider level never gives a narrower interval
    assert np.all(lo9[ok] <= lo8[ok] + 1e-12) and np.all(hi8[ok] <= hi9[ok] + 1e-12)


@pytest.mark.parametrize("name", ALL)
def test_interval_refuses_a_level_outside_0_1(results, name):
    with pytest.raises(InputError, match="level"):
        results[name].interval(1.5)


@pytest.mark.parametrize("name", CHECKS_KIND)
def test_interval_refuses_an_unknown_kind(results, name):
    with pytest.raises(InputError, match="kind"):
        results[name].interval(0.9, kind="posterior")


@pytest.mark.parametrize("name", WITH_PROB)
def test_prob_at_least_is_a_probability_falling_with_the_reward(results, name):
    res = results[name]
    if name in NO_DISTRIBUTION:
        with pytest.raises(TypeError, match="no distribution"):
            res.prob_at_least(0.5)
        return
    low, high = res.prob_at_least(-1e9), res.prob_at_least(1e9)
    for p in (low, high):
        values = np.atleast_1d(np.asarray(p, dtype=float))
        assert np.all((values >= 0) & (values <= 1))
    assert np.all(np.asarray(low, dtype=float) > 1 - 1e-9)
    assert np.all(np.asarray(high, dtype=float) < 1e-9)
    mid = np.asarray(res.prob_at_least(0.4), dtype=float)
    assert np.all(mid <= np.asarray(res.prob_at_least(0.3), dtype=float) + 1e-12)


@pytest.mark.parametrize("name", ["SigmoidFit", "BootstrapResult", "MCMCResult", "Comparison"])
def test_prob_at_least_reads_the_reward_at_the_compute_given(results, name):
    res = results[name]
    # Rewards rise with compute on these curves, so a mid-range reward is likelier later.
    early, late = res.prob_at_least(0.4, at=1.0), res.prob_at_least(0.4, at=1e12)
    assert np.all(np.asarray(early, dtype=float) <= np.asarray(late, dtype=float))


@pytest.mark.parametrize("name", ALL)
def test_to_dict_survives_json(results, name):
    doc = results[name].to_dict()
    assert isinstance(doc, dict)
    json.loads(json.dumps(doc, default=str))


@pytest.mark.parametrize("name", ALL)
def test_summary_is_text(results, name):
    text = results[name].summary()
    assert isinstance(text, str) and text.strip()


@pytest.mark.parametrize("name", ALL)
def test_plot_returns_the_axes_it_drew_on(results, name):
    res = results[name]
    ax = res.plot()
    assert isinstance(ax, matplotlib.axes.Axes)
    plt.close(ax.figure)
    _, given = plt.subplots()
    assert res.plot(ax=given) is given
    plt.close(given.figure)


def test_the_kind_names_mean_one_thing(fit):
    # "observed" adds evaluation noise to the curve's uncertainty: never narrower
    curve = fit.band([1e3, 1e5], kind="curve")
    observed = fit.band([1e3, 1e5], kind="observed")
    assert np.all(observed["upper"] - observed["lower"] >= curve["upper"] - curve["lower"])
    # the name bands used before still reads as "observed"
    old = fit.band([1e3, 1e5], kind="prediction")
    np.testing.assert_allclose(old["upper"], observed["upper"])
    # parameters belong to the curve: asking for their "observed" interval is refused
    with pytest.raises(InputError, match="does not apply"):
        fit.interval(0.9, kind="observed")


def test_the_old_parameter_interval_form_still_answers(fit):
    lo, hi = fit.interval("A", 0.9)
    frame = fit.to_frame(0.9)
    a = list(frame["param"]).index("A") if "param" in frame else list(frame.index).index("A")
    lo_all, hi_all = fit.interval(0.9)
    assert (lo, hi) == (lo_all[a], hi_all[a])


def test_forecasts_read_the_reward_at_the_compute_given():
    run = load_example("scalerl_like").truncate(0.5)
    c_now = float(run.compute.max())
    fc = forecast(run, budget=[2 * c_now, 50 * c_now], n_samples=400, seed=0)
    for j, at in enumerate(fc.budget):  # each budget's own draws answer for it
        assert fc.prob_at_least(0.6, at=at) == np.mean(fc.draws[:, j] >= 0.6)
    assert fc.prob_at_least(0.6, at=2 * c_now) != fc.prob_at_least(0.6, at=50 * c_now)
    assert fc.prob_at_least(0.5, budget=2 * c_now) == fc.prob_at_least(0.5, at=2 * c_now)
    with pytest.raises(InputError, match="not one of the forecast's budgets"):
        fc.prob_at_least(0.5, at=3 * c_now)
    # "curve" has no evaluation noise: never a wider interval than "observed"
    lo_c, hi_c = fc.interval(0.9, kind="curve")
    lo_o, hi_o = fc.interval(0.9, kind="observed")
    assert np.all(hi_c - lo_c <= hi_o - lo_o + 1e-12)
    tf = compute_to_reach(run, 0.55, n_samples=400, seed=0)
    # P(reward >= target by C) is the share of draws that reached the target by C
    c_mid = tf.median()
    assert np.isfinite(c_mid)
    p = tf.prob_at_least(0.55, at=c_mid)
    assert p == pytest.approx(np.mean(tf.compute <= c_mid), abs=0.02)
    with pytest.raises(InputError, match="does not apply"):
        tf.interval(0.9, kind="observed")
