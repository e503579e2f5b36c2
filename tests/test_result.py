import json

import numpy as np
import pytest

from rlscaling import fit_sigmoid, load_example, sigmoid
from rlscaling.io.checks import InputError


@pytest.fixture(scope="module")
def fit():
    return fit_sigmoid(load_example("scalerl_like"), warn=False)


def test_example_fit_recovers_stored_parameters(fit):
    truth = load_example("scalerl_like").metadata
    assert abs(fit.A - truth["A"]) < 0.02
    assert abs(np.log(fit.C_mid / truth["C_mid"])) < 0.15


def test_to_dict_is_json_and_complete(fit):
    d = json.loads(json.dumps(fit.to_dict()))
    assert set(d["params"]) == {"A", "B", "C_mid", "R0"}
    assert d["n_used"] == len(load_example("scalerl_like"))
    assert d["identified"] is True


def test_summary_names_every_parameter(fit):
    text = fit.summary()
    for p in ("A", "B", "C_mid", "R0", "identified"):
        assert p in text


def test_plot_returns_axes_with_data_and_curve(fit):
    ax = fit.plot()
    assert ax.get_xscale() == "log"
    assert len(ax.lines) >= 1 and len(ax.collections) >= 1


def test_delta_band_contains_estimate_and_widens_outside_data(fit):
    band = fit.band([fit.compute.max(), 100 * fit.compute.max()], level=0.9)
    assert np.all(band["lower"] <= band["estimate"]) and np.all(band["estimate"] <= band["upper"])
    pred = fit.band([fit.compute.max()], kind="prediction")
    assert (pred["upper"] - pred["lower"]).iloc[0] > (band["upper"] - band["lower"]).iloc[0]


def test_interval_contains_estimate_and_orders_levels(fit):
    lo80, hi80 = fit.interval("A", 0.8)
    lo95, hi95 = fit.interval("A", 0.95)
    assert lo95 < lo80 < fit.A < hi80 < hi95
    lo, hi = fit.interval("C_mid", 0.9)
    assert lo < fit.C_mid < hi


def test_fixed_r0_has_zero_stderr():
    c = np.geomspace(100, 1e5, 30)
    f = fit_sigmoid(c, sigmoid(c, 0.6, 1.5, 2000, 0.2) + 1e-3 * np.sin(np.arange(30)), r0=0.2)
    assert f.R0 == 0.2 and f.stderr["R0"] == 0


def test_intervals_and_bands_of_a_pass_rate_stay_in_zero_one():
    """A bundled real run (the sorting sweep) plateaus at a pass rate of 1: the delta-method
    interval of A was [0.957, 1.043] and bands ran above 1."""
    from rlscaling.io.datasets import sorting_runs

    f = fit_sigmoid(sorting_runs()[0], warn=False)
    assert f.pass_rate and f.A > 0.99 and f.stderr["A"] > 0.01
    lo, hi = f.interval("A", 0.9)
    assert lo < f.A and hi == 1.0
    assert f.param_bounds("A") == (0.0, 1.0)
    far = [f.compute.max() * 10]
    for kind in ("curve", "prediction"):
        band = f.band(far, level=0.95, kind=kind)
        assert band["upper"].iloc[0] <= 1.0 and band["lower"].iloc[0] >= 0.0
        assert band["lower"].iloc[0] < band["estimate"].iloc[0]
    boot = f.bootstrap(100, seed=0)
    assert boot.interval("A", 0.9)[1] <= 1.0
    pred = boot.band(far, level=0.95, kind="prediction")
    assert pred["upper"].iloc[0] <= 1.0 and pred["lower"].iloc[0] >= 0.0


def test_unbounded_rewards_are_not_clipped():
    c = np.geomspace(100, 3000, 25)
    # a score above 100 (in [0, 100] it would be read as a percentage, bounded there)
    y = 50 + 100 * sigmoid(c, 0.97, 1.5, 1500, 0.2) + np.sin(np.arange(25))
    f = fit_sigmoid(c, y, warn=False)
    assert not f.pass_rate and f.reward_range == (-np.inf, np.inf)
    lo, hi = f.interval("A", 0.9)
    assert lo < f.A < hi
    assert f.param_bounds("A")[1] > hi  # the box bound of A is wide: nothing clipped


@pytest.mark.parametrize("scale", [1e-6, 1e9])
def test_standard_errors_follow_the_rewards_units(scale):
    # the conditioning check once ran on the unscaled normal matrix: rewards in the millions
    # (or millionths) got infinite standard errors and an "unidentified" fit
    rng = np.random.default_rng(0)
    c = np.geomspace(10, 1e4, 40)
    y = sigmoid(c, A=0.7, B=1.4, C_mid=300.0, R0=0.1) + rng.normal(0, 0.01, c.size)
    base = fit_sigmoid(c, y, r0="free")
    scaled = fit_sigmoid(c, y * scale, r0="free")
    for name in ("A", "B", "C_mid", "R0"):
        expected = base.stderr[name] * (scale if name in ("A", "R0") else 1.0)
        assert np.isfinite(scaled.stderr[name])
        assert scaled.stderr[name] == pytest.approx(expected, rel=1e-3)


def test_r0_read_off_the_first_evaluation_carries_its_noise_into_the_standard_errors():
    """With r0="first" R0 is one noisy evaluation. The delta method used to treat it as exact:
    the standard error of A was 0.77 of the estimate's real spread. Here the first evaluation
    is at C_mid / 1000, where the curve is at R0, so "first" is the right model and the
    standard error must match the spread of A over repeated runs."""
    c = np.r_[2.0, np.geomspace(100, 2e4, 29)]
    rng = np.random.default_rng(11)
    a_hat, se = [], []
    for _ in range(400):
        y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + rng.normal(0, 0.01, c.size)
        f = fit_sigmoid(c, y, warn=False)
        a_hat.append(f.A)
        se.append(f.stderr["A"])
    assert np.median(se) / np.std(a_hat) == pytest.approx(1.0, abs=0.12)


