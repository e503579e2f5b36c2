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

from rlscaling.fit import fit_sigmoid, noise_from_differences

if TYPE_CHECKING:
    from rlscaling.forecast import CurveDraws
    from rlscaling.runs import Run


def _level(y: NDArray, k: int | None = None) -> tuple[float, float, int]:
    """Recent level (mean of the last ``k`` points) with its standard error and ``k``."""
    n = y.size
    if k is None:
        k = int(np.clip(round(n / 4), 3, 10))
    k = min(k, n)
    tail = y[-k:]
    sd = noise_from_differences(y)
    return float(tail.mean()), sd / np.sqrt(k), k


def plateau_draws(run: Run, c: NDArray, n: int, rng: np.random.Generator, cfg: Any) -> CurveDraws:
    """The run stays at its recent level; uncertainty = level error + drift growing with horizon."""
    from rlscaling.forecast import CurveDraws

    y = run.reward
    level, se, _ = _level(y, cfg.plateau_k)
    noise = max(noise_from_differences(y), 1e-12)
    h = np.log(c / run.compute.max()).clip(0, None)  # horizon in e-folds of compute
    drift = cfg.plateau_drift * noise * np.sqrt(h)
    curve = level + rng.normal(size=(n, 1)) * se + rng.normal(size=(n, c.size)) * drift
    obs = curve + rng.normal(size=curve.shape) * noise
    return CurveDraws(c, curve, obs, "plateau", {"plateau": 1.0})


def sigmoid_draws(
    run: Run,
    c: NDArray,
    n: int,
    rng: np.random.Generator,
    cfg: Any,
    *,
    mcmc: bool = False,
) -> CurveDraws:
    """Bootstrap (or MCMC) draws of the sigmoid fitted to the run, plus evaluation noise."""
    from rlscaling.forecast import CurveDraws

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
    noise = samples.noise_sd[idx][:, None]
    obs = curve + rng.normal(size=curve.shape) * noise
    return CurveDraws(
        c, curve, obs, "sigmoid", {"sigmoid": 1.0}, tuple(notes), samples.samples.iloc[idx]
    )


def lfo_errors(run: Run, cfg: Any) -> tuple[NDArray, NDArray]:
    """Leave-future-out errors of the sigmoid and plateau point forecasts on the run itself.

    For cut points in the second half of the observed run, both models are fitted on the
    points up to the cut and asked for the mean of the last few observed points.
    """
    x, y = run.compute, run.reward
    m = y.size
    target_k = min(3, max(1, m // 6))
    target = float(y[-target_k:].mean())
    c_target = float(np.exp(np.mean(np.log(x[-target_k:]))))
    cuts = sorted({int(round(m * f)) for f in cfg.lfo_fractions})
    e_sig, e_pl = [], []
    for j in cuts:
        if j < 5 or j > m - target_k:
            continue
        sub = run.select(np.arange(m) < j)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = fit_sigmoid(sub, r0=cfg.r0, warn=False)
            pred_sig = float(f.predict([c_target])[0])
        except ValueError:
            continue
        level, _, _ = _level(sub.reward, cfg.plateau_k)
        e_sig.append(pred_sig - target)
        e_pl.append(level - target)
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
    """A note when the run has fallen clearly below its peak (smoothed)."""
    y = run.reward
    if y.size < 8:
        return None
    k = max(3, y.size // 8)
    smooth = np.convolve(y, np.ones(k) / k, mode="valid")
    drop = smooth.max() - smooth[-1]
    noise = noise_from_differences(y)
    if drop > 3 * noise / np.sqrt(k) and drop > 0.02 * (np.ptp(y) + 1e-12):
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
) -> CurveDraws:
    """Dispatch to a method; ``"auto"`` mixes sigmoid and plateau draws (see module doc)."""
    from rlscaling.forecast import CurveDraws
    from rlscaling.prior import default_forecast_config

    cfg = prior if prior is not None else default_forecast_config()
    rng = np.random.default_rng(seed)
    if method == "plateau":
        return plateau_draws(run, c, n_samples, rng, cfg)
    if method in ("sigmoid", "mcmc"):
        return sigmoid_draws(run, c, n_samples, rng, cfg, mcmc=method == "mcmc")

    notes: list[str] = []
    e_sig, e_pl = lfo_errors(run, cfg)
    w = stacking_weight(e_sig, e_pl, cfg.prior_weight, cfg.prior_strength)
    dn = decline_note(run)
    if dn:
        notes.append(dn)
        w = min(w, cfg.decline_max_weight)
    sig = sigmoid_draws(run, c, n_samples, rng, cfg)
    pla = plateau_draws(run, c, n_samples, rng, cfg)
    notes.extend(sig.notes)
    # A point forecast that mixes the two means, with the spread of the mixture: each draw is
    # the weighted combination of one sigmoid draw and one plateau draw, so the median follows
    # the stacked point forecast while the spread reflects both models.
    curve = w * sig.curve + (1 - w) * pla.curve
    obs = w * sig.observed + (1 - w) * pla.observed
    # Disagreement between the models is uncertainty too: add it, scaled by the mixing weights.
    gap = sig.curve.mean(axis=0) - pla.curve.mean(axis=0)
    spread = np.sqrt(w * (1 - w)) * np.abs(gap) * cfg.disagreement_scale
    extra = rng.normal(size=curve.shape) * spread
    h = np.log(c / run.compute.max()).clip(0, None)
    infl = 1.0 + cfg.horizon_inflation * h
    med = np.median(obs, axis=0)
    obs = med + (obs + extra - med) * infl * cfg.interval_scale
    curve = np.median(curve, axis=0) + (curve + extra - np.median(curve, axis=0)) * infl
    params = None if sig.params is None else sig.params.reset_index(drop=True)
    return CurveDraws(
        c,
        curve,
        obs,
        "auto",
        {"sigmoid": round(w, 4), "plateau": round(1 - w, 4)},
        tuple(notes),
        params if isinstance(params, pd.DataFrame) else None,
    )
