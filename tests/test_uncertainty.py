import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import least_squares

from rlscaling import fit_sigmoid, sigmoid
from rlscaling.io.checks import InputError
from rlscaling.model.curve import curve_value
from rlscaling.model.simulate import simulate_curve
from rlscaling.model.solver import levenberg_marquardt, solve_replicates
from rlscaling.uncertainty.mcmc import MCMCWarning

C = np.geomspace(100, 1e5, 40)


@pytest.fixture(scope="module")
def fit():
    y = sigmoid(C, 0.6, 1.6, 3000.0, 0.15) + np.random.default_rng(0).normal(0, 0.01, C.size)
    return fit_sigmoid(C, y, r0=0.15)


def test_batched_replicates_equal_a_loop_of_scipy(fit):
    # Same replicate data, same start: the batch must land where scipy's trf lands, row by row.
    rng = np.random.default_rng(1)
    x = np.log(C)
    yhat = curve_value(x, fit.theta)
    ys = yhat + rng.normal(0, 0.01, (25, C.size))
    theta, _, ok = solve_replicates(
        x, ys, np.ones_like(ys), np.full(25, 0.15), fit.bounds, np.tile(fit.theta, (25, 1))
    )
    assert ok.all()
    for i in range(25):

        def resid(p, i=i):
            return curve_value(x, np.array([p[0], p[1], p[2], 0.15])) - ys[i]

        ref = least_squares(resid, fit.theta[:3], xtol=1e-14, ftol=1e-14, gtol=1e-14)
        np.testing.assert_allclose(theta[i, :3], ref.x, rtol=1e-5, atol=1e-6)


