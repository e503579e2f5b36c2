"""Recovery of known parameters from simulated curves.

Simulated: A in [0.3, 0.95], B in [0.5, 3], C_mid log-uniform over 1e2..1e22 (GPU-hours to
FLOPs), R0 in [0, 0.2], gaussian noise sd in [0.005, 0.03], 50 points log-spaced over
C_mid/30..C_mid*30 so the curve is observed on both sides of its midpoint.
"""

import warnings

import numpy as np
import pytest
from scipy.optimize import least_squares

import rlscaling.fit.search as search_module
from rlscaling import IdentifiabilityWarning, fit_sigmoid, sigmoid
from rlscaling.model.curve import curve_value


def draw(rng, n=50, span=30.0, stop=None):
    a, b = rng.uniform(0.3, 0.95), rng.uniform(0.5, 3.0)
    c_mid = 10 ** rng.uniform(2, 22)
    r0 = rng.uniform(0.0, 0.2)
    noise = rng.uniform(0.005, 0.03)
    c = np.geomspace(c_mid / span, c_mid * (stop or span), n)
    y = sigmoid(c, a, b, c_mid, r0) + rng.normal(0, noise, n)
    return (a, b, c_mid, r0, noise), c, y


def test_recovery_within_stated_tolerance_over_many_curves():
    # Tolerance: the estimate is within 4 of its own standard errors of the truth (a correct
    # standard error makes a miss of that size a ~1e-4 event), and A is within 0.05 absolute
    # (with 50 points and noise <= 0.03, sd(A) stays below ~0.015 over these ranges).
    rng = np.random.default_rng(7)
    misses = 0
    for _ in range(60):
        (a, b, c_mid, r0, _), c, y = draw(rng)
        fit = fit_sigmoid(c, y, r0=r0, warn=False)
        assert fit.success
        assert abs(fit.A - a) < 0.05
        z = [
            abs(fit.A - a) / fit.stderr["A"],
            abs(fit.B - b) / fit.stderr["B"],
            abs(np.log(fit.C_mid / c_mid)) / fit.stderr["log_C_mid"],
        ]
        misses += max(z) > 4
    assert misses <= 2


def test_free_r0_is_recovered():
    rng = np.random.default_rng(3)
    for _ in range(10):
        (a, _b, _c_mid, r0, _), c, y = draw(rng)
        fit = fit_sigmoid(c, y, r0="free", warn=False)
        assert abs(fit.R0 - r0) < 5 * fit.stderr["R0"] + 1e-3
        assert abs(fit.A - a) < 5 * fit.stderr["A"] + 1e-3


def test_reaches_the_least_squares_minimum_found_by_scipy_from_the_truth():
    # The multi-start fit must be at least as good as scipy's trf started at the true values.
    rng = np.random.default_rng(11)
    for _ in range(15):
        (a, b, c_mid, r0, _), c, y = draw(rng, n=30)
        x = np.log(c)

        def resid(p, x=x, y=y, r0=r0):
            return curve_value(x, np.array([p[0], p[1], p[2], r0])) - y

        ref = least_squares(
            resid,
            x0=[a, b, np.log(c_mid)],
            bounds=([0, 0.05, -np.inf], [1, 20, np.inf]),
            xtol=1e-14,
            ftol=1e-14,
        )
        fit = fit_sigmoid(c, y, r0=r0, warn=False)
        ours = np.sum(fit.residuals**2)
        assert ours <= 2 * ref.cost * (1 + 1e-6) + 1e-12


@pytest.mark.parametrize(
    ("r0", "stop"),
    [(0.1, None), ("free", None), (0.1, 1.0)],  # stop=1.0: data end at C_mid, A not identified
)
def test_long_curve_searched_on_bins_lands_on_the_unbinned_fit(monkeypatch, r0, stop):
    # Above BIN_ABOVE points the search runs on bins and the answer is polished on every
    # point: it must be the fit the unbinned path gives, flags included.
    rng = np.random.default_rng(5)
    n = search_module.BIN_ABOVE + 5000
    c = np.geomspace(100, 3000 * (stop or 30.0), n)
    y = sigmoid(c, 0.6, 1.5, 3000.0, 0.1) + rng.normal(0, 0.05, n)
    binned = fit_sigmoid(c, y, r0=r0, warn=False)
    monkeypatch.setattr(search_module, "BIN_ABOVE", 10**12)
    full = fit_sigmoid(c, y, r0=r0, warn=False)
    for name in ("A", "B", "C_mid", "R0"):
        se = full.stderr[name] if np.isfinite(full.stderr[name]) else 1.0
        assert abs(getattr(binned, name) - getattr(full, name)) <= 1e-3 * se + 1e-12, name
    assert binned.identified == full.identified
    assert binned.identification_issues == full.identification_issues
    assert binned.success and binned.data.n == n


def test_free_r0_fit_emits_no_runtime_warning():
    # Grid cells whose logistic part is flat over the data overflow while being ruled out;
    # that used to leak as numpy RuntimeWarnings from a plain fit_sigmoid(r0="free").
    rng = np.random.default_rng(5)
    c = np.geomspace(100, 90_000, 1000)
    y = sigmoid(c, 0.6, 1.5, 3000.0, 0.1) + rng.normal(0, 0.05, c.size)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = fit_sigmoid(c, y, r0="free", warn=False)
    assert abs(fit.A - 0.6) < 0.05