def test_the_r0_of_r0_first_has_the_first_evaluations_noise_and_an_interval():
    c = np.geomspace(100, 2e4, 30)
    y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + np.random.default_rng(0).normal(0, 0.01, c.size)
    first = fit_sigmoid(c, y)
    held = fit_sigmoid(c, y, r0=float(y[0]))
    assert first.A == held.A and first.B == held.B  # the point fit is unchanged
    assert first.stderr["R0"] == pytest.approx(first.noise_sd)
    assert held.stderr["R0"] == 0 and first.stderr["A"] > 1.2 * held.stderr["A"]
    frame = first.to_frame(0.9)
    assert not frame.loc["R0", "fixed"] and held.to_frame().loc["R0", "fixed"]
    lo, hi = first.interval("R0", 0.9)
    assert lo < first.R0 < hi and hi - lo == pytest.approx(2 * 1.70 * first.noise_sd, rel=0.01)
    r0_row = next(ln for ln in first.summary().splitlines() if ln.startswith("  R0    "))
    assert "fixed" not in r0_row and "[" in r0_row  # the R0 row shows its interval
    # a first evaluation four times the size of the others is half as noisy
    sizes = np.r_[4000.0, np.full(29, 1000.0)]
    weighted = fit_sigmoid(c, y, eval_size=sizes)
    assert weighted.stderr["R0"] == pytest.approx(
        weighted.noise_sd * np.sqrt(1.0 / weighted.r0_weight)
    )
    assert weighted.r0_weight == pytest.approx(4000 / sizes.mean())
    # an evaluation at compute 0 is R0 but not a fitted point
    at_zero = fit_sigmoid(np.r_[0.0, c], np.r_[0.1, y])
    assert not at_zero.r0_in_data and at_zero.stderr["R0"] == pytest.approx(at_zero.noise_sd)


def test_a_robust_fit_with_a_measured_r0_has_a_positive_semidefinite_covariance():
    """A smooth falling curve under Huber loss: the sandwich factor is 1/100 of noise_sd**2,
    and the shared draw of R0 and the first point, added at noise_sd**2, made the variance of
    ln C_mid negative (its standard error came out inf, with no warning)."""
    c = np.geomspace(1, 10, 15)
    y = np.array([0.57146312, 0.56136546, 0.55121672, 0.54102515, 0.53079915, 0.52054722,
                  0.51027795, 0.5, 0.48972205, 0.47945278, 0.46920085, 0.45897485,
                  0.44878328, 0.43863454, 0.42853688])  # fmt: skip
    cases = [(c, y, "huber")]
    rng = np.random.default_rng(3)
    for i in range(20):
        ci = np.geomspace(100, 2e4, 12)
        yi = sigmoid(ci, 0.6, 1.5, 2000.0, 0.1) + rng.normal(0, 0.01, ci.size)
        cases.append((ci, yi, ("huber", "soft_l1", "cauchy")[i % 3]))
    for ci, yi, loss in cases:
        f = fit_sigmoid(ci, yi, r0="first", loss=loss, warn=False)
        assert np.linalg.eigvalsh(f.covariance).min() >= -1e-12 * np.abs(f.covariance).max()
        assert all(np.isfinite(se) for se in f.stderr.values()), (loss, f.stderr)


def test_a_robust_loss_measures_noise_and_errors_without_the_outliers():
    """Two evaluations 0.25 low on curves with noise sd 0.015: under a robust loss the noise
    sd came out 0.069 (the outliers' root mean square) and the standard error of A 3.7 times
    the estimate's real spread."""
    c = np.geomspace(100, 2e4, 30)
    for loss in ("cauchy", "soft_l1"):
        noise, a_hat, se = [], [], []
        for i in range(60):
            rng = np.random.default_rng(i)
            y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + rng.normal(0, 0.015, c.size)
            y[rng.choice(np.arange(5, 30), 2, replace=False)] -= 0.25
            f = fit_sigmoid(c, y, loss=loss, r0=0.1, warn=False)
            noise.append(f.noise_sd)
            a_hat.append(f.A)
            se.append(f.stderr["A"])
        assert np.mean(noise) == pytest.approx(0.015, rel=0.15), loss
        assert np.median(se) / np.std(a_hat) == pytest.approx(1.0, abs=0.25), loss


def test_eval_size_takes_one_number_for_every_point():
    c = np.geomspace(100, 2e4, 30)
    y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + np.random.default_rng(0).normal(0, 0.01, c.size)
    one = fit_sigmoid(c, y, eval_size=500)
    each = fit_sigmoid(c, y, eval_size=np.full(c.size, 500.0))
    assert one.params == each.params
    np.testing.assert_array_equal(one.data.eval_size, each.data.eval_size)
    for bad in (-5, 0, float("nan"), "500", True):
        with pytest.raises(InputError, match=r"eval_size must be .* > 0, got"):
            fit_sigmoid(c, y, eval_size=bad)


@pytest.mark.parametrize(("level", "label"), [(0.975, "97.5% interval"), (0.9, "90% interval")])
def test_summaries_print_the_level_as_given(fit, level, label):
    assert label in fit.summary(level)
    assert label in fit.bootstrap(50, seed=0).summary(level)