def test_a_replicate_stuck_from_its_warm_start_is_searched_again_from_the_grid(fit):
    # Replicates start at the point fit and only the ones that fail from there get the grid.
    # Row 3 starts in a corner (B near its top, C_mid at its low bound) where plain LM stops
    # at a cost hundreds of times the others'; the grid must bring it to the same minimum
    # that the point fit's start reaches.
    rng = np.random.default_rng(1)
    x = np.log(C)
    ys = curve_value(x, fit.theta) + rng.normal(0, 0.01, (25, C.size))
    ws = np.ones_like(ys)
    starts = np.tile(fit.theta, (25, 1))
    starts[3] = [1.0, 19.0, fit.bounds.lower[2] + 0.1, 0.15]
    plain = levenberg_marquardt(x, ys, ws, starts, fit.bounds)
    good = levenberg_marquardt(x, ys, ws, np.tile(fit.theta, (25, 1)), fit.bounds)
    assert plain.cost[3] > 100 * good.cost[3]  # the corner really is a trap
    theta, cost, ok = solve_replicates(x, ys, ws, np.full(25, 0.15), fit.bounds, starts)
    assert ok.all()
    np.testing.assert_allclose(theta[3], good.theta[3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cost, good.cost, rtol=1e-8)


@pytest.mark.parametrize("method", ["residual", "case", "block"])
def test_bootstrap_is_reproducible_and_brackets_the_fit(fit, method):
    b1 = fit.bootstrap(200, method=method, seed=3)
    b2 = fit.bootstrap(200, method=method, seed=3)
    np.testing.assert_array_equal(b1.theta, b2.theta)
    lo, hi = b1.interval("A", 0.9)
    assert lo < fit.A < hi
    assert b1.n_samples + b1.n_failed == 200
    band = b1.band([1e6], 0.9, kind="prediction")
    curve = b1.band([1e6], 0.9, kind="curve")
    assert (band.upper - band.lower).iloc[0] > (curve.upper - curve.lower).iloc[0]


def test_block_bootstrap_is_wider_on_correlated_noise():
    run = simulate_curve(0.6, 1.6, 3000.0, 0.15, compute=C, noise=0.01, ar1=0.8, seed=5)
    f = fit_sigmoid(run, r0=0.15)
    w_res = np.ptp(f.bootstrap(600, method="residual", seed=1).interval("A", 0.9))
    w_blk = np.ptp(f.bootstrap(600, method="block", block_length=6, seed=1).interval("A", 0.9))
    assert w_blk > 1.2 * w_res


def test_bootstrap_rejects_bad_options(fit):
    with pytest.raises(InputError, match="method must be one of"):
        fit.bootstrap(100, method="wild")
    with pytest.raises(InputError, match="n must be"):
        fit.bootstrap(3)
    with pytest.raises(InputError, match="block_length"):
        fit.bootstrap(100, method="block", block_length=0)


def test_mcmc_reproducible_with_diagnostics(fit):
    p1 = fit.mcmc(n_steps=300, extend=False, seed=2, warn=False)
    p2 = fit.mcmc(n_steps=300, extend=False, seed=2, warn=False)
    np.testing.assert_array_equal(p1.theta, p2.theta)
    d = p1.diagnostics
    assert 0 < d["acceptance_fraction"] < 1 and d["tau_max"] > 0 and d["ess_A"] > 0
    assert set(p1.samples.columns) >= {"A", "B", "C_mid", "R0", "noise_sd", "log_sigma"}


def test_mcmc_posterior_agrees_with_delta_method_on_a_clean_curve(fit):
    post = fit.mcmc(seed=1)
    assert post.diagnostics["trusted"]
    assert post.samples["A"].std() == pytest.approx(fit.stderr["A"], rel=0.3)
    assert abs(post.samples["A"].median() - fit.A) < fit.stderr["A"]


def test_short_chain_warns(fit):
    with pytest.warns(MCMCWarning, match="short"):
        fit.mcmc(n_steps=100, extend=False, seed=0)


def test_informative_prior_narrows_and_excluding_prior_is_refused(fit):
    flat = fit.mcmc(n_steps=400, extend=False, seed=0, warn=False)
    tight = fit.mcmc(
        n_steps=400, extend=False, seed=0, warn=False, priors={"A": stats.norm(fit.A, 0.001)}
    )
    assert tight.samples["A"].std() < 0.5 * flat.samples["A"].std()
    with pytest.raises(InputError, match="prior on \\['A'\\]"):
        fit.mcmc(priors={"A": stats.uniform(0.8, 0.1)})
    with pytest.raises(InputError, match="unknown keys"):
        fit.mcmc(priors={"a": stats.norm(0.6, 0.1)})


def test_binomial_likelihood_uses_eval_size():
    def post_width(n):
        run = simulate_curve(0.6, 1.6, 3000.0, 0.15, compute=C, noise=0.0, eval_size=n, seed=4)
        f = fit_sigmoid(run, r0=0.15)
        p = f.mcmc(likelihood="binomial", n_steps=500, extend=False, seed=1, warn=False)
        return np.ptp(p.interval("A", 0.9))

    assert post_width(200) > 2.0 * post_width(5000)
    with pytest.raises(InputError, match="eval_size"):
        fit_sigmoid(C, sigmoid(C, 0.6, 1.6, 3000.0, 0.15) + 0.001).mcmc(likelihood="binomial")


def test_ar1_likelihood_finds_correlation():
    run = simulate_curve(0.6, 1.6, 3000.0, 0.15, compute=C, noise=0.01, ar1=0.7, seed=8)
    f = fit_sigmoid(run, r0=0.15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = f.mcmc(likelihood="ar1", seed=0)
    lo, hi = post.interval("rho", 0.9)
    assert lo > 0.2 and hi > 0.5


def test_compute_to_reach_and_probability(fit):
    b = fit.bootstrap(300, seed=0)
    c_needed = b.compute_to_reach(0.5)
    assert np.all(c_needed > 0)
    assert np.median(c_needed) == pytest.approx(fit.compute_to_reach(0.5), rel=0.1)
    assert b.prob_at_least(0.2, at=1e6) == 1.0
    assert b.prob_at_least(0.99, at=1e6) == 0.0


def test_summary_and_to_dict(fit):
    b = fit.bootstrap(100, seed=0)
    assert "A" in b.summary() and "residual bootstrap" in b.summary()
    d = b.to_dict()
    assert d["n_samples"] == b.n_samples and "A" in d["params"]
    ax = b.plot()
    assert ax.get_xscale() == "log"


def test_to_arviz_keeps_walkers_as_chains(fit):
    az = pytest.importorskip("arviz")
    post = fit.mcmc(n_walkers=16, n_steps=300, extend=False, seed=0, warn=False)
    idata = post.to_arviz()
    assert isinstance(idata, az.InferenceData)
    a = idata.posterior["A"]
    assert a.shape == (16, post.chain.shape[0])
    np.testing.assert_allclose(np.sort(a.values.ravel()), np.sort(post.samples["A"].to_numpy()))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1}, "seed must be None or an integer >= 0"),
        ({"seed": "1"}, "seed must be"),
        ({"learning_rate": "0.5"}, "learning_rate must be"),
        ({"max_steps": 0}, "max_steps must be an integer >= 1"),
    ],
)
def test_mcmc_checks_arguments_before_sampling(fit, monkeypatch, kwargs, match):
    import emcee

    def no_sampling(*args, **kw):
        raise AssertionError("sampling started before the arguments were checked")

    monkeypatch.setattr(emcee, "EnsembleSampler", no_sampling)
    with pytest.raises(InputError, match=match):
        fit.mcmc(**kwargs)