def test_compute_unit_does_not_matter():
    rng = np.random.default_rng(5)
    (_a, _b, _c_mid, r0, _), c, y = draw(rng)
    f1 = fit_sigmoid(c, y, r0=r0, warn=False)
    f2 = fit_sigmoid(c * 3.6e18, y, r0=r0, warn=False)  # GPU-hours -> FLOPs-like scale
    assert f1.A == pytest.approx(f2.A, abs=1e-6)
    assert f1.B == pytest.approx(f2.B, rel=1e-5)
    assert f2.C_mid / 3.6e18 == pytest.approx(f1.C_mid, rel=1e-5)


def test_data_that_stop_before_c_mid_are_flagged():
    rng = np.random.default_rng(2)
    c = np.geomspace(10, 1000, 30)  # C_mid = 5000: the data end at a fifth of it
    y = sigmoid(c, 0.7, 1.5, 5000.0, 0.1) + rng.normal(0, 0.01, c.size)
    with pytest.warns(IdentifiabilityWarning, match="A"):
        fit = fit_sigmoid(c, y, r0=0.1)
    assert not fit.identified
    assert fit.identification_issues
    assert "NO" in fit.summary()


def test_clean_curve_is_identified_without_warning():
    c = np.geomspace(100, 1e5, 40)
    y = sigmoid(c, 0.6, 1.8, 3000.0, 0.2) + np.random.default_rng(0).normal(0, 0.005, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentifiabilityWarning)
        fit = fit_sigmoid(c, y)
    assert fit.identified


def test_robust_loss_resists_outliers():
    rng = np.random.default_rng(4)
    c = np.geomspace(100, 1e5, 50)
    y = sigmoid(c, 0.6, 1.8, 3000.0, 0.2) + rng.normal(0, 0.005, 50)
    y[[30, 35, 40, 45]] -= 0.25  # evaluation crashes
    plain = fit_sigmoid(c, y, r0=0.2, warn=False)
    robust = fit_sigmoid(c, y, r0=0.2, loss="soft_l1", warn=False)
    assert abs(robust.A - 0.6) < 0.01
    assert abs(robust.A - 0.6) < abs(plain.A - 0.6)


def test_window_excludes_points_and_counts_them():
    c = np.geomspace(100, 1e5, 40)
    y = sigmoid(c, 0.6, 1.8, 3000.0, 0.2)
    fit = fit_sigmoid(c, y + 1e-4 * np.sin(np.arange(40)), min_compute=300, max_compute=5e4)
    assert fit.n_used == int(np.sum((c >= 300) & (c <= 5e4)))
    assert fit.n_omitted == 40 - fit.n_used
    assert fit.R0 == pytest.approx(y[0] + 1e-4 * np.sin(0))  # "first" is before the window


def test_eval_size_weights_small_evaluations_less():
    rng = np.random.default_rng(9)
    c = np.geomspace(100, 1e5, 40)
    truth = sigmoid(c, 0.6, 1.8, 3000.0, 0.2)
    size = np.where(np.arange(40) % 2 == 0, 100, 10000)
    y = rng.binomial(size, truth) / size
    fit_w = fit_sigmoid(c, y, eval_size=size, r0=0.2, warn=False)
    assert abs(fit_w.A - 0.6) < 4 * fit_w.stderr["A"]
    assert fit_w.weights[1] > fit_w.weights[0]


def test_predict_and_compute_to_reach_are_inverse():
    c = np.geomspace(100, 1e5, 40)
    fit = fit_sigmoid(c, sigmoid(c, 0.6, 1.8, 3000.0, 0.2) + 1e-3 * np.cos(np.arange(40)))
    target = 0.5
    c_star = fit.compute_to_reach(target)
    assert fit.predict(c_star)[0] == pytest.approx(target, abs=1e-9)
    with pytest.raises(ValueError, match="outside the range"):
        fit.compute_to_reach(0.9)


def test_run_with_zero_compute_start_uses_it_as_r0():
    from rlscaling import Run

    c = np.r_[0.0, np.geomspace(100, 1e5, 30)]
    y = np.r_[0.12, sigmoid(c[1:], 0.6, 1.8, 3000.0, 0.12)]
    y[1:] += 1e-3 * np.sin(np.arange(30))
    fit = fit_sigmoid(Run(c, y))
    assert fit.R0 == 0.12
    assert fit.n_used == 30 and fit.data.omitted == {"zero_compute_used_as_r0": 1}
    free = fit_sigmoid(Run(c, y), r0="free")
    assert free.data.omitted == {"zero_compute": 1}


def test_a_percentage_is_bounded_at_100_as_a_pass_rate_is_at_1():
    # Observed up to its midpoint, a curve heading for 0.95 is fitted with A on its bound;
    # in percent the same data used to get an unbounded A (above 100 is no accuracy).
    c = np.geomspace(100, 2000, 12)
    y = sigmoid(c, 0.95, 2.0, 2000.0, 0.3) + np.random.default_rng(0).normal(0, 0.01, c.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frac = fit_sigmoid(c, reward=y)
        pct = fit_sigmoid(c, reward=100 * y)
        wide = fit_sigmoid(c, reward=100 * y, a_bounds=(None, None))
    assert frac.params["A"] <= 1.0 and pct.params["A"] <= 100.0
    assert pct.params["A"] == pytest.approx(100 * frac.params["A"], rel=1e-5)
    assert pct.params["R0"] == pytest.approx(100 * frac.params["R0"], rel=1e-5, abs=1e-6)
    # asked for wide bounds, it is not held at 100
    assert wide.params["A"] > 100.0
    # its bands stay in [0, 100] as a pass rate's stay in [0, 1]
    assert pct.reward_range == (0.0, 100.0) and wide.reward_range == (-np.inf, np.inf)
    far = pct.band([1e6], level=0.99, kind="observed")
    assert 0.0 <= float(far["lower"].iloc[0]) <= float(far["upper"].iloc[0]) <= 100.0
