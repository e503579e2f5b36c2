"""The saturating reward-compute curve, its Jacobian and its inverse.

    R(C) = R0 + (A - R0) / (1 + (C_mid / C) ** B)

With x = ln C and m = ln C_mid this is a logistic in log-compute,

    R = R0 + (A - R0) * s,    s = expit(B * (x - m)),

which is how every function here evaluates it: it never forms ``C ** B``, so compute from
1e2 GPU-hours to 1e25 FLOPs is handled the same way and nothing overflows.

Parameter vectors use the order of :data:`PARAM_NAMES` with the midpoint on the log scale:
``theta = (A, B, log_C_mid, R0)``. All functions broadcast over leading axes of ``theta``
(shape ``(..., 4)``) and of ``log_c``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

# The parameters in the solver's order (C_mid on a log scale there) and as users see them.
INTERNAL_NAMES = ("A", "B", "log_C_mid", "R0")
PUBLIC_NAMES = ("A", "B", "C_mid", "R0")

PARAM_NAMES: tuple[str, str, str, str] = ("A", "B", "C_mid", "R0")
"""Public parameter names; internally the third one is handled as ``log(C_mid)``."""


def _split(theta: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    theta = np.asarray(theta, dtype=float)
    return theta[..., 0:1], theta[..., 1:2], theta[..., 2:3], theta[..., 3:4]


def logistic_part(log_c: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
    """Fraction of the total gain reached, ``s = expit(B (ln C - ln C_mid))``."""
    _, b, m, _ = _split(np.asarray(theta, dtype=float))
    return expit(b * (np.asarray(log_c, dtype=float) - m))


def curve_value(log_c: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
    """Reward predicted at log-compute ``log_c`` for parameters ``theta = (A, B, ln C_mid, R0)``.

    ``theta`` may have leading batch axes: ``theta[..., 4]`` with ``log_c[..., n]`` gives
    ``[..., n]``.
    """
    a, _, _, r0 = _split(np.asarray(theta, dtype=float))
    return r0 + (a - r0) * logistic_part(log_c, theta)


def curve_jacobian(log_c: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
    """Analytic Jacobian ``dR/d(A, B, ln C_mid, R0)``, shape ``(..., n, 4)``.

    With ``s = expit(B (x - m))`` and ``ds/dz = s (1 - s)``:
    dR/dA = s, dR/dB = (A - R0) s (1 - s) (x - m), dR/dm = -(A - R0) s (1 - s) B,
    dR/dR0 = 1 - s.
    """
    a, b, m, r0 = _split(np.asarray(theta, dtype=float))
    x = np.asarray(log_c, dtype=float)
    dx = x - m
    s = expit(b * dx)
    ds = (a - r0) * s * (1.0 - s)
    out = np.empty((*s.shape, 4))
    out[..., 0] = s
    out[..., 1] = ds * dx
    out[..., 2] = -ds * b
    out[..., 3] = 1.0 - s
    return out


def log_compute_to_reach(reward: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
    """Inverse of the curve in log-compute: ``ln C`` at which the curve equals ``reward``.

    Rewards outside the open interval between R0 and A give ``nan`` here; the public
    :meth:`SigmoidFit.compute_to_reach` turns that into a clear error.
    """
    a, b, m, r0 = _split(np.asarray(theta, dtype=float))
    frac = (np.asarray(reward, dtype=float) - r0) / (a - r0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (frac > 0) & (frac < 1)
        out = m + logit(np.where(inside, frac, 0.5)) / b
    return np.where(inside, out, np.nan)


def to_theta(A: float, B: float, C_mid: float, R0: float) -> NDArray[np.float64]:
    """Pack public parameters into the internal vector ``(A, B, ln C_mid, R0)``."""
    if C_mid <= 0:
        raise ValueError(f"C_mid must be > 0, got {C_mid!r}")
    return np.array([A, B, np.log(C_mid), R0], dtype=float)


def sigmoid(
    compute: ArrayLike,
    A: float,
    B: float,
    C_mid: float,
    R0: float = 0.0,
) -> NDArray[np.float64]:
    """Evaluate ``R(C) = R0 + (A - R0) / (1 + (C_mid / C) ** B)``.

    Parameters
    ----------
    compute : array_like
        Compute values, > 0, in any unit (GPU-hours, FLOPs, steps).
    A, B, C_mid, R0 : float
        Asymptote, efficiency exponent, midpoint compute (same unit as ``compute``) and
        starting reward.

    Returns
    -------
    numpy.ndarray
        Reward at each compute value.

    Examples
    --------
    >>> from rlscaling import sigmoid
    >>> sigmoid([2542.0], A=0.61, B=1.92, C_mid=2542.0, R0=0.1).round(3)  # half the gain at C_mid
    array([0.355])
    """
    c = np.asarray(compute, dtype=float)
    if np.any(~(c > 0)):
        raise ValueError("compute must be > 0 everywhere (the curve lives on log-compute)")
    return curve_value(np.log(c), to_theta(A, B, C_mid, R0))
