"""Predictive draws of a run's future: sigmoid, plateau, and their calibrated average.

Why an average: on real learning curves a free sigmoid fitted to half a run often extrapolates
growth that never comes (many runs plateau early, some decline after a peak), and carrying the
last value forward then beats it. A "plateau already reached" model is the formal version of
that baseline. Which of the two a run follows is judged on the run itself: both are refitted on
its earlier points and scored on its later observed points (leave-future-out), and the weights
are shrunk toward defaults learned on a corpus of real curves (:mod:`rlscaling.prior`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from rlscaling.fit.fitting import fit_sigmoid, noise_from_differences
from rlscaling.forecasting.draws import CurveDraws
from rlscaling.model.curve import curve_jacobian

if TYPE_CHECKING:
    from rlscaling.io.runs import Run


def _level(y: NDArray, k: int | None = None) -> tuple[float, float, int]:
    """Recent level (mean of the last ``k`` points) with its standard error and ``k``."""
    n = y.size
    if k is None:
        k = int(np.clip(round(n / 4), 3, 10))
    k = min(k, n)
    tail = y[-k:]
    sd = noise_from_differences(y)
    return float(tail.mean()), sd / np.sqrt(k), k


def plateau_draws(
    run: Run, c: NDArray, n: int, rng: np.random.Generator, cfg: Any, average_of: int = 1
) -> CurveDraws:
    """The run stays at its recent level; uncertainty = level error + drift growing with horizon."""
    y = run.reward
    level, se, _ = _level(y, cfg.plateau_k)
    noise = max(noise_from_differences(y), 1e-12)
    h = np.log(c / run.compute.max()).clip(0, None)  # horizon in e-folds of compute
    drift = cfg.plateau_drift * noise * np.sqrt(h)
    curve = level + rng.normal(size=(n, 1)) * se + rng.normal(size=(n, c.size)) * drift
    obs = curve + rng.normal(size=curve.shape) * noise / np.sqrt(average_of)
    return CurveDraws(c, curve, obs, "plateau", {"plateau": 1.0})


def sigmoid_draws(
    run: Run,
    c: NDArray,
    n: int,
    rng: np.random.Generator,
    cfg: Any,
    *,
    mcmc: bool = False,
    average_of: int = 1,
) -> CurveDraws:
    """Bootstrap (or MCMC) draws of the sigmoid fitted to the run, plus evaluation noise."""
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_sigmoid(run, r0=cfg.r0, warn=False)
        seed = int(rng.integers(2**31))
        if mcmc:
            samples = fit.mcmc(seed=seed, warn=False)
        else:
            samples = fit.bootstrap(n, method="block", seed=seed)
    if not fit.identified:
        notes.append("sigmoid not identified: " + "; ".join(fit.identification_issues))
    curve = samples.curve_samples(c)
    idx = rng.integers(0, curve.shape[0], size=n)
    curve = curve[idx]
    noise = samples.noise_sd[idx][:, None] / np.sqrt(average_of)
    obs = curve + rng.normal(size=curve.shape) * noise
    return CurveDraws(
        c, curve, obs, "sigmoid", {"sigmoid": 1.0}, tuple(notes), samples.samples.iloc[idx]
    )


def residual_persistence(resid: NDArray) -> float:
    """Lag-one autocorrelation of fit residuals, clipped to [0, 1].

    It sets how much of the last residual carries into the future: smooth curves whose misfit
    persists (rho near 1) keep their last value; noisy plateaus (rho near 0) are smoothed.
    """
    r = resid - resid.mean()
    if r.size < 6 or not np.any(r):
        return 0.5
    rho = float(np.sum(r[1:] * r[:-1]) / np.sum(r * r))
    return float(np.clip(rho, 0.0, 1.0))


def increment_parts(run: Run, c: NDArray, cfg: Any) -> dict[str, Any]:
    """Fit the sigmoid and split its forecast into a smoothed current level and a future gain.

    ``base`` is the fitted value at the last observed compute plus the persistent share of the
    last residual; ``gain`` is the fitted curve's rise from there to ``c``, clipped to
    ``gain_clip`` times the observed range (a free sigmoid fitted to part of a run can
    extrapolate growth far beyond anything the run has shown). ``gain_sd`` is its delta-method
    standard error.
    """
    x_now = float(run.compute.max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_sigmoid(run, r0=cfg.r0, warn=False)
    now = float(fit.predict([x_now])[0])
    resid = fit.residuals
    rho = residual_persistence(resid)
    base = now + rho * float(resid[-1])
    span = max(float(np.ptp(run.reward)), 1e-12)
    raw = fit.predict(c) - now
    gain = np.clip(raw, -cfg.gain_clip * span, cfg.gain_clip * span)
    jac = curve_jacobian(np.log(c), fit.theta) - curve_jacobian(np.log([x_now]), fit.theta)
    cov = np.where(np.isfinite(fit.covariance), fit.covariance, 0.0)
    var = np.einsum("ni,ij,nj->n", jac, cov, jac)
    gain_sd = np.sqrt(np.clip(var, 0, None))
    gain_sd = np.minimum(np.where(np.isfinite(gain_sd), gain_sd, span), cfg.gain_clip * span)
    return {
        "fit": fit,
        "base": base,
        "gain": gain,
        "gain_sd": gain_sd,
        "rho": rho,
        "span": span,
        "clipped": bool(np.any(np.abs(raw) > cfg.gain_clip * span)),
    }


def lfo_errors(run: Run, cfg: Any) -> tuple[NDArray, NDArray]:
    """Leave-future-out errors of the two point forecasts on the run itself.

    For cut points in the second half of the observed run, the increment model is refitted on
    the points up to the cut and asked for the mean of the last few observed points, with
    (``e_sig``: level + sigmoid gain) and without (``e_pl``: level only) the gain.
    """
    x, y = run.compute, run.reward
    m = y.size
    target_k = min(3, max(1, m // 6))
    target = float(y[-target_k:].mean())
    c_target = np.array([float(np.exp(np.mean(np.log(x[-target_k:]))))])
    cuts = sorted({round(m * f) for f in cfg.lfo_fractions})
    e_sig, e_pl = [], []
    for j in cuts:
        if j < 5 or j > m - target_k:
            continue
        try:
            parts = increment_parts(run.select(np.arange(m) < j), c_target, cfg)
        except ValueError:
            continue
        e_sig.append(parts["base"] + float(parts["gain"][0]) - target)
        e_pl.append(parts["base"] - target)
    return np.array(e_sig), np.array(e_pl)


def stacking_weight(e_sig: NDArray, e_pl: NDArray, prior_w: float, strength: float) -> float:
    """Weight of the sigmoid minimising squared error of the mix, shrunk toward ``prior_w``.

    ``strength`` is the pseudo-number of cut points the default is worth.
    """
    if e_sig.size == 0:
        return prior_w
    d = e_pl - e_sig
    num = float(np.sum(e_pl * d)) + strength * prior_w * float(np.mean(d**2) + 1e-12)
    den = float(np.sum(d**2)) + strength * float(np.mean(d**2) + 1e-12)
    return float(np.clip(num / den, 0.0, 1.0))


def decline_note(run: Run) -> str | None:
    """A note when the run has fallen clearly below an earlier peak.

    Compares the mean of the last fifth of the run with the best mean of any earlier window of
    the same length; the drop must exceed three standard errors of a difference of two such
    means, so noise around a plateau does not trigger it.
    """
    y = run.reward
    if y.size < 10:
        return None
    k = max(3, y.size // 5)
    smooth = np.convolve(y, np.ones(k) / k, mode="valid")
    peak = int(np.argmax(smooth[:-k])) if smooth.size > k else 0
    drop = smooth[peak] - smooth[-1]
    noise = noise_from_differences(y)
    if drop > 3 * noise * np.sqrt(2.0 / k) and drop > 0.02 * (np.ptp(y) + 1e-12):
        return (
            f"the run has declined from its peak (smoothed drop {drop:.3g}); a sigmoid assumes "
            "it keeps rising, so the forecast leans on the recent level"
        )
    return None


def draw(
    run: Run,
    c: NDArray,
    *,
    method: str,
    n_samples: int,
    seed: int | None,
    prior: Any = None,
    average_of: int = 1,
) -> CurveDraws:
    """Dispatch to a method; ``"auto"`` mixes sigmoid and plateau draws (see module doc).

    ``average_of`` is the number of evaluations whose mean the observed draws stand for (their
    evaluation noise shrinks by its square root).
    """
    cfg = prior  # the caller resolves the default (forecasting.predictive_curves)
    rng = np.random.default_rng(seed)
    if method == "plateau":
        return plateau_draws(run, c, n_samples, rng, cfg, average_of)
    if method in ("sigmoid", "mcmc"):
        return sigmoid_draws(
            run, c, n_samples, rng, cfg, mcmc=method == "mcmc", average_of=average_of
        )

    comp = auto_components(run, c, cfg)
    comp["average_of"] = average_of
    point, curve_sd, obs_sd = auto_point_sd(comp, cfg)
    # Student-t draws: forecast errors on real curves have heavier tails than a gaussian.
    t = rng.standard_t(cfg.tail_dof, size=(n_samples, 1))
    t2 = rng.standard_t(cfg.tail_dof, size=(n_samples, 1))
    curve = point + t * curve_sd
    obs = point + t * curve_sd + t2 * np.sqrt(np.clip(obs_sd**2 - curve_sd**2, 0, None))
    w = comp["w"]
    return CurveDraws(
        c,
        curve,
        obs,
        "auto",
        {"sigmoid": round(w, 4), "plateau": round(1 - w, 4)},
        tuple(comp["notes"]),
        pd.DataFrame([comp["fit"].params] * n_samples),
    )


def recent_slope(run: Run) -> float:
    """Least-squares slope of reward against ln(compute) over the last third of the run.

    Its size sets the scale of change still possible: a run rising fast can move far in the next
    doubling of compute even when its evaluations are smooth, a flat one cannot.
    """
    k = max(4, len(run) // 3)
    x = np.log(run.compute[-k:])
    y = run.reward[-k:]
    xc = x - x.mean()
    den = float(np.sum(xc * xc))
    return float(np.sum(xc * (y - y.mean())) / den) if den > 0 else 0.0


def auto_components(run: Run, c: NDArray, cfg: Any) -> dict[str, Any]:
    """Everything the ``"auto"`` forecast needs that does not depend on tuned scales."""
    notes: list[str] = []
    e_sig, e_pl = lfo_errors(run, cfg)
    w = stacking_weight(e_sig, e_pl, cfg.prior_weight, cfg.prior_strength)
    dn = decline_note(run)
    if dn:
        notes.append(dn)
        w = min(w, cfg.decline_max_weight)
    parts = increment_parts(run, c, cfg)
    fit = parts["fit"]
    if not fit.identified:
        notes.append("sigmoid not identified: " + "; ".join(fit.identification_issues))
    if parts["clipped"]:
        notes.append(
            f"the sigmoid's extrapolated gain was capped at {cfg.gain_clip:g}x the observed range"
        )
    return {
        **parts,
        "slope": recent_slope(run),
        "w": w,
        "e_sig": e_sig,
        "e_pl": e_pl,
        "declining": dn is not None,
        "notes": notes,
        "noise": max(noise_from_differences(run.reward), 1e-12),
        "fit_noise": float(fit.noise_sd) if np.isfinite(fit.noise_sd) else 0.0,
        "h": np.log(c / run.compute.max()).clip(0, None),  # horizon in e-folds of compute
        "n": len(run),
    }


def auto_point_sd(comp: dict[str, Any], cfg: Any) -> tuple[NDArray, NDArray, NDArray]:
    """Point forecast and predictive sds (curve, and a new evaluation) from the components.

    The spread, in pieces: the level's error (the persistent residual share keeps some
    noise), the gain's error and its model risk (we may be wrong about the shape altogether:
    a term proportional to the gain, larger when the two models disagree on weight), drift of
    the level with horizon, and the recent trend times the horizon (how far a run moving at
    its current pace could still go); then one corpus-calibrated scale for the whole.
    """
    w, gain, noise = comp["w"], comp["gain"], comp["noise"]
    if cfg.noise_floor_from_fit:
        # With few points the first-difference estimate is itself noisy and often too small;
        # the fit's residual sd (which also holds any misfit) is a floor for it.
        noise = max(noise, comp.get("fit_noise", 0.0))
    point = comp["base"] + w * gain
    level_sd = noise * np.sqrt(comp["rho"] ** 2 + 1.0 / max(comp["n"] - 4, 1))
    model_sd = cfg.disagreement_scale * np.sqrt(w * (1 - w) + 0.25) * np.abs(gain)
    drift_sd = cfg.plateau_drift * noise * np.sqrt(comp["h"])
    trend_sd = cfg.trend_scale * abs(comp["slope"]) * comp["h"]
    curve_sd = cfg.interval_scale * np.sqrt(
        level_sd**2 + (w * comp["gain_sd"]) ** 2 + model_sd**2 + drift_sd**2 + trend_sd**2
    )
    eval_sd = cfg.interval_scale * noise / np.sqrt(comp.get("average_of", 1))
    obs_sd = np.sqrt(curve_sd**2 + eval_sd**2)
    return point, curve_sd, obs_sd
