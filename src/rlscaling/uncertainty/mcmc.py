"""Posterior sampling of the sigmoid with emcee.

Sampled vector: ``(A, ln B, ln C_mid[, R0], noise parameters...)``. Default priors are uniform
within the fit's bounds for A, ln C_mid and a free R0, uniform in ``ln B`` (B is a rate; a flat
prior on its log does not favour steep or shallow curves), and uniform in the log of the noise
scale. When R0 was read off the first evaluation (``r0="first"``), R0 is sampled with a normal
prior centred there with that evaluation's noise sd (``fit.stderr["R0"]``), so its measurement
error reaches the intervals.

Where the data do not identify the curve (a run stopped before its midpoint), the posterior
is mostly the prior and the bounds: the result says so (``diagnostics["prior_dominated"]``,
an :class:`MCMCWarning`) and is not marked ``trusted``, however well the chain mixed.

The log-probability is vectorised over walkers (``vectorize=True``): one call evaluates every
walker's curve as one ``(walkers, points)`` array.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rlscaling.io.checks import InputError, check_int, check_real, check_seed
from rlscaling.model.curve import curve_jacobian, curve_value
from rlscaling.model.likelihood import Binomial, Likelihood, get_likelihood
from rlscaling.uncertainty.samples import ParameterSamples

if TYPE_CHECKING:
    import emcee

    from rlscaling.fit.result import SigmoidFit

PriorSpec = Any  # a frozen scipy.stats distribution (has .logpdf) or a callable log-density
PRIOR_KEYS = ("A", "B", "C_mid", "R0")
MIN_TAU_MULTIPLE = 50  # emcee's guidance: chains longer than ~50 autocorrelation times
# With fewer points than this the posterior is mostly prior and bounds: chains mix slowly
# (autocorrelation times of 70+ steps on 5 points against ~18 on 30), so extending them to 50
# autocorrelation times costs several times a normal run and buys no information.
FEW_POINTS = 8
MAX_STEPS_DEFAULT = 20000


# The posterior of A counts as mostly prior when its 90% interval spans more than this share
# of the range A may take (its bounds): the data then narrowed A by less than half.
PRIOR_DOMINATED_SPAN = 0.5


class MCMCWarning(UserWarning):
    """The chain is too short or mixes poorly, or the posterior is mostly the prior: its
    intervals should not be trusted as measurements."""


def _log_density(spec: PriorSpec, name: str) -> Callable[[NDArray], NDArray]:
    if hasattr(spec, "logpdf"):
        return lambda v: np.asarray(spec.logpdf(v), dtype=float)
    if callable(spec):
        return lambda v: np.asarray(spec(v), dtype=float)
    raise InputError(
        f"priors[{name!r}] must be a scipy.stats distribution (e.g. scipy.stats.norm(0.6, 0.05)) "
        f"or a callable returning a log-density, got {type(spec).__name__}"
    )


@dataclass(frozen=True, eq=False)
class MCMCResult(ParameterSamples):
    """Posterior draws; :class:`~rlscaling.uncertainty.samples.ParameterSamples` has the interface.

    Attributes
    ----------
    chain : numpy.ndarray
        ``(steps, walkers, dim)`` chain after burn-in and thinning, in sampled coordinates.
    likelihood : Likelihood
        The noise model used.
    """

    chain: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0, 0)))
    names: tuple[str, ...] = ()
    likelihood: Likelihood = field(default_factory=Likelihood)
    eval_size_for_prediction: float | None = None

    def predictive_samples(
        self,
        compute: ArrayLike,
        seed: int | np.random.Generator | None = 0,
        eval_size: float | None = None,
    ) -> NDArray[np.float64]:
        """Posterior-predictive draws of a new evaluation at ``compute``.

        For binomial likelihoods ``eval_size`` (default: the median evaluation size of the
        data) sets how noisy that new evaluation is.
        """
        rng = np.random.default_rng(seed)
        mu = self.curve_samples(compute)
        extra = (
            np.column_stack([self.extra[k] for k in self.likelihood.extra_names])
            if (self.likelihood.extra_names)
            else np.zeros((mu.shape[0], 0))
        )
        n_eval = eval_size if eval_size is not None else self.eval_size_for_prediction
        return self.likelihood.draw(rng, mu, extra, n_eval)

    def to_arviz(self) -> Any:
        """The chain as ``arviz.InferenceData`` (needs ``pip install arviz``)."""
        try:
            import arviz as az
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_arviz needs arviz: pip install arviz") from exc
        post = {n: np.swapaxes(self.chain[:, :, i], 0, 1) for i, n in enumerate(self.names)}
        return az.from_dict(posterior=post)


def mcmc(
    fit: SigmoidFit,
    *,
    likelihood: str | Likelihood = "gaussian",
    priors: Mapping[str, PriorSpec] | None = None,
    n_walkers: int = 32,
    n_steps: int = 1000,
    extend: bool = True,
    max_steps: int | None = None,
    seed: int | None = 0,
    progress: bool = False,
    warn: bool = True,
    jeffreys: bool = False,
    learning_rate: float = 0.85,
) -> MCMCResult:
    """Sample the posterior of the fit's parameters with emcee's ``EnsembleSampler``.

    Parameters
    ----------
    fit : SigmoidFit
        Point fit: supplies the data, bounds and the walkers' starting point.
    likelihood : {"gaussian", "student_t", "ar1", "binomial", "beta_binomial"} or Likelihood
        Noise model. ``binomial``/``beta_binomial`` need the evaluation size (``eval_size`` in
        the fit) and rewards in [0, 1]; ``ar1`` allows correlated consecutive evaluations.
    priors : dict, optional
        Per-parameter priors on the natural scale, keyed by ``"A"``, ``"B"``, ``"C_mid"``,
        ``"R0"``: a scipy.stats frozen distribution or a callable log-density. They multiply
        the default bounded-uniform priors.
    n_walkers, n_steps : int
        Ensemble size and steps per run.
    extend : bool, default True
        Keep sampling (up to ``max_steps``) until the chain is longer than 50 autocorrelation
        times.
    max_steps : int, optional
        Longest chain ``extend`` may grow to; default 20,000 steps, or ``2 * n_steps`` when the
        fit has fewer than 8 points (there the chain mixes slowly and the posterior is mostly
        the prior, so a long chain costs time without adding information; an
        :class:`MCMCWarning` says so).
    seed : int or None
        The same seed gives the same chain.
    progress : bool
        Show emcee's progress bar.
    warn : bool
        Emit an :class:`MCMCWarning` when the chain is too short to trust, or when the
        posterior is mostly the prior (the fit is not identified, or the 90% interval of A
        spans more than half of A's bounds).
    jeffreys : bool, default False
        Multiply the priors by the Jeffreys prior of the curve, ``sqrt(det(J' W J))``. It is
        large where the data determine the curve best, which for a run stopped before its
        midpoint means curves that already saturate inside the data: there it pulls A down
        towards the last observed rewards. In simulation (R0 known; with ``learning_rate``
        0.75, with which it was calibrated) 80% / 90% intervals of A covered the truth
        23% / 37% of the time on runs stopped at half their midpoint (60 curves) and
        67% / 81% on runs stopped at it (67 curves), against 95% / 95% and 88% / 94% with
        the flat default; on runs that go 3-10x past the midpoint the two agree.
    learning_rate : float, default 0.85
        Power on the likelihood (a generalised, "tempered" posterior; the idea of calibrating
        it is from Syring and Martin, 2019, "Calibrating general posterior credible regions",
        Biometrika). In the simulation study of ``tests/test_calibration.py`` (200 curves of
        30 points, stopped at 1, 3 and 10 times C_mid; two seeds) the flat-prior posterior
        with 0.85 covered A 79-83% / 90-93% at nominal 80% / 90%; with 1.0 (the plain
        Bayesian posterior) 76.5% / 88%, with 0.75 83-85.5% / 93-95.5%.

    Returns
    -------
    MCMCResult

    Examples
    --------
    >>> from scipy import stats
    >>> from rlscaling import fit_sigmoid, load_example
    >>> fit = fit_sigmoid(load_example("scalerl_like"), warn=False)
    >>> post = fit.mcmc(n_steps=600, seed=1, extend=False, warn=False)
    >>> lo, hi = post.interval("A", 0.9)
    >>> bool(lo < fit.A < hi)
    True
    """
    lik = get_likelihood(likelihood)
    # Checked before any sampling: a bad argument must not cost a chain's run time first.
    check_seed(seed)
    check_real(learning_rate, "learning_rate")
    if not 0 < learning_rate <= 1:
        raise InputError(f"learning_rate must be in (0, 1], got {learning_rate!r}")
    eta = float(learning_rate)
    data = fit.data
    x, y, w = data.log_compute, data.reward, fit.weights
    n_eval = data.eval_size
    if isinstance(lik, Binomial):
        if n_eval is None:
            raise InputError(
                f"likelihood={lik.name!r} needs the evaluation size of each point: pass "
                "eval_size=... to fit_sigmoid (prompts x samples per prompt)"
            )
        if np.any((y < 0) | (y > 1)):
            raise InputError(f"likelihood={lik.name!r} needs rewards in [0, 1] (pass rates)")
    if not (isinstance(n_walkers, int) and n_walkers >= 8 and n_walkers % 2 == 0):
        raise InputError(f"n_walkers must be an even integer >= 8, got {n_walkers!r}")
    if not (isinstance(n_steps, int) and n_steps >= 100):
        raise InputError(f"n_steps must be an integer >= 100, got {n_steps!r}")
    few = data.n < FEW_POINTS
    if max_steps is None:
        max_steps = 2 * n_steps if few else MAX_STEPS_DEFAULT
    check_int(max_steps, "max_steps", 1)
    if warn and few:
        warnings.warn(
            f"MCMC on only {data.n} points: the posterior is mostly the prior and the bounds, "
            f"chains mix slowly, and its intervals say little; the chain is capped at "
            f"max_steps={max_steps} (pass max_steps= to sample longer). More evaluations help "
            "far more than more steps.",
            MCMCWarning,
            stacklevel=3,
        )
    priors = dict(priors or {})
    unknown = set(priors) - set(PRIOR_KEYS)
    if unknown:
        raise InputError(f"priors has unknown keys {sorted(unknown)}; use {PRIOR_KEYS}")

    b = fit.bounds
    r0_sampled = bool(b.free[3]) or fit.r0_mode == "first"
    names = ["A", "log_B", "log_C_mid"] + (["R0"] if r0_sampled else []) + list(lik.extra_names)
    if n_walkers < 2 * len(names):
        raise InputError(
            f"n_walkers={n_walkers} is too few for {len(names)} sampled parameters ({names}): "
            f"emcee's ensemble moves need at least {2 * len(names)} (twice the dimension)"
        )
    # Reward spread: the noise bounds and the walkers' jitter are set relative to it, so
    # rewards of 1e4 or 1e-9 are sampled as well as pass rates.
    y_span = float(np.ptp(y)) if np.ptp(y) > 0 else 1.0
    e_lo, e_hi = lik.extra_bounds(y_span)
    r0_lo, r0_hi = (b.lower[3], b.upper[3]) if b.free[3] else (-np.inf, np.inf)
    if fit.pass_rate and r0_sampled:
        r0_lo, r0_hi = 0.0, 1.0
    lower = np.r_[b.lower[0], np.log(b.lower[1]), b.lower[2], [r0_lo] * r0_sampled, e_lo]
    upper = np.r_[b.upper[0], np.log(b.upper[1]), b.upper[2], [r0_hi] * r0_sampled, e_hi]
    r0_fixed_value = fit.R0
    if fit.r0_mode == "first" and fit.r0_in_data and not b.free[3]:
        # R0 was read off the first fitted point: that evaluation is R0's measurement (the
        # normal prior below). Kept in the likelihood as well, it would count twice and
        # make R0 (and through it A) look better measured than one evaluation can.
        x, y, w = x[1:], y[1:], w[1:]
        n_eval = None if n_eval is None else n_eval[1:]
    # The noise sd of the evaluation R0 was read from (r0="first"), floored so that a
    # noiseless curve still gives the walkers room.
    first_prior_sd = max(fit.r0_noise_sd, 1e-6 * min(y_span, 1.0))
    dens = {k: _log_density(v, k) for k, v in priors.items()}
    n_extra = len(lik.extra_names)

    def unpack(z: NDArray) -> tuple[NDArray, NDArray]:
        r0 = z[:, 3] if r0_sampled else np.full(z.shape[0], r0_fixed_value)
        theta = np.column_stack([z[:, 0], np.exp(z[:, 1]), z[:, 2], r0])
        extra = z[:, z.shape[1] - n_extra :] if n_extra else np.zeros((z.shape[0], 0))
        return theta, extra

    def log_prior(z: NDArray, theta: NDArray) -> NDArray:
        lp = np.zeros(z.shape[0])
        if fit.r0_mode == "first" and not b.free[3]:
            lp += -0.5 * ((theta[:, 3] - r0_fixed_value) / first_prior_sd) ** 2
        for k, f in dens.items():
            if k == "A":
                lp += f(theta[:, 0])
            elif k == "B":
                lp += f(theta[:, 1]) + z[:, 1]  # Jacobian of B = exp(log_B)
            elif k == "C_mid":
                lp += f(np.exp(theta[:, 2])) + theta[:, 2]  # Jacobian of C_mid = exp(m)
            elif k == "R0":
                lp += f(theta[:, 3])
        if jeffreys:
            lp += jeffreys_log_density(theta)
        return lp

    free_cols = np.flatnonzero(np.r_[True, True, True, r0_sampled])

    def jeffreys_log_density(theta: NDArray) -> NDArray:
        # Jeffreys prior of the curve, sqrt(det(J' W J)), in the sampled coordinates
        # (A, ln B, ln C_mid, R0). It is invariant to how the curve is parametrised and makes
        # credible intervals of a nonlinear fit closer to their nominal frequentist coverage
        # than a flat prior does (probability matching).
        jac = curve_jacobian(x, theta) * np.sqrt(w)[None, :, None]
        jac[..., 1] *= theta[:, 1:2]  # d/d(ln B) = B d/dB
        jf = jac[..., free_cols]
        sign, logdet = np.linalg.slogdet(np.swapaxes(jf, 1, 2) @ jf)
        return np.where(sign > 0, 0.5 * logdet, -np.inf)

    def log_prob(z: NDArray) -> NDArray:
        z = np.atleast_2d(z)
        inside = np.all((z >= lower) & (z <= upper), axis=1)
        out = np.full(z.shape[0], -np.inf)
        if not inside.any():
            return out
        zi = z[inside]
        theta, extra = unpack(zi)
        lp = log_prior(zi, theta)
        mu = curve_value(x, theta)
        with np.errstate(all="ignore"):
            ll = lik.log_like(y, mu, w, n_eval, extra)
        total = lp + eta * ll
        out[inside] = np.where(np.isfinite(total), total, -np.inf)
        return out

    z_hat = np.r_[
        fit.A,
        np.log(fit.B),
        np.log(fit.C_mid),
        [fit.R0] * r0_sampled,
        lik.initial_extra(fit.noise_sd, y_span),
    ]
    with np.errstate(invalid="ignore"):  # infinite bounds give inf - inf before np.where
        inner_lo = np.where(np.isfinite(lower), lower + 1e-9 * (1 + np.abs(lower)), -np.inf)
        inner_hi = np.where(np.isfinite(upper), upper - 1e-9 * (1 + np.abs(upper)), np.inf)
    z_hat = np.clip(z_hat, inner_lo, inner_hi)
    if not np.isfinite(log_prob(z_hat[None, :])[0]):
        bad = [k for k, f in dens.items() if not np.isfinite(f(np.atleast_1d(fit.params[k]))[0])]
        raise InputError(
            f"the prior on {bad or 'the parameters'} gives zero density at the point fit "
            f"({', '.join(f'{k}={fit.params[k]:.4g}' for k in bad or PRIOR_KEYS)}); widen the "
            "prior or check its units (priors are on the natural scale, C_mid in compute units)"
        )
    rng = np.random.default_rng(seed)
    se = fit.stderr
    scale = np.r_[
        se["A"],
        se["B"] / fit.B,
        se["log_C_mid"],
        [max(se["R0"], first_prior_sd)] * r0_sampled,
        np.full(n_extra, 0.1),
    ]
    # Where a standard error is unknown, jitter by 1% of the reward range (A, R0) or 0.01 (the
    # log-scale and noise coordinates): an absolute 0.01 is lost in the rounding of rewards
    # of 1e49 and leaves the walkers on top of each other.
    fallback = np.r_[
        0.01 * y_span, 0.01, 0.01, [0.01 * y_span] * r0_sampled, np.full(n_extra, 0.01)
    ]
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, fallback)
    scale = np.minimum(
        scale, np.where(np.isfinite(upper - lower), 0.05 * (upper - lower), 100 * fallback)
    )
    p0 = z_hat + rng.normal(size=(n_walkers, z_hat.size)) * np.maximum(scale, 1e-4 * fallback)
    p0 = np.clip(p0, inner_lo, inner_hi)
    for _ in range(100):
        bad = ~np.isfinite(log_prob(p0))
        if not bad.any():
            break
        p0[bad] = z_hat + 0.5 * (p0[bad] - z_hat)

    # emcee (with h5py and scipy.stats behind it) loads here, not when the library is
    # imported: a point fit never needs it, and it costs about half a second.
    import emcee

    # Differential-evolution moves mix several times faster than the default stretch move on
    # this posterior (A, B and C_mid are strongly correlated): measured tau ~17 vs ~55 steps.
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(n_walkers, z_hat.size, log_prob, vectorize=True, moves=moves)
    # emcee draws from a legacy RandomState, which takes seeds below 2**32 only; a larger seed
    # is folded into that range through a SeedSequence (still: same seed, same chain).
    legacy = (
        seed
        if seed is None or seed < 2**32
        else int(np.random.SeedSequence(seed).generate_state(1)[0])
    )
    sampler.random_state = np.random.RandomState(legacy).get_state()
    # emcee checks the starting ensemble's condition number on the raw coordinates; with A and
    # R0 on a reward scale far from that of ln B (returns of 1e4, or 1e49 in the fuzz suite) it
    # is huge although the walkers are well spread, and emcee refuses. The DE moves are affine
    # invariant, so the check is done here on standardised coordinates instead.
    spread = p0.std(axis=0)
    std = (p0 - p0.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    if np.any(spread == 0) or np.linalg.cond(np.cov(std, rowvar=False)) > 1e8:
        raise InputError(
            f"the MCMC walkers could not be spread around the point fit (parameters "
            f"{[nm for nm, sd in zip(names, spread, strict=True) if sd == 0] or names} are pinned"
            " by their bounds); widen a_bounds/b_bounds or use fit.bootstrap()"
        )
    state = sampler.run_mcmc(p0, n_steps, progress=progress, skip_initial_state_check=True)
    total = n_steps
    tau = _tau(sampler)
    while extend and total < MIN_TAU_MULTIPLE * np.max(tau) and total < max_steps:
        more = min(max(n_steps, int(MIN_TAU_MULTIPLE * np.max(tau)) - total), max_steps - total)
        state = sampler.run_mcmc(state, more, progress=progress)
        total += more
        tau = _tau(sampler)
    discard = int(min(total // 2, max(2 * np.max(tau), total // 5)))
    thin = max(1, int(np.min(tau) / 2))
    chain = sampler.get_chain(discard=discard, thin=thin)
    flat = chain.reshape(-1, chain.shape[-1])
    theta, extra = unpack(flat)
    extra_d = {nm: extra[:, i] for i, nm in enumerate(lik.extra_names)}
    n_used = (total - discard) * n_walkers
    ess = {nm: float(n_used / t) for nm, t in zip(names, tau, strict=True)}
    acc = float(np.mean(sampler.acceptance_fraction))
    n_pred = None if n_eval is None else float(np.median(n_eval))
    mu_last = curve_value(x[-1:], theta)
    noise_sd = lik.noise_sd(mu_last, extra, n_pred)[:, 0]
    converged = total >= MIN_TAU_MULTIPLE * np.max(tau) and 0.1 <= acc <= 0.8
    a_lo, a_hi = b.lower[0], b.upper[0]
    if fit.pass_rate:
        a_lo, a_hi = max(a_lo, 0.0), min(a_hi, 1.0)
    a_q = np.quantile(theta[:, 0], [0.05, 0.95])
    a_span = float((a_q[1] - a_q[0]) / (a_hi - a_lo)) if np.isfinite(a_hi - a_lo) else 0.0
    # Not identified by the data (see SigmoidFit.identification_issues), or A barely
    # narrowed from its bounds: what the intervals show is then the prior, not a measurement.
    prior_dominated = (not fit.identified) or a_span > PRIOR_DOMINATED_SPAN
    trusted = converged and not prior_dominated
    diagnostics = {
        "likelihood": lik.name,
        "n_walkers": n_walkers,
        "n_steps": total,
        "discard": discard,
        "thin": thin,
        "acceptance_fraction": acc,
        "tau_max": float(np.max(tau)),
        "ess_A": ess["A"],
        "converged": bool(converged),
        "identified": bool(fit.identified),
        "A_span_of_bounds": a_span,
        "prior_dominated": bool(prior_dominated),
        "trusted": bool(trusted),
    }
    if warn and prior_dominated:
        why = (
            "; ".join(fit.identification_issues)
            if not fit.identified
            else f"the 90% interval of A spans {a_span:.0%} of its bounds"
        )
        warnings.warn(
            f"MCMC posterior is mostly the prior and the bounds ({why}): its intervals show "
            "what the prior allows, not what the data measured; evaluate the run further "
            "before reading A off it",
            MCMCWarning,
            stacklevel=3,
        )
    if warn and not converged:
        warnings.warn(
            f"MCMC chain of {total} steps is short for an autocorrelation time of "
            f"{np.max(tau):.0f} steps (want > {MIN_TAU_MULTIPLE}x) or acceptance {acc:.2f} is "
            "off; raise n_steps/max_steps before trusting its intervals",
            MCMCWarning,
            stacklevel=3,
        )
    return MCMCResult(
        theta=theta,
        noise_sd=noise_sd,
        fit=fit,
        method=f"MCMC ({lik.name})",
        seed=seed,
        extra=extra_d,
        diagnostics={**diagnostics, "tau": dict(zip(names, map(float, tau), strict=True))},
        chain=chain,
        names=tuple(names),
        likelihood=lik,
        eval_size_for_prediction=n_pred,
    )


def _tau(sampler: emcee.EnsembleSampler) -> NDArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau = sampler.get_autocorr_time(quiet=True, tol=0)
    return np.where(np.isfinite(tau) & (tau > 0), tau, 1.0)
