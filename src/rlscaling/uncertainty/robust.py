"""Centre, scale and variance of residuals under a robust loss.

Under ``loss="soft_l1"``, ``"huber"`` or ``"cauchy"`` a few outlying evaluations (a crashed
eval, a bad checkpoint) are what the loss is there to discount. Their residuals are large,
so the mean and the root mean square of the residuals describe the outliers, not the
evaluation noise: the noise sd of the fit, the delta method's variance and the bootstrap's
centring of residuals all use the robust counterparts here instead.

The loss is scipy's convention (:func:`rlscaling.model.solver.robust_rho`): a residual ``r`` of
scale ``f`` costs ``f**2 * rho((r / f)**2) / 2``, so its influence is
``psi(r) = rho'((r / f)**2) * r``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rlscaling.model.solver import robust_rho

MAD_TO_SD = 1.4826  # MAD of a gaussian sample divided by its sd is 1 / 1.4826
# Mean slope of psi below which the sandwich variance is not used: the loss then discounts
# most points (a redescending loss past its scale), and the formula's denominator is noise.
MIN_MEAN_SLOPE = 0.05


def psi_and_slope(r: NDArray, loss: str, f_scale: float) -> tuple[NDArray, NDArray]:
    """Influence ``psi(r)`` of each residual and its slope ``psi'(r)`` under ``loss``."""
    u = (np.asarray(r, dtype=float) / f_scale) ** 2
    _, d1 = robust_rho(u, loss)
    if loss == "linear":
        slope = np.ones_like(u)
    elif loss == "soft_l1":
        slope = (1.0 + u) ** -1.5
    elif loss == "huber":
        slope = np.where(u > 1.0, 0.0, 1.0)
    else:  # cauchy: redescending, the slope turns negative past the scale
        slope = (1.0 - u) / (1.0 + u) ** 2
    return d1 * r, slope


def robust_scale(r: NDArray, n_params: int = 0) -> NDArray | float:
    """Gaussian-consistent scale of residuals from their median absolute deviation.

    Multiplied by ``sqrt(n / (n - n_params))``, the same degrees-of-freedom correction as the
    residual sd of a least-squares fit, since fitted residuals are smaller than the noise.
    ``r`` is one curve's residuals (a float is returned) or one row per replicate (an array).
    """
    r = np.asarray(r, dtype=float)
    n = r.shape[-1]
    if n == 0:
        return 0.0
    med = np.median(r, axis=-1, keepdims=True)
    mad = np.median(np.abs(r - med), axis=-1)
    out = MAD_TO_SD * mad * np.sqrt(n / max(n - n_params, 1))
    return float(out) if r.ndim == 1 else out


def robust_location(r: NDArray, loss: str, f_scale: float, iterations: int = 50) -> float:
    """The centre of ``r`` that the loss sees: the M-estimate ``m`` with ``sum psi(r - m) = 0``.

    Found by iteratively reweighted means from the median (for the redescending Cauchy loss
    that is the root next to the bulk of the residuals, not one pulled towards outliers).
    """
    r = np.asarray(r, dtype=float)
    m = float(np.median(r))
    if loss == "linear":
        return float(np.mean(r))
    for _ in range(iterations):
        _, weight = robust_rho(((r - m) / f_scale) ** 2, loss)
        new = float(np.sum(weight * r) / np.sum(weight))
        if abs(new - m) <= 1e-12 * (abs(m) + f_scale):
            return new
        m = new
    return m


def sandwich_variance(r: NDArray, loss: str, f_scale: float, n_params: int) -> float:
    """Variance factor of a robust fit's parameters (Huber 1981, "Robust Statistics", 7.6).

    The covariance of an M-estimate is ``K**2 * [sum psi**2 / (n - p)] / [mean psi']**2``
    times ``inv(J' W J)``; the factor returned replaces the noise variance of least squares.
    ``K = 1 + (p / n) var(psi') / mean(psi')**2`` corrects for a small sample. Returns NaN
    when the mean slope is below ``MIN_MEAN_SLOPE`` (most points discounted).
    """
    r = np.asarray(r, dtype=float)
    n = r.size
    psi, slope = psi_and_slope(r, loss, f_scale)
    mean_slope = float(np.mean(slope))
    if n <= n_params or mean_slope < MIN_MEAN_SLOPE:
        return float("nan")
    k = 1.0 + (n_params / n) * float(np.var(slope)) / mean_slope**2
    return k**2 * float(np.sum(psi**2)) / (n - n_params) / mean_slope**2