def test_bootstrap_refuses_a_negative_seed(fit):
    with pytest.raises(InputError, match="seed must be None or an integer >= 0"):
        fit.bootstrap(100, seed=-1)


def test_mcmc_on_few_points_warns_and_caps_the_chain():
    c = np.geomspace(100, 20000, 5)
    y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + np.random.default_rng(0).normal(0, 0.01, 5)
    few = fit_sigmoid(c, y, warn=False)
    with pytest.warns(MCMCWarning, match="only 5 points.*max_steps=600"):
        post = few.mcmc(n_steps=300, seed=0)
    assert post.diagnostics["n_steps"] <= 600
    # an explicit max_steps is honoured
    longer = few.mcmc(n_steps=300, max_steps=900, seed=0, warn=False)
    assert longer.diagnostics["n_steps"] <= 900


def test_mcmc_takes_any_non_negative_seed_and_enough_walkers(fit):
    """Found by the fuzz suite: emcee's legacy RandomState refused seeds >= 2**32, and fewer
    walkers than twice the dimension failed inside emcee."""
    big = fit.mcmc(n_steps=100, extend=False, seed=2**40, warn=False)
    again = fit.mcmc(n_steps=100, extend=False, seed=2**40, warn=False)
    np.testing.assert_array_equal(big.theta, again.theta)
    with pytest.raises(InputError, match="n_walkers=8 is too few for 5 sampled parameters"):
        fit.mcmc(n_walkers=8, likelihood="ar1")


@pytest.mark.parametrize("scale", [3000.0, 1e-7, 1e49])
def test_mcmc_noise_and_walkers_follow_the_reward_scale(scale):
    """Returns in the thousands (or rewards in 1e-7 units) used to pin the noise sd to the
    pass-rate range [1e-6, 10] and to start the walkers with absolute jitter; found by the fuzz
    suite at 1e49, where the walkers collapsed and emcee refused to start."""
    rng = np.random.default_rng(3)
    y = sigmoid(C, 0.6, 1.6, 3000.0, 0.15) + rng.normal(0, 0.03, C.size)
    ref = fit_sigmoid(C, y, warn=False).mcmc(n_steps=600, extend=False, seed=4, warn=False)
    fit = fit_sigmoid(C, y * scale, warn=False)
    post = fit.mcmc(n_steps=600, extend=False, seed=4, warn=False)
    sd = np.median(post.noise_sd) / scale
    assert sd == pytest.approx(0.03, rel=0.3)
    assert sd == pytest.approx(np.median(ref.noise_sd), rel=0.2)
    lo, hi = post.interval("A", 0.9)
    assert lo < fit.A < hi and (hi - lo) / scale < 0.5


def test_a_draw_with_a_midpoint_beyond_any_float_reads_inf_without_a_warning():
    from rlscaling.uncertainty.samples import ParameterSamples

    c = np.geomspace(100, 1e5, 30)
    fit = fit_sigmoid(c, sigmoid(c, 0.6, 1.5, 2000, 0.1), r0=0.1)
    theta = np.array([[0.5, 1.0, 800.0, 0.1], [0.5, 1.0, np.log(1e4), 0.1]])
    s = ParameterSamples(theta=theta, noise_sd=np.array([0.01, 0.01]), fit=fit, method="bootstrap")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c_mid = s.samples["C_mid"].to_numpy()
    assert np.isinf(c_mid[0]) and c_mid[1] == pytest.approx(1e4)


