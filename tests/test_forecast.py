import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rlscaling import (
    ForecastWarning,
    Run,
    compute_to_reach,
    example_curves,
    fit_sigmoid,
    forecast,
    load_example,
    sigmoid,
)
from rlscaling.forecasting.ensemble import horizon_multiplier
from rlscaling.forecasting.prior import (
    ForecastPrior,
    corpus_cases,
    default_forecast_config,
    fit_prior,
)
from rlscaling.io.checks import InputError
from rlscaling.model.simulate import simulate_curve

C = np.geomspace(100, 1e4, 30)


def test_forecast_of_half_a_sigmoid_run_covers_its_end():
    run = load_example("scalerl_like")
    truth = run.reward[-3:].mean()
    c_t = float(np.exp(np.log(run.compute[-3:]).mean()))
    fc = forecast(run.truncate(0.5), budget=c_t)
    assert abs(fc.median[0] - truth) < 0.02
    lo, hi = fc.interval(0.9)
    assert lo[0] <= truth <= hi[0]
    assert set(fc.weights) == {"sigmoid", "plateau"}
    assert abs(sum(fc.weights.values()) - 1) < 1e-9


def test_forecast_is_reproducible_and_intervals_nest():
    run = load_example("moe_like").truncate(0.4)
    f1 = forecast(run, budget=[1e4, 2e4], seed=3)
    f2 = forecast(run, budget=[1e4, 2e4], seed=3)
    np.testing.assert_array_equal(f1.draws, f2.draws)
    lo8, hi8 = f1.interval(0.8)
    lo9, hi9 = f1.interval(0.9)
    assert np.all(lo9 <= lo8) and np.all(hi8 <= hi9)
    clo, chi = f1.interval(0.9, kind="curve")
    assert np.all(chi - clo <= 1.02 * (hi9 - lo9))  # a new evaluation adds its own noise


def test_flat_run_forecasts_its_level_with_noise_sized_interval():
    rng = np.random.default_rng(0)
    y = 0.45 + rng.normal(0, 0.01, C.size)
    fc = forecast(Run(C, y), budget=4e4)
    assert abs(fc.median[0] - 0.45) < 0.015
    lo, hi = fc.interval(0.8)
    assert 0.01 < hi[0] - lo[0] < 0.15


def test_declining_run_is_flagged_and_not_extrapolated_upward():
    y = sigmoid(C, 0.6, 3.0, 500.0, 0.1) - 0.15 * (C > 2000) * np.log(C / 2000) / np.log(5)
    y = y + np.random.default_rng(1).normal(0, 0.005, C.size)
    with pytest.warns(ForecastWarning, match="declined"):
        fc = forecast(Run(C, y), budget=3e4)
    assert fc.weights["sigmoid"] <= 0.1
    assert fc.median[0] < y.max()


def test_prob_at_least_is_monotone():
    fc = forecast(load_example("scalerl_like").truncate(0.5), budget=16000)
    p = [fc.prob_at_least(r) for r in (0.5, 0.58, 0.6, 0.62, 0.7)]
    assert p == sorted(p, reverse=True)
    assert p[0] > 0.95 and p[-1] < 0.05


def test_compute_to_reach_target_cases():
    run = simulate_curve(0.6, 2.0, 1000.0, 0.1, compute=C, noise=0.005, seed=2)
    part = run.truncate(0.3)
    reach = compute_to_reach(part, fraction_of_asymptote=0.9)
    assert np.isfinite(reach.median())
    above = compute_to_reach(part, 0.95)
    assert above.prob_unreachable > 0.5 and "never" in above.summary()
    assert compute_to_reach(part, 0.05).already_reached
    with pytest.raises(InputError, match="exactly one"):
        compute_to_reach(part)


