import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rlscaling import (
    ForecastWarning,
    Run,
    compute_to_reach,
    example_curves,
    forecast,
    load_example,
    sigmoid,
)
from rlscaling.forecasting.prior import ForecastPrior, fit_prior
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


def test_bad_forecast_input():
    run = load_example("scalerl_like")
    with pytest.raises(InputError, match="budget"):
        forecast(run, budget=-1.0)
    with pytest.raises(InputError, match="level"):
        forecast(run, budget=1e5, levels=(1.5,))
    with pytest.raises(InputError, match="method"):
        forecast(run, budget=1e5, method="magic")
    with pytest.raises(InputError, match="at least 4"):
        forecast(Run([1, 2, 3], [0.1, 0.2, 0.3]), budget=10)


def test_summary_and_dict():
    fc = forecast(load_example("scalerl_like").truncate(0.5), budget=[16000])
    text = fc.summary()
    assert "80%" in text and "weights" in text
    d = fc.to_dict()
    assert d["forecast"][0]["budget"] == 16000
    assert fc.plot().get_xscale() == "log"


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fc = forecast(Run(np.geomspace(1, 100, 10), y), budget=400)
        except InputError as exc:
            assert "constant" in str(exc)
            assert np.ptp(y) <= 1e-12 * max(1.0, np.abs(y).max())
            return
    assert np.all(np.isfinite(fc.draws))


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