def test_mcmc_on_a_run_stopped_long_before_its_midpoint_says_its_posterior_is_the_prior():
    """The run ends at C_mid / 13, where the curve has barely risen: A is not measured. The
    posterior under the Jeffreys prior (the former default) was (0.08, 0.10) around a true
    A of 0.6 and marked trusted; the default one must span the plausible range and say
    that it is the prior speaking."""
    c = np.geomspace(100, 1500, 15)
    y = sigmoid(c, 0.6, 1.5, 20000.0, 0.1) + np.random.default_rng(0).normal(0, 0.01, 15)
    fit = fit_sigmoid(c, y, warn=False)
    assert not fit.identified
    with pytest.warns(MCMCWarning, match="mostly the prior"):
        post = fit.mcmc(n_steps=800, extend=False, seed=0)
    lo, hi = post.interval("A", 0.9)
    assert lo < 0.6 < hi
    d = post.diagnostics
    assert d["prior_dominated"] and not d["identified"] and not d["trusted"]
    assert d["A_span_of_bounds"] > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jeff = fit.mcmc(n_steps=800, extend=False, seed=0, jeffreys=True)
    assert jeff.interval("A", 0.9)[1] < 0.3  # what the default no longer does


def _outlier_curve(seed=3):
    c = np.geomspace(100, 2e4, 30)
    y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + np.random.default_rng(seed).normal(0, 0.015, 30)
    y[[12, 20]] -= 0.25
    return c, y


@pytest.mark.parametrize("method", ["residual", "block"])
@pytest.mark.parametrize("loss", ["cauchy", "soft_l1"])
def test_robust_bootstrap_is_centred_on_the_robust_fit(loss, method):
    """Residuals were centred by their mean, which two outliers pull down by 0.017: every
    replicate's inliers moved up and the 90% interval of A, [0.611, 0.647] under Cauchy,
    excluded the fit's own 0.5996."""
    c, y = _outlier_curve()
    fit = fit_sigmoid(c, y, loss=loss, r0=0.1)
    boot = fit.bootstrap(400, method=method, seed=0)
    lo, hi = boot.interval("A", 0.9)
    assert lo < fit.A < hi and lo < 0.6 < hi
    a = boot.samples["A"]
    assert abs(a.median() - fit.A) < 0.25 * a.std()
    assert np.median(boot.noise_sd) == pytest.approx(fit.noise_sd, rel=0.3)
    assert fit.noise_sd < 0.025  # the evaluation noise (0.015), not the outliers' 0.07


def test_bootstrap_of_few_points_warns_and_is_as_wide_as_the_delta_method():
    """Five points leave two degrees of freedom: the replicates treated the noise level as
    known, and the 90% interval of A was a third of the delta method's Student-t one."""
    from rlscaling.uncertainty.bootstrap import BootstrapWarning

    c = np.geomspace(100, 20000, 5)
    y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + np.random.default_rng(4).normal(0, 0.02, 5)
    fit = fit_sigmoid(c, y, r0=0.1)
    with pytest.warns(BootstrapWarning, match="only 5 points"):
        boot = fit.bootstrap(1000, seed=0)
    ratio = np.ptp(boot.interval("A", 0.9)) / np.ptp(fit.interval("A", 0.9))
    assert 0.75 < ratio < 1.3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.bootstrap(100, seed=0, warn=False)
    with pytest.raises(InputError, match=r"method='case' needs at least 5 points.*got 4"):
        fit_sigmoid(c[:4], y[:4], r0=0.1, warn=False).bootstrap(100, method="case")


def test_a_fixed_r0_reads_fixed_in_the_bootstrap_summary(fit):
    boot = fit.bootstrap(200, seed=0)
    assert boot.to_frame().loc["R0", "sd"] == 0
    r0_row = next(ln for ln in boot.summary().splitlines() if ln.startswith("  R0 "))
    assert "fixed" in r0_row