def test_a_target_reached_inside_the_run_says_where_and_how_sure():
    # The search starts at the observed compute, so a target the run passed mid-way came out
    # as "median 20000, 90% [20000, 20000]" (the end of the run), and a target near the
    # current level as "already reached" beside P(unreachable) = 0.32.
    c = np.geomspace(100, 2e4, 30)
    y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + np.random.default_rng(0).normal(0, 0.01, 30)
    fit = fit_sigmoid(c, y, warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mid = compute_to_reach(c, 0.55, reward=y)
        edge = compute_to_reach(c, 0.58, reward=y)
    assert mid.already_reached and mid.prob_reached_now > 0.9
    assert mid.crossed_at == pytest.approx(fit.compute_to_reach(0.55), rel=0.05)
    assert f"crossed it at compute {mid.crossed_at:.4g}" in mid.summary()
    # near the current level: a probability, and the draws that never get there are told
    assert 0.5 <= edge.prob_reached_now < 0.9
    assert edge.prob_reached_now + edge.prob_unreachable <= 1.0
    assert f"P = {edge.prob_reached_now:.0%}" in edge.summary()
    assert f"{edge.prob_unreachable:.0%} of draws" in edge.summary()
    row = mid.to_frame().iloc[0]
    assert row["crossed_at"] == pytest.approx(mid.crossed_at)
    assert mid.to_dict()["prob_reached_now"] == mid.prob_reached_now
    # the sigmoid's own draws know where their point fit crossed too (it was always None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sig = compute_to_reach(c, 0.55, reward=y, method="sigmoid", n_samples=200)
    assert sig.crossed_at == pytest.approx(fit.compute_to_reach(0.55), rel=0.05)


def test_plateau_method_interval_is_floored_and_labelled_uncalibrated():
    # More than half of the differences are 0 (a run sitting at 0 with a few blips): the MAD
    # noise is 0 and method="plateau" gave an interval of zero width.
    c = np.arange(1.0, 21.0) * 10
    y = np.zeros(20)
    y[[3, 9, 15]] = [0.02, 0.03, 0.02]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(c, reward=y, budget=400.0, method="plateau")
    lo, hi = fc.interval(0.8)
    assert hi[0] - lo[0] > 0.001
    assert "not calibrated" in fc.summary()


def test_bad_forecast_input():
    run = load_example("scalerl_like")
    with pytest.raises(InputError, match="budget"):
        forecast(run, budget=-1.0)
    with pytest.raises(InputError, match="budget is empty"):
        forecast(run, budget=[])
    with pytest.raises(InputError, match="level"):
        forecast(run, budget=1e5, levels=(1.5,))
    with pytest.raises(InputError, match="method"):
        forecast(run, budget=1e5, method="magic")
    with pytest.raises(InputError, match="at least 2"):
        forecast(Run([1.0], [0.1]), budget=10)
    with pytest.raises(InputError, match="at least 4"):
        forecast(Run([1, 2, 3], [0.1, 0.2, 0.3]), budget=10, method="sigmoid")


@pytest.mark.parametrize("method", ["auto", "sigmoid"])
def test_a_percentage_with_its_range_is_forecast_as_the_pass_rate_it_is(method):
    run = load_example("scalerl_like").truncate(0.5)
    x_now = float(run.compute.max())
    budgets = [1.5 * x_now, 3 * x_now]
    kw = dict(budget=budgets, method=method, n_samples=400, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frac = forecast(run.compute, reward=run.reward, **kw)
        pct = forecast(run.compute, reward=100 * run.reward, reward_range=(0, 100), **kw)
        auto = forecast(run.compute, reward=100 * run.reward, **kw)
        as_score = forecast(run.compute, reward=100 * run.reward, reward_range=None, **kw)
    for fc in (pct, auto):
        np.testing.assert_allclose(fc.median, 100 * frac.median, rtol=1e-6)
        np.testing.assert_allclose(fc.draws, 100 * frac.draws, rtol=1e-6, atol=1e-6)
        for lv in (0.8, 0.9):
            np.testing.assert_allclose(
                fc.interval(lv), 100 * np.asarray(frac.interval(lv)), rtol=1e-6
            )
        assert fc.kind == frac.kind
        assert fc.draws.max() <= 100
    # by default the data decided, and the forecast says so and how to undo it
    assert any("read as a percentage" in n and "reward_range=None" in n for n in auto.notes)
    # reward_range=None: an open-ended score, as asked, without a hint
    if method == "auto":  # the settings learned on scores, not on pass rates
        assert as_score.kind.startswith("score")
        assert not np.allclose(as_score.median, auto.median, rtol=1e-6)
    assert not any("reward_range" in n for n in pct.notes + frac.notes + as_score.notes)


@pytest.mark.parametrize(
    ("scale", "read_as_percent"),
    [
        (1.0, False),  # a pass rate
        (10.0, False),  # a 0-10 grade (its largest value, 5.8, is not above 10)
        (100.0, True),  # a percentage
    ],
)
def test_auto_reward_range_reads_a_percentage_but_not_a_grade(scale, read_as_percent):
    run = load_example("scalerl_like").truncate(0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(run.compute, reward=scale * run.reward, budget=3e4, n_samples=200)
    assert any("read as a percentage" in n for n in fc.notes) == read_as_percent
    assert fc.kind.startswith("pass_rate") == (scale != 10.0)
    if scale == 10.0:  # a score in [0, 100] that never passed 10: a note on how to say so
        assert any("reward_range=(0, 100)" in n for n in fc.notes)


@settings(max_examples=60, deadline=None)
@given(y=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=30))
def test_looks_like_percent_is_the_documented_rule(y):
    from rlscaling.io.checks import looks_like_percent

    a = np.asarray(y)
    expected = bool(a.min() >= 0 and a.max() <= 100 and a.max() > 10)
    assert looks_like_percent(a) == expected


def test_compute_to_reach_reads_the_target_in_the_rewards_own_units():
    run = load_example("scalerl_like").truncate(0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frac = compute_to_reach(run, 0.6, n_samples=300)
        pct = compute_to_reach(
            run.compute, 60.0, reward=100 * run.reward, reward_range=(0, 100), n_samples=300
        )
        frac_a = compute_to_reach(run, fraction_of_asymptote=0.9, n_samples=300)
        pct_a = compute_to_reach(
            run.compute,
            reward=100 * run.reward,
            fraction_of_asymptote=0.9,
            reward_range=(0, 100),
            n_samples=300,
        )
    np.testing.assert_allclose(pct.compute, frac.compute)
    assert pct.prob_unreachable == frac.prob_unreachable
    # the point fit's asymptote and start are mapped back to percent
    assert pct_a.target == pytest.approx(100 * frac_a.target, rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    lo=st.floats(-50, 50, allow_nan=False),
    width=st.floats(0.01, 1e3, allow_nan=False),
)
def test_reward_range_is_an_affine_map(lo, width):
    run = load_example("scalerl_like").truncate(0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit = forecast(run, budget=2e4, n_samples=100)
        mapped = forecast(
            run.compute,
            reward=lo + width * run.reward,
            budget=2e4,
            n_samples=100,
            reward_range=(lo, lo + width),
        )
    assert mapped.median[0] == pytest.approx(lo + width * unit.median[0], rel=1e-7, abs=1e-9)
    lo_m, hi_m = mapped.interval(0.9)
    assert lo <= lo_m[0] <= hi_m[0] <= lo + width


@pytest.mark.parametrize(
    ("reward_range", "match"),
    [
        ((0,), "two numbers"),
        ("0-100", "'auto', None or two numbers"),
        ((100, 0), "lowest < highest"),
        ((0, np.inf), "finite"),
        ((0, 50), r"does not hold 2 observed reward\(s\), e.g. reward\[4\] = 60"),
    ],
)
def test_bad_reward_range_is_refused_with_what_is_wrong(reward_range, match):
    y = [10.0, 20.0, 30.0, 45.0, 60.0, 70.0]
    with pytest.raises(InputError, match=match):
        forecast([1, 2, 4, 8, 16, 32], reward=y, reward_range=reward_range)


def test_summary_and_dict():
    fc = forecast(load_example("scalerl_like").truncate(0.5), budget=[16000])
    text = fc.summary()
    assert "80%" in text and "weights" in text
    d = fc.to_dict()
    assert d["forecast"][0]["budget"] == 16000
    assert fc.plot().get_xscale() == "log"


def test_plot_of_many_budgets_is_a_fan_from_the_last_evaluation():
    part = load_example("scalerl_like").truncate(0.5)
    budgets = np.geomspace(part.compute.max() * 1.05, part.compute.max() * 4, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(part, budget=budgets[::-1])  # any order
    ax = fc.plot()
    bands = [c for c in ax.collections if c.get_label().endswith("interval")]
    assert len(bands) == len(fc.levels)
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "forecast (median)")
    xs, ys = line.get_data()
    assert xs[0] == part.compute[-1] and ys[0] == part.reward[-1]
    assert np.all(np.diff(xs) > 0)
    assert ys[1:] == pytest.approx(fc.median[np.argsort(fc.budget)])


def test_fit_prior_learns_a_calibrated_scale():
    runs = [r.truncate(1.0) for r in example_curves()]
    prior = fit_prior(runs, fractions=(0.3, 0.5, 0.7), weight_grid=(0.5, 1.0), strength_grid=(2.0,))
    assert isinstance(prior, ForecastPrior)
    assert prior.interval_scale > 0 and prior.scores["cases"] == 15
    # calibration on its own corpus is close to nominal by construction
    assert abs(prior.scores["coverage_0.8"] - 0.8) <= 0.15
    again = ForecastPrior.from_dict(prior.to_dict())
    assert again == prior


@settings(max_examples=25, deadline=None)
@given(y=arrays(float, 10, elements=st.floats(-3, 3, allow_nan=False, width=64)))
def test_forecast_never_returns_nan(y):
    # any ten finite rewards get a finite forecast: no refusal (a constant run included)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(Run(np.geomspace(1, 100, 10), y), budget=400)
    assert np.all(np.isfinite(fc.draws))


def test_a_constant_run_is_carried_forward_and_says_its_interval_has_no_width():
    run = Run([10.0, 20.0, 30.0, 40.0], [0.0, 0.0, 0.0, 0.0])  # a collapsed pass rate
    with pytest.warns(ForecastWarning, match=r"constant.*zero width"):
        fc = forecast(run, budget=[80.0, 160.0])
    assert np.all(fc.median == 0.0) and np.all(fc.draws == 0.0)
    assert fc.weights == {"sigmoid": 0.0, "plateau": 1.0} and fc.kind == "pass_rate-flat"
    with pytest.raises(InputError, match=r"constant.*method=.auto. carries"):
        forecast(Run(C, np.full(C.size, 0.3)), budget=1e5, method="sigmoid")


def test_pass_rate_forecasts_stay_in_the_unit_interval():
    from rlscaling.model.simulate import simulate_curve

    # A run close to its ceiling of 1 with noisy evaluations: unclipped draws would spill over 1.
    run = simulate_curve(0.99, 1.5, 1000.0, 0.1, compute=np.geomspace(100, 3000, 12), noise=0.03,
                         seed=3)  # fmt: skip
    run = Run(run.compute, np.clip(run.reward, 0, 1), name="near_ceiling")
    fc = forecast(run, budget=[6000.0, 60000.0], n_samples=2000, seed=1)
    assert fc.draws.min() >= 0.0 and fc.draws.max() <= 1.0
    assert np.all(fc.interval(0.9)[1] <= 1.0)
    # A reward outside [0, 1] (e.g. a score) is not clipped.
    score = Run(run.compute, run.reward * 10, name="score")
    assert forecast(score, budget=60000.0, n_samples=2000, seed=1).draws.max() > 9.9


@pytest.mark.parametrize("n", [2, 3, 4])
def test_few_points_give_a_wide_plateau_forecast_with_a_warning(n):
    c = np.array([100.0, 200.0, 300.0, 400.0])[:n]
    y = np.array([0.30, 0.34, 0.31, 0.33])[:n]
    plateau = ForecastPrior(few_point_weight=0.0)
    with pytest.warns(ForecastWarning, match=f"only {n} evaluations"):
        fc = forecast(c, reward=y, budget=1600.0, prior=plateau)
    assert fc.median[0] == pytest.approx(y[-1])  # a plateau at the last value
    lo, hi = fc.interval(0.8)
    assert hi[0] - lo[0] > np.ptp(y)  # wider than anything the run has shown
    # with a learned share of the trend, a rising short run is carried upward, capped
    trend = ForecastPrior(few_point_weight=1.0)
    with pytest.warns(ForecastWarning):
        up = forecast(c[:2], reward=[0.1, 0.3], budget=1e6, prior=trend)
    # capped at the observed range, in log-odds for a pass rate: 0.3 -> expit(2 logit(0.3)
    # - logit(0.1)) = 0.623
    odds = (0.3 / 0.7) ** 2 / (0.1 / 0.9)
    assert up.median[0] == pytest.approx(odds / (1 + odds))
    # no sigmoid is fitted to so few points: the weights say what was mixed
    assert up.weights == {"trend": 1.0, "last value": 0.0}
    with pytest.warns(ForecastWarning):
        assert forecast(c, reward=y, budget=1600.0).median.shape == (1,)  # bundled prior


def test_collapsed_pass_rate_stays_in_bounds_with_a_nonzero_interval():
    # A run that collapsed to exactly 0 (as rfs grpo_plus_clip_ratio_plus_kl/eval_acc does):
    # the forecast used to be -0.0242 with the 80% and 90% intervals [-0.0242, -0.0242].
    c = np.arange(1.0, 9.0) * 50
    for scale in (1.0, 100.0):  # a pass rate, and the same run in percent
        y = np.array([0.156, 0.408, 0, 0, 0, 0, 0, 0]) * scale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = forecast(c, reward=y, budget=500.0, average_of=3)
        assert fc.draws.min() >= 0.0 and fc.median[0] >= 0.0
        for lv in (0.8, 0.9):
            lo, hi = fc.interval(lv)
            assert hi[0] - lo[0] > 0.01 * scale
            assert lo[0] <= 0.0 <= hi[0]  # the run's own level is covered


def test_collapse_after_a_peak_gets_no_chance_of_recovering_past_it():
    # A pass rate that rose to 0.6 and collapsed to ~0 in its last four evaluations. Its
    # recent slope is steep and downward; spread symmetrically it gave an 80% interval of
    # [0, 0.87] and P(reward >= 0.5) = 0.21. The trend term may only go as far as the range
    # lets the run move in the trend's direction: here nowhere.
    rng = np.random.default_rng(5)
    c = np.arange(25, 501, 25.0)
    y = np.clip(0.3 + 0.3 * np.minimum(c, 300) / 300 + rng.normal(0, 0.015, c.size), 0, 1)
    y[-4:] = [0.05, 0.02, 0.01, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(c, reward=y, budget=1500.0)
    assert fc.interval(0.8)[1][0] < 0.2
    assert fc.prob_at_least(0.5) < 0.01
    # the sigmoid gets no weight here: its caveats are not this forecast's
    assert fc.weights["sigmoid"] == 0.0
    assert not any(n.startswith("sigmoid not identified") for n in fc.notes)
    # a gradual decline keeps a two-sided interval: it can still move either way
    y2 = np.clip(0.6 - 0.3 * (c / 500) + rng.normal(0, 0.015, c.size), 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = forecast(c, reward=y2, budget=1500.0).interval(0.8)
    assert lo[0] < y2[-3:].mean() < hi[0]


def test_a_single_evaluation_at_zero_after_a_plateau_is_carried_as_a_collapse():
    # The thinned CS336-style GRPO-No-Clip run: a plateau at ~0.23, then one evaluation at
    # exactly 0 (the run stayed at 0). A smoothed level and the sigmoid read the 0 as noise
    # around the plateau: the forecast was 0.09. With all answers failing GRPO's advantages
    # are 0, so the collapse is carried forward, no sigmoid gain, its 80% interval still
    # reaching above 0.
    c = np.array([15.0, 35, 50, 65, 85, 100, 115, 135, 150])
    y = np.array([0.1631, 0.2275, 0.2324, 0.2148, 0.2363, 0.2402, 0.2188, 0.2334, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(c, reward=y, budget=185.0, average_of=3)
    assert fc.median[0] == 0.0  # half the draws or more sit on the bound: it is the median
    assert fc.weights["sigmoid"] == 0.0
    assert any("collapsed" in n for n in fc.notes)
    lo, hi = fc.interval(0.8)
    assert lo[0] == 0.0 and hi[0] > 0.0
    # not a collapse: a run that has not left 0 yet, and a low, noisy pass rate touching 0
    for start in (
        np.r_[np.zeros(4), 0.002, 0.0, 0.004, 0.0, 0.0],
        np.clip(0.05 + np.random.default_rng(3).normal(0, 0.03, c.size), 0, 1),
    ):
        start[-1] = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            other = forecast(c, reward=start, budget=185.0, average_of=3)
        assert not any("collapsed" in n for n in other.notes)


def test_plateaued_run_forecasts_a_smoothed_level_not_a_gain():
    # Rise then a long noisy plateau: no evidence of further growth. The forecast must not
    # add a gain and must beat carrying the (noisy) last value forward.
    c = np.geomspace(100, 1e4, 16)
    truth = 0.62
    errs, errs_last = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        y = np.minimum(sigmoid(c, truth, 4.0, 150.0, 0.1), truth) + rng.normal(0, 0.02, c.size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = forecast(c, reward=y, budget=4e4, average_of=3)
        assert fc.kind == "pass_rate-flat"
        errs.append(abs(fc.median[0] - truth))
        errs_last.append(abs(y[-1] - truth))
    assert np.mean(errs) < 0.7 * np.mean(errs_last)


def test_stacking_weight_can_say_no_gain():
    from rlscaling.forecasting.ensemble import stacking_weight

    e_pl = np.array([0.001, -0.002, 0.0015])  # the level predicted the run's later points
    e_sig = np.array([0.05, 0.06, 0.04])  # the sigmoid's extrapolated gain overshot
    assert stacking_weight(e_sig, e_pl, prior_w=0.0, strength=2.0) == pytest.approx(0.0, abs=0.05)
    assert stacking_weight(e_sig, e_pl, prior_w=1.0, strength=2.0) < 0.5
    assert stacking_weight(e_pl, e_sig, prior_w=0.0, strength=2.0) > 0.5


def test_lfo_cut_weights_by_horizon_hand_computed():
    from rlscaling.forecasting.ensemble import _horizon_weights

    # cuts 4x shorter and 4x longer than the forecast's horizon weigh exp(-ln(4)/2) = 1/2 of
    # the matching one; scaled to mean 1: [0.75, 1.5, 0.75]
    v = _horizon_weights(np.array([0.1, 0.4, 1.6]), 0.4)
    assert v == pytest.approx([0.75, 1.5, 0.75])
    assert _horizon_weights(np.array([0.2, 0.2]), 0.05) == pytest.approx([1.0, 1.0])


def test_stacking_leans_on_late_cuts_near_the_end_and_early_cuts_far_ahead():
    from rlscaling.forecasting.ensemble import _horizon_weights, auto_components, lfo_errors
    from rlscaling.forecasting.prior import default_forecast_config

    run = load_example("scalerl_like").truncate(0.6)
    cfg = default_forecast_config().for_kind("pass_rate-rising")
    e_sig, _ = lfo_errors(run, cfg)
    x_now = float(run.compute.max())
    ratios = {}
    for name, budget in (("near", 1.1 * x_now), ("far", 20 * x_now)):
        comp = auto_components(run, np.array([budget]), cfg)
        np.testing.assert_array_equal(comp["e_sig"], e_sig)
        ratios[name] = _horizon_weights(comp["h_cut"], float(comp["h"][0]))  # each cut's weight
        assert np.mean(ratios[name]) == pytest.approx(1.0)
    assert e_sig.size >= 3
    # later cuts forecast a shorter horizon: they count more for a near budget, less for a far one
    assert np.all(np.diff(ratios["near"]) > 0)
    assert np.all(np.diff(ratios["far"]) < 0)


def test_auto_draws_have_the_interval_the_prior_calibrates():
    # fit_prior sets interval_scale so that point +- t4 quantile x predictive sd covers; the
    # draws must have that interval, not a narrower one (a sum of two t variables)
    from scipy import stats

    from rlscaling.forecasting.ensemble import (
        auto_components,
        auto_point_sd,
        budget_point_weights,
    )
    from rlscaling.forecasting.prior import resolve_prior

    rng = np.random.default_rng(1)
    run = Run(C, -0.5 + 0.01 * rng.normal(size=C.size))  # noisy plateau: noise dominates
    budget = np.array([1.2e4])
    cfg, _ = resolve_prior(None, run)
    comp = auto_components(run, budget, cfg)
    comp["w"] = budget_point_weights(comp, cfg)
    point, _, obs_sd = auto_point_sd(comp, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(run, budget=budget, n_samples=40000, seed=0)
    for level in (0.8, 0.9):
        lo, hi = fc.interval(level)
        half = stats.t.ppf(0.5 + level / 2, cfg.tail_dof) * obs_sd[0]
        assert (hi[0] - lo[0]) / 2 == pytest.approx(half, rel=0.03)
        assert (hi[0] + lo[0]) / 2 == pytest.approx(point[0], abs=0.02 * half)


def test_auto_draws_do_not_share_one_sampling_error_across_forecasts():
    # every forecast with the default seed draws the same t's: their quantiles must be those
    # of the t distribution, or all intervals are too narrow (or wide) together
    from scipy import stats

    from rlscaling.forecasting.ensemble import _antithetic_t

    for n in (1000, 2000):
        t, _ = _antithetic_t(np.random.default_rng(0), 4.0, n)
        for level in (0.8, 0.9):
            q = np.quantile(t[:, 0], 0.5 + level / 2)
            assert q == pytest.approx(stats.t.ppf(0.5 + level / 2, 4.0), rel=0.02)
        assert np.median(t) == 0.0


def test_smoothed_level_smooths_noise_and_follows_a_step():
    from rlscaling.forecasting.ensemble import smoothed_level

    rng = np.random.default_rng(0)
    noisy = 0.5 + rng.normal(0, 0.05, 40)
    level, alpha = smoothed_level(noisy)
    assert alpha < 0.5 and abs(level - 0.5) < abs(noisy[-1] - 0.5) + 0.01
    step = np.r_[np.zeros(20), np.ones(20)]
    level, alpha = smoothed_level(step)
    assert alpha == 1.0 and level == 1.0
    assert smoothed_level(np.array([0.2, 0.4])) == (0.4, 1.0)


def test_local_level_keeps_up_with_a_rising_run_and_smooths_a_flat_one():
    from rlscaling.forecasting.ensemble import local_level, smoothed_level

    # a noisy pass rate still rising along a line: the exponentially weighted level must pick
    # weight 1 (the last value, with its noise) or lag; the local-linear level does neither
    errs_local, errs_last = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        trend = np.linspace(0.2, 0.6, 30)
        y = trend + rng.normal(0, 0.03, trend.size)
        level, _ = local_level(y)
        errs_local.append(abs(level - trend[-1]))
        errs_last.append(abs(y[-1] - trend[-1]))
    assert np.mean(errs_local) < 0.8 * np.mean(errs_last)
    # on a flat noisy run it is (about) the exponentially weighted level: slope weight 0 is in
    # its grid
    rng = np.random.default_rng(0)
    flat = 0.5 + rng.normal(0, 0.05, 40)
    level, alpha = local_level(flat)
    assert abs(level - 0.5) < abs(flat[-1] - 0.5) and alpha < 0.5
    # hand-computed: on an exact line every weight pair with a slope weight > 0 learns the
    # slope; the best pair's level at the end is the last value
    line = np.arange(10.0)
    assert local_level(line)[0] == pytest.approx(9.0, abs=1e-6)
    assert smoothed_level(line)[0] == 9.0  # weight 1: the last value
    assert local_level(np.array([0.2, 0.4])) == (0.4, 1.0)


def test_curve_kind_reads_the_range_and_the_shape():
    from rlscaling.forecasting.ensemble import curve_kind

    rng = np.random.default_rng(1)
    flat = Run(C, 0.4 + rng.normal(0, 0.02, C.size))
    assert curve_kind(flat) == "pass_rate-flat"
    loss = Run(C, -3.0 - 1.0 / np.log(C))  # a negated loss, still improving, no noise
    assert curve_kind(loss) == "smooth"
    noisy = Run(C, loss.reward + rng.normal(0, 0.01, C.size))
    assert curve_kind(noisy) == "score-rising"
    assert curve_kind(Run(C, 100 * flat.reward)) == "score-flat"


def test_horizon_multiplier_is_linear_in_log_horizon_and_flat_outside():
    from rlscaling.forecasting.ensemble import horizon_multiplier

    cfg = ForecastPrior(horizon_anchors=(0.25, 1.0), horizon_scales=(0.5, 2.0))
    # ln 0.5 lies halfway between ln 0.25 and ln 1
    m = horizon_multiplier(np.array([0.05, 0.25, 0.5, 1.0, 7.0]), cfg)
    assert m == pytest.approx([0.5, 0.5, 1.25, 2.0, 2.0])
    assert horizon_multiplier(np.array([0.3, 3.0]), ForecastPrior()) == pytest.approx([1.0, 1.0])
    for bad in [
        {"horizon_anchors": (1.0, 0.5), "horizon_scales": (1.0, 1.0)},  # not increasing
        {"horizon_anchors": (0.5, 1.0), "horizon_scales": (1.0,)},  # lengths differ
        {"horizon_anchors": (0.5, 1.0), "horizon_scales": (1.0, 0.0)},  # not positive
        {"horizon_anchors": ("a", 1.0), "horizon_scales": (1.0, 1.0)},  # not numbers
        {"horizon_anchors": (0.5, float("nan")), "horizon_scales": (1.0, 1.0)},
    ]:
        with pytest.raises(InputError, match="horizon_anchors"):
            ForecastPrior(**bad)
    again = ForecastPrior.from_dict(cfg.to_dict())
    assert again == cfg and isinstance(again.horizon_anchors, tuple)


def test_the_horizon_multiplier_widens_a_far_forecast_and_narrows_a_near_one():
    run = Run(C, 0.4 + np.random.default_rng(2).normal(0, 0.02, C.size))
    near, far = C[-1] * np.exp(0.25), C[-1] * np.exp(1.4)  # 0.25 and 1.4 e-folds ahead
    flat = ForecastPrior()
    sloped = replace(flat, horizon_anchors=(0.25, 1.4), horizon_scales=(0.5, 2.0))
    width = {
        (name, b): float(np.ptp(forecast(run, budget=b, prior=p, seed=0).interval(0.8)))
        for name, p in (("flat", flat), ("sloped", sloped))
        for b in (near, far)
    }
    assert width["sloped", near] / width["flat", near] == pytest.approx(0.5, rel=0.05)
    assert width["sloped", far] / width["flat", far] == pytest.approx(2.0, rel=0.05)


def test_fit_prior_widens_intervals_for_the_horizons_whose_errors_are_larger():
    """Runs that jump at 40% of their compute: forecasts from 25% miss the jump, those from 50%
    and 75% see it. One scale over all three covers the early ones too rarely and the late
    ones too often; the multipliers per horizon bring each nearer its nominal coverage."""
    from scipy import stats

    from rlscaling.forecasting.prior import _errors_and_z

    rng = np.random.default_rng(5)
    c = np.geomspace(100, 1e4, 24)
    runs = []
    for i in range(36):
        y = 0.5 + rng.normal(0, 0.01, c.size) + np.where(c > 4e3, rng.normal(0, 0.06), 0.0)
        runs.append(Run(c, y, name=f"run{i}", metadata={"source": f"s{i % 6}"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = fit_prior(runs, weight_grid=(0.0, 1.0), strength_grid=(2.0,), progress=False)
    assert len(prior.horizon_anchors) == 3 and np.all(np.diff(prior.horizon_anchors) > 0)
    assert prior.horizon_scales[0] < 0.8 < 1.2 < prior.horizon_scales[-1]

    cases, _ = corpus_cases(runs, (0.25, 0.5, 0.75), ForecastPrior(), progress=False)
    flat = replace(prior, horizon_anchors=(), horizon_scales=())
    q = stats.t.ppf(0.9, prior.tail_dof)  # the 80% interval's half-width in sds
    miss = {}
    for name, cfg in (("one scale", flat), ("by horizon", prior)):
        for f in (0.25, 0.75):
            group = [k for k in cases if k.fraction == f and not k.comp["few"]]
            z = np.abs(_errors_and_z(group, cfg)[1])
            scale = [cfg.for_kind(k.comp["kind"]).interval_scale for k in group]
            h = [float(horizon_multiplier(k.comp["h"], cfg)[0]) for k in group]
            miss[name, f] = abs(np.mean(z <= q * np.array(scale) * np.array(h)) - 0.8)
    assert miss["by horizon", 0.25] < miss["one scale", 0.25]
    assert miss["by horizon", 0.75] < miss["one scale", 0.75]
    # off, everything else is learned the same, without multipliers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        off = fit_prior(
            runs, weight_grid=(0.0, 1.0), strength_grid=(2.0,), progress=False, by_horizon=False
        )
    assert off == replace(prior, horizon_anchors=(), horizon_scales=(), scores=off.scores)
    # the bundled prior, learned from unlike sources, has none (docs/forecasting.md)
    assert default_forecast_config().horizon_scales == ()


def test_the_lag_shift_moves_a_fitted_forecast_along_the_recent_slope():
    """Hand-computed: shift * sign(slope) * min(h, cap)**4 unscaled predictive sds; none for
    a collapsed run or a curve of a flat kind."""
    from rlscaling.forecasting.ensemble import (
        LAG_HORIZON_CAP,
        auto_components,
        auto_point_sd,
        budget_point_weights,
    )

    rng = np.random.default_rng(3)
    c = np.geomspace(100, 1e4, 16)
    y = 0.2 + 0.5 / (1 + (3e3 / c) ** 1.2) + rng.normal(0, 0.01, c.size)
    budgets = np.array([2e4, 1e5, 1e7])  # the last is beyond the horizon cap
    comp = auto_components(Run(c, y), budgets, ForecastPrior())
    assert comp["slope"] > 0
    unit = ForecastPrior(interval_scale=1.0)
    comp["w"] = budget_point_weights(comp, unit)
    p0, _, sd0 = auto_point_sd(comp, unit)
    p1, _, sd1 = auto_point_sd(comp, replace(unit, lag_shift=0.5))
    h = np.minimum(np.log(budgets / c[-1]), LAG_HORIZON_CAP)
    assert h[-1] == LAG_HORIZON_CAP
    np.testing.assert_allclose(p1 - p0, 0.5 * h**4 * sd0, rtol=1e-12)
    np.testing.assert_allclose(sd1, sd0)  # the spread is not changed
    falling = {**comp, "slope": -comp["slope"]}
    np.testing.assert_allclose(
        auto_point_sd(falling, replace(unit, lag_shift=0.5))[0] - auto_point_sd(falling, unit)[0],
        -0.5 * h**4 * sd0,
        rtol=1e-12,
    )
    for unmoved in ({**comp, "collapsed": True}, {**comp, "kind": "pass_rate-flat"}):
        np.testing.assert_array_equal(
            auto_point_sd(unmoved, replace(unit, lag_shift=0.5))[0],
            auto_point_sd(unmoved, unit)[0],
        )
    with pytest.raises(InputError, match=r"lag_shift must be a finite number.*nan"):
        ForecastPrior(lag_shift=float("nan"))
    assert ForecastPrior.from_dict(ForecastPrior(lag_shift=0.25).to_dict()).lag_shift == 0.25


def test_fit_prior_learns_the_lag_of_forecasts_of_runs_that_keep_rising():
    """Runs still far from their midpoint at a quarter of their compute: the stacked forecast
    (its gain capped) lags every one of them. The learned shift moves the forecasts up, so
    the truth is above them about as often as below, and their error halves."""
    from rlscaling.forecasting.prior import _errors_and_z

    rng = np.random.default_rng(7)
    c = np.geomspace(100, 1e4, 24)
    runs = []
    for i in range(30):
        c_mid = 10 ** rng.uniform(3.2, 3.8)
        y = 0.1 + 0.7 / (1 + (c_mid / c) ** 1.5) + rng.normal(0, 0.01, c.size)
        runs.append(Run(c, y, name=f"run{i}", metadata={"source": f"s{i % 6}"}))
    learned = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lag in (True, False):
            learned[lag] = fit_prior(
                runs, weight_grid=(0.0, 1.0), strength_grid=(2.0,), progress=False, lag=lag
            )
    assert learned[False].lag_shift == 0.0
    assert learned[True].lag_shift > 0.2
    cases, _ = corpus_cases(runs, (0.25,), ForecastPrior(), progress=False)
    early = [k for k in cases if not k.comp["few"]]
    above, error = {}, {}
    for lag, prior in learned.items():
        e_z = [_errors_and_z([k], prior.for_kind(k.comp["kind"])) for k in early]
        above[lag] = np.mean([z[0] < 0 for _, z in e_z])
        error[lag] = np.median([e[0] for e, _ in e_z])
    assert above[False] > 0.95 and abs(above[True] - 0.5) < 0.2
    assert error[True] < 0.6 * error[False]
    # the bundled prior has learned its shift from the development curves
    assert default_forecast_config().lag_shift > 0


def test_a_forecast_says_which_prior_set_it():
    run = Run(C, 0.4 + np.random.default_rng(2).normal(0, 0.02, C.size))
    mine = ForecastPrior(learned_from="12 runs of my sweep", horizon_anchors=(0.3, 1.0),
                         horizon_scales=(0.8, 1.2))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        said = {
            "mine": forecast(run, budget=1e5, prior=mine),
            "bundled": forecast(run, budget=1e5),
            "kind": forecast(run, budget=1e5, prior="pass_rate-flat"),
            "sigmoid": forecast(run, budget=1e5, method="sigmoid"),
        }
    assert said["mine"].prior == "12 runs of my sweep, intervals by horizon"
    assert "  prior: 12 runs of my sweep, intervals by horizon" in said["mine"].summary()
    assert said["mine"].to_dict()["prior"] == said["mine"].prior
    assert said["bundled"].prior == "bundled"
    assert said["kind"].prior == "bundled (pass_rate-flat settings)"
    assert said["sigmoid"].prior == "" and "prior:" not in said["sigmoid"].summary()
    # the compute needed to reach a target says it too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reach = compute_to_reach(run, 0.45, prior=mine, n_samples=200)
        reach_sig = compute_to_reach(run, 0.45, method="sigmoid", n_samples=200)
    assert reach.prior == said["mine"].prior and reach.to_dict()["prior"] == reach.prior
    assert reach.summary().endswith("\n  prior: 12 runs of my sweep, intervals by horizon")
    assert reach_sig.prior == "" and "prior:" not in reach_sig.summary()


def test_prior_overrides_by_kind_and_by_name():
    run = Run(C, 0.4 + np.random.default_rng(2).normal(0, 0.02, C.size))
    wide = ForecastPrior(kinds={"pass_rate-flat": {"interval_scale": 5.0}})
    narrow = ForecastPrior(kinds={"pass_rate-flat": {"interval_scale": 0.5}})
    w1 = np.ptp(forecast(run, budget=1e5, prior=wide).interval(0.8))
    w2 = np.ptp(forecast(run, budget=1e5, prior=narrow).interval(0.8))
    assert w1 > 5 * w2
    forced = forecast(run, budget=1e5, prior="score-rising")
    assert forced.kind == "score-rising"
    with pytest.raises(InputError, match="pass_rate-flat"):
        forecast(run, budget=1e5, prior="pythia")
    with pytest.raises(InputError, match="kinds"):
        ForecastPrior.from_dict({"kinds": {"nope": {"interval_scale": 1.0}}})
    again = ForecastPrior.from_dict(wide.to_dict())
    assert again == wide


def test_mcmc_forecast_is_labelled_and_predictive():
    run = load_example("scalerl_like").truncate(0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(run, budget=16000, method="mcmc", n_samples=400)
    assert fc.method == "mcmc" and set(fc.weights) == {"mcmc"}
    assert "not calibrated" in fc.summary()
    # predictive: a new evaluation's interval is wider than the curve's
    assert np.ptp(fc.interval(0.9)) > np.ptp(fc.interval(0.9, kind="curve"))


def test_mcmc_forecast_of_large_returns_carries_their_noise():
    # Episode returns in the thousands with evaluation noise sd 200: the MCMC noise sd used to
    # be capped at 10 (SAC Hopper's 90% interval was [2421.7, 2458.9], truth 3189).
    run = simulate_curve(3000.0, 1.5, 1000.0, 100.0, compute=C, noise=200.0, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(run, budget=2e4, method="mcmc", n_samples=1000)
    lo, hi = fc.interval(0.9)
    assert hi[0] - lo[0] > 2 * 1.645 * 200 * 0.8  # at least most of a new evaluation's noise


def test_far_budget_on_tiny_compute_units_stays_finite():
    # compute ~1e-283 and a budget of 1e300: the budget/compute ratio overflows to inf, and the
    # horizon computed from it gave NaN forecasts without a word; horizons are log differences
    rng = np.random.default_rng(0)
    c = np.geomspace(1e-283, 1e-280, 20)
    y = np.linspace(0.1, 0.5, 20) + rng.normal(0, 0.02, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fc = forecast(c, reward=y, budget=1e300, n_samples=200)
    assert np.all(np.isfinite(fc.draws)) and np.all(np.isfinite(fc.median))
    assert 0.0 <= fc.median[0] <= 1.0


def test_auto_draws_do_not_pretend_to_hold_per_draw_parameters():
    # "auto" has one point fit, not a distribution of A: it must not fill per-draw parameters
    # with copies of it; compute_to_reach(fraction_of_asymptote=) reads the point fit instead
    from rlscaling.forecasting.forecast import predictive_curves

    run = load_example("scalerl_like").truncate(0.5)
    draws = predictive_curves(run, [1e5], method="auto", n_samples=200, seed=0)
    assert draws.params is None and draws.fit_params is not None
    fit = fit_sigmoid(run, r0="free", warn=False)
    reach = compute_to_reach(run, fraction_of_asymptote=0.9, n_samples=200, seed=0)
    a, r0 = draws.fit_params["A"], draws.fit_params["R0"]
    assert reach.target == pytest.approx(r0 + 0.9 * (a - r0))
    assert a == pytest.approx(fit.params["A"], rel=0.05)


def test_sigmoid_method_on_a_run_no_replicate_can_fit_refuses_clearly():
    # found by the fuzz suite: every bootstrap replicate of a nearly flat run failed and the
    # draw step crashed inside numpy ("high <= 0")
    c = np.array([785.18, 1973.99, 4962.72, 12476.56, 31366.76, 78857.79])
    y = np.array([0.04613651, 0.04613651, 0.04613652, 0.04613682, 0.04614432, 0.04633511])
    with pytest.raises(InputError, match="method='auto'"):
        forecast(c, reward=y, method="sigmoid", n_samples=10, seed=1)
    assert np.isfinite(forecast(c, reward=y, n_samples=50).median).all()


def test_sigmoid_weight_is_capped_near_the_end_of_a_run():
    from dataclasses import replace

    from rlscaling.forecasting.ensemble import sigmoid_weight

    e_sig = np.array([0.001, -0.002, 0.0015])  # the sigmoid won every cut
    e_pl = np.array([0.05, 0.06, 0.04])
    free = ForecastPrior(prior_weight=1.0, prior_strength=2.0)
    capped = replace(free, gain_horizon=0.6)
    assert sigmoid_weight(e_sig, e_pl, 0.3, False, free) == pytest.approx(1.0, abs=0.01)
    # 0.3 e-folds ahead with a gain horizon of 0.6: at most half the sigmoid
    assert sigmoid_weight(e_sig, e_pl, 0.3, False, capped) == pytest.approx(0.5)
    assert sigmoid_weight(e_sig, e_pl, 0.0, False, capped) == 0.0
    far = sigmoid_weight(e_sig, e_pl, 1.2, False, capped)
    assert far == sigmoid_weight(e_sig, e_pl, 1.2, False, free)
    assert sigmoid_weight(e_sig, e_pl, 1.2, True, capped) <= free.decline_max_weight


def test_forecast_reports_the_capped_weight():
    run = load_example("scalerl_like").truncate(0.6)
    x_now = float(run.compute.max())
    prior = ForecastPrior(prior_weight=1.0, prior_strength=5.0, gain_horizon=0.6)
    near = forecast(run, budget=1.2 * x_now, prior=prior)
    assert near.weights["sigmoid"] <= np.log(1.2) / 0.6 + 1e-4
    uncapped = forecast(run, budget=1.2 * x_now, prior=ForecastPrior(prior_weight=1.0))
    assert uncapped.weights["sigmoid"] > near.weights["sigmoid"]


@pytest.mark.parametrize("cut", [0.3, 0.6])
@pytest.mark.parametrize("gain_horizon", [None, 0.6])
def test_each_budget_gets_the_forecast_it_gets_alone(cut, gain_horizon):
    # the sigmoid's weight depends on the horizon (the cut weighting and the short-horizon
    # cap): with one weight for all budgets, a near budget asked beside a far one got the far
    # one's weight
    run = load_example("scalerl_like").truncate(cut)
    x_now = float(run.compute.max())
    budgets = x_now * np.array([1.05, 1.3, 2.0, 4.0])
    prior = ForecastPrior(prior_weight=1.0, prior_strength=5.0, gain_horizon=gain_horizon)
    together = forecast(run, budget=budgets, prior=prior, seed=3)
    for j, b in enumerate(budgets):
        alone = forecast(run, budget=b, prior=prior, seed=3)
        assert together.median[j] == pytest.approx(alone.median[0], rel=1e-9)
        assert together.gain_share[j] == alone.gain_share[0]
        for lv in (0.8, 0.9):
            assert together.interval(lv)[0][j] == pytest.approx(alone.interval(lv)[0][0], rel=1e-6)
            assert together.interval(lv)[1][j] == pytest.approx(alone.interval(lv)[1][0], rel=1e-6)
    # one line reports the furthest budget's weights; the frame has each budget's share
    assert together.weights["sigmoid"] == pytest.approx(together.gain_share[-1])
    assert together.to_frame()["gain_share"].tolist() == together.gain_share.tolist()
    if gain_horizon is not None:
        # capped at h / gain_horizon near the observed end
        assert together.gain_share[0] <= np.log(1.05) / gain_horizon + 1e-4
        assert together.gain_share[0] < together.gain_share[-1]
        assert "gain share" in together.summary()


def _ramp_runs(plateau_at: float | None, n_runs: int = 10) -> list[Run]:
    """Runs rising linearly in ln(compute), flat from ``plateau_at`` of their compute on."""
    rng = np.random.default_rng(5)
    x = np.linspace(1, 16, 16) * 1e3
    runs = []
    for i in range(n_runs):
        stop = x[-1] * (plateau_at or 2.0)
        y = 0.1 + 0.1 * np.log(np.minimum(x, stop) / x[0]) + rng.normal(0, 0.01, x.size)
        runs.append(Run(x, y, name=f"ramp{i}", metadata={"source": f"s{i % 3}"}))
    return runs


def _flat(value, path=""):
    """A nested dict/list as {path: leaf}."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return {path: value}
    return {k: v for key, item in items for k, v in _flat(item, f"{path}/{key}").items()}


def test_fit_prior_on_percentages_with_reward_range_learns_what_it_learns_on_fractions():
    runs = [r.truncate(1.0) for r in example_curves()]
    assert all(np.all((r.reward >= 0) & (r.reward <= 1)) for r in runs)
    percent = [replace(r, reward=100 * r.reward) for r in runs]
    grids = {"fractions": (0.3, 0.5, 0.7), "weight_grid": (0.5, 1.0), "strength_grid": (2.0,)}
    as_fraction = fit_prior(runs, label="corpus", **grids)
    mapped = fit_prior(percent, label="corpus", reward_range=(0, 100), **grids)
    # the same prior: every learned setting and corpus score (to the fits' tolerance)
    got, want = _flat(mapped.to_dict()), _flat(as_fraction.to_dict())
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == (pytest.approx(value, rel=1e-6) if isinstance(value, float) else value)
    # by default ("auto") each run in [0, 100] that passed 10 is read as a percentage too
    auto = _flat(fit_prior(percent, label="corpus", **grids).to_dict())
    assert auto.pop("/scores/read_as_percent") == len(runs)
    assert want.pop("/scores/read_as_percent") == 0
    for key, value in want.items():
        assert auto[key] == (pytest.approx(value, rel=1e-6) if isinstance(value, float) else value)
    # without the range the same curves are scores, a different kind with its own settings
    cases, _ = corpus_cases(percent, grids["fractions"])
    assert {c.comp["kind"].split("-")[0] for c in cases} == {"score"}
    with pytest.raises(InputError, match=r"run '.+': reward_range=\(0, 1\) does not hold"):
        fit_prior(percent, reward_range=(0, 1), **grids)


def test_fit_prior_learns_to_cap_gains_that_stop_and_not_those_that_go_on():
    grids = {"weight_grid": (1.0,), "strength_grid": (5.0,), "fractions": (0.5, 0.75)}
    stopping = fit_prior(_ramp_runs(plateau_at=0.78), **grids)
    going_on = fit_prior(_ramp_runs(plateau_at=None), **grids)
    # the runs that flatten right after the observed part teach a cap on short-horizon gains
    assert stopping.gain_horizon is not None
    assert going_on.gain_horizon is None or going_on.gain_horizon < stopping.gain_horizon
    assert stopping.scores["median_rel_error"] < 0.2


def test_fit_prior_spares_smooth_curves_the_cap():
    runs = [r.truncate(1.0) for r in example_curves()]
    prior = fit_prior(
        runs,
        fractions=(0.3, 0.5, 0.7),
        weight_grid=(1.0,),
        strength_grid=(2.0,),
        horizon_grid=(0.6,),
    )
    assert prior.gain_horizon == 0.6
    # too few smooth cases to learn their own settings: the pooled ones, but no cap
    assert prior.kinds["smooth"] == {"gain_horizon": None}
    assert prior.for_kind("smooth").gain_horizon is None
    assert prior.for_kind("pass_rate-flat").gain_horizon == 0.6
    import json

    assert ForecastPrior.from_dict(json.loads(json.dumps(prior.to_dict()))) == prior
    with pytest.raises(InputError, match=r"gain_horizon must be None.*got 0"):
        fit_prior(runs, horizon_grid=(0,))
    with pytest.raises(InputError, match=r"kinds\['smooth'\]\['gain_horizon'\].*-1"):
        ForecastPrior(kinds={"smooth": {"gain_horizon": -1.0}})


def test_few_point_trend_of_a_pass_rate_runs_in_log_odds_hand_computed():
    from rlscaling.forecasting.ensemble import few_point_trend

    x = np.exp([0.0, 1.0])  # one e-fold of compute apart
    rate = Run(x, [0.2, 0.5])  # log-odds -ln 4 -> 0: a slope of ln 4 per e-fold
    # half an e-fold on: log-odds ln 2, a pass rate of 2/3, so a gain of 1/6 (a line: +0.15)
    assert few_point_trend(rate, np.array([0.5])) == pytest.approx([1 / 6])
    # three e-folds on: the step is capped at the observed log-odds range (ln 4): 0.8 - 0.5
    assert few_point_trend(rate, np.array([3.0])) == pytest.approx([0.3])
    score = Run(x, [-2.0, -1.0])  # not a pass rate: a line, capped at the observed range
    assert few_point_trend(score, np.array([0.5, 3.0])) == pytest.approx([0.5, 1.0])


def test_few_point_forecast_of_a_rising_pass_rate_does_not_run_into_1():
    run = Run([1000, 2000, 4000], [0.43, 0.69, 0.82])
    with pytest.warns(ForecastWarning):
        fc = forecast(run, budget=20000)
    # a line in ln(compute) carried 1.6 e-folds would add 0.4 (to 1.2, clipped to 1)
    assert 0.82 < float(fc.median[0]) < 0.97


def test_an_eval_log_starting_at_step_0_is_forecast_and_the_step_0_point_is_reported():
    steps = np.arange(0.0, 130.0, 10.0)  # evaluations every 10 steps, the first before training
    y = 0.1 + 0.5 * (1 - np.exp(-steps / 60)) + np.random.default_rng(3).normal(0, 0.01, 13)
    with pytest.warns(ForecastWarning, match="1 evaluation at compute 0 left out"):
        fc = forecast(steps, reward=y, budget=200.0, average_of=3)
    assert fc.observed_compute.min() == 10.0 and fc.observed_compute.size == 12
    assert any("compute 0" in n for n in fc.notes)
    same = forecast(steps[1:], reward=y[1:], budget=200.0, average_of=3)
    assert fc.median == pytest.approx(same.median)  # nothing else changes
    # the same for a Run and for compute_to_reach; a negative compute is still an error
    with pytest.warns(ForecastWarning, match="compute 0"):
        forecast(Run(steps, y), budget=200.0)
    with pytest.warns(ForecastWarning, match="compute 0"):
        reach = compute_to_reach(steps, reward=y, target=0.5)
    assert any("compute 0" in n for n in reach.notes)
    with pytest.raises(InputError, match=r"compute must be > 0.*-10"):
        forecast(np.r_[-10.0, steps[1:]], reward=y, budget=200.0)
    with pytest.raises(InputError, match=r"at least 2 evaluations at compute > 0, got 1.*the 1 at"):
        forecast(steps[:2], reward=y[:2], budget=200.0)
    with pytest.raises(InputError, match="all 2 evaluations are at compute 0"):
        forecast([0.0, 0.0], reward=[0.1, 0.2], budget=200.0)


def test_summary_names_fractional_levels_exactly():
    # int(0.975 * 100) printed a 97.5% interval as "97%"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(np.arange(1, 12) * 100.0, reward=np.linspace(0.2, 0.5, 11), levels=(0.975,))
    assert "97.5% [" in fc.summary()


def test_a_loaded_run_tells_what_its_reading_left_out(tmp_path):
    # A resumed log that logged three evaluations again: load_run(duplicates="last") counts
    # them in metadata; the forecast of that run said nothing, the forecast of the table did.
    from rlscaling import load_run

    steps = np.r_[np.arange(50, 501, 50), [350, 400, 450]]
    acc = sigmoid(steps.astype(float), 0.7, 1.5, 200.0, 0.1)
    acc[-3:] += 0.01  # evaluated again after the resume: other values at the same steps
    p = tmp_path / "resumed.csv"
    pd.DataFrame({"compute": steps, "reward": acc}).to_csv(p, index=False)
    run = load_run(p, duplicates="last")
    assert run.metadata["omitted"]["duplicate_compute"] == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(run, budget=1000.0)
    assert any(n.startswith("3 points at a compute logged again left out") for n in fc.notes)


def test_trend_gain_is_the_recent_pace_carried_on_for_scores_and_none_for_pass_rates():
    from rlscaling.forecasting.ensemble import auto_point_sd, trend_gain

    base = ForecastPrior(gain_clip=0.5)
    comp = {
        "slope": 0.2,  # reward per e-fold of compute over the last third
        "h": np.array([0.5, 3.0]),
        "span": 1.0,  # observed range: the trend is capped at gain_clip x it
        "bounds": (-np.inf, np.inf),
    }
    np.testing.assert_allclose(trend_gain(comp, base), [0.1, 0.5])
    assert not trend_gain({**comp, "bounds": (0.0, 1.0)}, base).any()
    # the point forecast adds trend_weight times it, on top of the stacked level and sigmoid
    full = {
        **comp,
        "w": np.array([0.5, 0.5]),
        "gain": np.array([0.2, 0.4]),
        "base": 1.0,
        "noise": 0.01,
        "alpha": 1.0,
        "n": 20,
        "gain_sd": np.zeros(2),
        "few": False,
    }
    p0, _, _ = auto_point_sd(full, base)
    p1, _, _ = auto_point_sd(full, replace(base, trend_weight=0.5))
    np.testing.assert_allclose(p0, [1.1, 1.2])
    np.testing.assert_allclose(p1 - p0, [0.05, 0.25])


def test_fit_prior_learns_the_trend_share_of_scores_that_keep_rising():
    # Open-ended scores that rise faster and faster in ln(compute): a sigmoid fitted to part
    # of them bends over, the recent pace carried on does not; on such runs a share is learned.
    rng = np.random.default_rng(3)
    x = np.geomspace(1e3, 1e5, 24)
    lx = np.log(x / x[0])
    runs = [
        Run(x, 2.0 + 0.08 * lx**2 + rng.normal(0, 0.02, x.size), name=f"s{i}",
            metadata={"source": f"src{i % 3}"})
        for i in range(9)
    ]  # fmt: skip
    grids = {"fractions": (0.5, 0.75), "weight_grid": (1.0,), "strength_grid": (2.0,)}
    assert fit_prior(runs, **grids).trend_weight > 0
    # pass rates take none: the same runs mapped into [0, 1] learn no share anywhere
    squeezed = fit_prior([replace(r, reward=r.reward / 10.0) for r in runs], **grids)
    assert squeezed.trend_weight == 0
    assert all(not k.get("trend_weight") for k in squeezed.kinds.values())


def test_a_score_reports_the_share_of_its_recent_pace_and_a_pass_rate_none():
    run = load_example("scalerl_like").truncate(0.6)
    prior = replace(default_forecast_config(), trend_weight=0.5, kinds={})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rate = forecast(run, budget=3e4, prior=prior, n_samples=200)
        score = forecast(run.compute, reward=3 * run.reward, budget=3e4, prior=prior,
                         n_samples=200)  # fmt: skip
        none = forecast(run.compute, reward=3 * run.reward, budget=3e4,
                        prior=replace(prior, trend_weight=0.0), n_samples=200)  # fmt: skip
        flat = forecast(Run(C, 3.0 + np.random.default_rng(4).normal(0, 0.05, C.size)),
                        budget=3e4, prior=prior, n_samples=200)  # fmt: skip
    assert "recent pace" not in rate.weights
    assert score.kind == "score-rising" and score.weights["recent pace"] == 0.5
    # a flat kind's slope is within two standard errors of 0: no pace to carry on
    assert flat.kind == "score-flat" and "recent pace" not in flat.weights
    assert "recent pace" not in none.weights
    # the rising run's pace lifts the score's forecast above the one without it
    assert score.median[0] > none.median[0]


def test_few_point_interval_is_wider_above_by_the_skew_hand_computed():
    # The draws' sizes are the same with any skew (same seed): above the median they are
    # few_point_skew times the symmetric interval's, below it 1 / few_point_skew times.
    c, y = np.array([100.0, 200.0, 300.0]), np.array([0.30, 0.34, 0.31])
    fcs = {}
    for skew in (1.0, 2.0):
        prior = ForecastPrior(few_point_weight=0.0, few_point_scale=0.5, few_point_skew=skew)
        with pytest.warns(ForecastWarning, match="only 3 evaluations"):
            fcs[skew] = forecast(c, reward=y, budget=1200.0, prior=prior, seed=3)
    sym, skewed = fcs[1.0], fcs[2.0]
    # the point stays the median (to the draws' resolution: the two middle draws differ)
    assert sym.median[0] == pytest.approx(0.31) and skewed.median[0] == pytest.approx(
        0.31, abs=1e-4
    )
    for level in (0.8, 0.9):
        (lo1,), (hi1,) = sym.interval(level)
        (lo2,), (hi2,) = skewed.interval(level)
        assert hi2 - 0.31 == pytest.approx(2.0 * (hi1 - 0.31), rel=1e-6)
        assert 0.31 - lo2 == pytest.approx(0.5 * (0.31 - lo1), rel=1e-6)


def test_fit_prior_calibrates_each_side_of_the_few_point_interval():
    """Short runs that keep rising end above their few-point forecasts: the learned interval
    is wider above, each side missing about its share; mirrored runs (1 - reward, falling)
    get the mirrored interval exactly."""
    from scipy import stats

    from rlscaling.forecasting.prior import _errors_and_z, case_interval_scale

    rng = np.random.default_rng(3)
    c = np.linspace(1000, 1e4, 8)  # 2 and 4 evaluations observed at 25% and 50% of compute
    rising, falling = [], []
    for i in range(40):
        y = 0.1 + 0.6 / (1 + (10 ** rng.uniform(3.4, 3.8) / c) ** 1.5) + rng.normal(0, 0.01, 8)
        meta = {"source": f"s{i % 5}"}
        rising.append(Run(c, y, name=f"up{i}", metadata=meta))
        falling.append(Run(c, 1 - y, name=f"down{i}", metadata=meta))
    learned = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, runs in (("rising", rising), ("falling", falling)):
            learned[name] = fit_prior(
                runs, fractions=(0.25, 0.5), weight_grid=(0.0, 0.5, 1.0), progress=False
            )
        cases, _ = corpus_cases(rising, (0.25, 0.5), ForecastPrior(), progress=False)
    up = learned["rising"]
    assert up.few_point_skew > 2.0
    assert learned["falling"].few_point_skew == pytest.approx(1 / up.few_point_skew)
    assert learned["falling"].few_point_scale == pytest.approx(up.few_point_scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = fit_prior(
            rising,
            fractions=(0.25, 0.5),
            weight_grid=(0.0, 0.5, 1.0),
            progress=False,
            two_sided_few_point=False,
        )
    # one symmetric scale, between the two sides' (as the bundled prior has)
    assert one.few_point_skew == 1.0 and default_forecast_config().few_point_skew == 1.0
    assert up.few_point_scale / up.few_point_skew < one.few_point_scale
    assert one.few_point_scale < up.few_point_scale * up.few_point_skew
    few = [k for k in cases if k.comp["few"]]
    assert len(few) == 80
    q80 = stats.t.ppf(0.9, up.tail_dof)
    z = np.array([_errors_and_z([k], up)[1][0] for k in few])
    bound = np.array([case_interval_scale(k, up, zi) for k, zi in zip(few, z, strict=True)])
    above, below = np.mean(-z > bound * q80), np.mean(z > bound * q80)
    assert 0.03 <= above <= 0.2 and 0.03 <= below <= 0.2
    # a symmetric interval of the same calibration misses mostly above
    sym = replace(up, few_point_skew=1.0)
    z_sym = np.array([_errors_and_z([k], sym)[1][0] for k in few])
    assert np.mean(-z_sym > up.few_point_scale * q80) > 2 * np.mean(
        z_sym > up.few_point_scale * q80
    )
