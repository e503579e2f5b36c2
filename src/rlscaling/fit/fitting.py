"""Point fit of the reward-compute sigmoid: :func:`fit_sigmoid` and its result.

The fit is bounded least squares on log-compute with the analytic Jacobian. It starts from a
vectorised grid over ``B`` and ``C_mid`` (with ``A`` and ``R0`` solved exactly per cell, which
covers the ScaleRL practice of a grid over ``A`` and ``C_mid``) and polishes the best cells, so it
does not stop in a poor local minimum. See :mod:`rlscaling.model.solver` for why the solver is ours.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rlscaling.fit.identifiability import IdentifiabilityWarning, profile_issues
from rlscaling.fit.result import SigmoidFit
from rlscaling.fit.search import solve_one
from rlscaling.io.checks import (
    InputError,
    check_int,
    check_real,
    is_pass_rate,
    looks_like_percent,
)
from rlscaling.io.inputs import CurveData, NanPolicy, add_counts, check_curve, split_zero_compute
from rlscaling.io.loaders import resolve_columns
from rlscaling.model.solver import LOSSES, Bounds
from rlscaling.uncertainty.robust import robust_scale

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["IdentifiabilityWarning", "fit_sigmoid"]

R0Option = float | Literal["first", "free"]
B_BOUNDS_DEFAULT = (0.05, 20.0)


def noise_from_differences(reward: np.ndarray) -> float:
    """Robust noise level of a curve from its first differences (MAD, scaled to a gaussian sd).

    Differences of neighbouring evaluations remove the slow trend; for independent noise of sd
    ``s`` they have sd ``s * sqrt(2)``.
    """
    return float(robust_scale(np.diff(np.asarray(reward, dtype=float)))) / np.sqrt(2.0)


def _resolve_bounds(
    y: np.ndarray,
    x: np.ndarray,
    a_bounds: tuple[float | None, float | None] | Literal["auto"],
    b_bounds: tuple[float, float],
    r0_free: bool,
) -> tuple[Bounds, bool]:
    in_unit = is_pass_rate(y)
    percent = False
    if a_bounds == "auto":
        # a percentage (the rule forecast's reward_range="auto" reads one by) cannot pass 100
        percent = not in_unit and looks_like_percent(y)
        a_lo, a_hi = (0.0, 1.0) if in_unit else (0.0, 100.0) if percent else (None, None)
    else:
        try:
            a_lo, a_hi = a_bounds
        except (TypeError, ValueError):
            raise InputError(
                f"a_bounds must be 'auto' or a pair (low, high), got {a_bounds!r}"
            ) from None
        a_lo = check_real(a_lo, "a_bounds[0]", allow_none=True, what="a finite number or None")
        a_hi = check_real(a_hi, "a_bounds[1]", allow_none=True, what="a finite number or None")
    pass_rate = a_lo is not None and a_hi is not None and a_lo >= 0 and a_hi <= 1
    if pass_rate and not in_unit:
        idx = np.flatnonzero((y < 0) | (y > 1))[:3]
        shown = ", ".join(f"[{i}]={y[i]!r}" for i in idx)
        raise InputError(
            f"reward has values outside [0, 1] ({shown}) but a_bounds={a_bounds!r} says it is a "
            "pass rate; divide percentages by 100, or widen a_bounds."
        )
    span_y = float(np.ptp(y))
    a_lo = float(y.min() - 10 * span_y) if a_lo is None else float(a_lo)
    a_hi = float(y.max() + 10 * span_y) if a_hi is None else float(a_hi)
    if not a_lo < a_hi:
        raise InputError(f"a_bounds must have low < high, got {a_bounds!r}")
    try:
        b_lo, b_hi = b_bounds
    except (TypeError, ValueError):
        raise InputError(
            f"b_bounds must be a pair (low, high) with 0 < low < high, e.g. {B_BOUNDS_DEFAULT}, "
            f"got {b_bounds!r}"
        ) from None
    b_lo = check_real(b_lo, "b_bounds[0]", positive=True)
    b_hi = check_real(b_hi, "b_bounds[1]", positive=True)
    if not 0 < b_lo < b_hi:
        raise InputError(f"b_bounds must satisfy 0 < low < high, got {b_bounds!r}")
    span_x = float(np.ptp(x))
    # C_mid is allowed a few observed spans (and at least a decade) on either side of the data;
    # far outside, it is not identified by the data at all and the flag will say so.
    pad = 3.0 * span_x + np.log(10.0)
    r0_lo, r0_hi = (-np.inf, np.inf)
    if r0_free and (pass_rate or percent):
        r0_lo, r0_hi = (0.0, 1.0) if pass_rate else (0.0, 100.0)
    lower = np.array([a_lo, b_lo, x.min() - pad, r0_lo])
    upper = np.array([a_hi, b_hi, x.max() + pad, r0_hi])
    free = np.array([True, True, True, r0_free])
    return Bounds(lower=lower, upper=upper, free=free), pass_rate


def _raw_weights(data: CurveData) -> np.ndarray:
    w = np.ones(data.n)
    if data.weights is not None:
        w = w * data.weights
    if data.eval_size is not None:
        w = w * data.eval_size
    return w


def point_weights(data: CurveData) -> np.ndarray:
    """Relative least-squares weights: user weights times evaluation size (binomial variance).

    For a pass rate measured on ``n`` samples the variance is ``p (1 - p) / n``; with a common
    ``p`` the weights are proportional to ``n``. Weights are normalised to mean 1 so that
    ``noise_sd`` stays on the reward scale.
    """
    w = _raw_weights(data)
    return w / w.mean()


def _first_weight(full: CurveData, fitted: CurveData, at_zero: bool) -> tuple[float, bool]:
    """Weight of the evaluation R0 is read from (``r0="first"``) on the scale of the fitted
    points' weights, and whether it is itself the first fitted point.

    An evaluation at compute 0 has no weight or evaluation size of its own here; it is taken
    to be as noisy as an average fitted point (weight 1).
    """
    if at_zero:
        return 1.0, False
    in_data = bool(fitted.compute[0] == full.compute[0])
    return float(_raw_weights(full)[0] / _raw_weights(fitted).mean()), in_data


def fit_sigmoid(
    data: Any,
    reward: Any = None,
    *,
    compute: str | None = None,
    r0: R0Option = "first",
    min_compute: float | None = None,
    max_compute: float | None = None,
    weights: ArrayLike | None = None,
    eval_size: ArrayLike | float | None = None,
    a_bounds: tuple[float | None, float | None] | Literal["auto"] = "auto",
    b_bounds: tuple[float, float] = B_BOUNDS_DEFAULT,
    loss: Literal["linear", "soft_l1", "huber", "cauchy"] = "linear",
    f_scale: float | None = None,
    nan_policy: NanPolicy = "raise",
    n_starts: int = 4,
    warn: bool = True,
) -> SigmoidFit:
    """Fit ``R(C) = R0 + (A - R0) / (1 + (C_mid / C) ** B)`` to reward against compute.

    Parameters
    ----------
    data : array_like, pandas.DataFrame or Run
        Compute values (> 0, increasing; any unit; an evaluation at compute exactly 0, the
        untrained model's, is the starting reward: R0 for ``r0="first"``, left out otherwise,
        and counted in ``data.omitted``), or a DataFrame whose columns are named by
        ``compute`` and ``reward`` (one left unnamed and absent under its default name is
        found as :func:`~rlscaling.load_run` finds a file's, e.g. ``global_step`` and
        ``eval/accuracy``), or a :class:`~rlscaling.Run`.
    reward : array_like or str, optional
        Rewards, one per compute value; with a DataFrame, the reward column name
        (default ``"reward"``).
    compute : str, optional
        Compute column name when ``data`` is a DataFrame (default ``"compute"``).
    r0 : float, "first" or "free", default "first"
        Starting reward. ``"first"`` holds it at the first observed reward (before any compute
        window is applied), as in the ScaleRL fits; a float holds it there; ``"free"`` fits it.
        With ``"first"`` the point fit treats that reward as R0, but R0 is one noisy
        evaluation: its noise (the fit's noise sd, scaled by that evaluation's weight) enters
        the standard errors, the delta-method intervals and bands, the bootstrap and MCMC.
        A float is taken as exact. ``"first"`` assumes the first evaluation is of the
        (nearly) untrained model; one made after the curve has started to rise biases R0.
    min_compute, max_compute : float, optional
        Fit only points inside this compute window (ScaleRL drops the earliest, noisy part of
        a run). Points outside are counted in ``n_omitted``.
    weights : array_like, optional
        Relative weights per point (inverse variances).
    eval_size : array_like or float, optional
        Evaluation size per point (prompts x samples per prompt), or one number for every
        point; larger evaluations are less noisy and get proportionally more weight.
    a_bounds : "auto" or (low, high)
        Bounds on A. ``"auto"`` bounds A to [0, 1] when every reward is in [0, 1] (a pass
        rate), and A and a free R0 to [0, 100] when every reward lies in [0, 100] and some
        exceed 10 (a percentage, as :func:`~rlscaling.forecast` reads one); it leaves A wide
        otherwise. A ``None`` side is wide.
    b_bounds : (low, high), default (0.05, 20)
        Bounds on the exponent B.
    loss : {"linear", "soft_l1", "huber", "cauchy"}
        Least squares (``"linear"``) or a robust loss that down-weights outliers. Under a
        robust loss the noise sd is the residuals' MAD scale and the standard errors are the
        M-estimator's sandwich ones, so the outliers widen neither.
    f_scale : float, optional
        Residual size at which a robust loss starts to down-weight; by default the curve's own
        noise level estimated from first differences.
    nan_policy : {"raise", "omit"}
        ``"omit"`` drops NaN/inf points and reports how many in the result.
    n_starts : int, default 4
        Number of best grid cells polished by the local solver.
    warn : bool, default True
        Emit an :class:`IdentifiabilityWarning` when the data do not identify the parameters.

    Returns
    -------
    SigmoidFit
        Parameters, standard errors, covariance, residual statistics, identifiability flags,
        and ``predict``, ``compute_to_reach``, ``summary``, ``to_dict``, ``plot``.

    Raises
    ------
    rlscaling.io.inputs.InputError
        For unusable input; the message names the argument, the value and the fix.

    Notes
    -----
    When ``data`` is a :class:`~rlscaling.Run` whose first evaluations are at compute 0 (the
    untrained model, as training logs record it), those points are not fitted (the curve lives on
    log-compute): with ``r0="first"`` the last of them is the starting reward; either way they
    are counted in ``n_omitted``.

    A curve of more than 20,000 points (``rlscaling.fit.search.BIN_ABOVE``) is searched on
    2,000 weighted bins of log-compute (grid, multi-start and the profile check's refit), and
    the best solution is then polished on every point with the same solver and tolerances, so
    the answer is the least-squares fit to all points; against an unbinned search it differs
    by about 1e-3 standard errors or less (``benchmarks/fit_large.py``). A million points fit
    in about a second.

    Examples
    --------
    >>> import numpy as np
    >>> from rlscaling import fit_sigmoid, sigmoid
    >>> c = np.geomspace(100, 20000, 40)
    >>> r = sigmoid(c, A=0.61, B=1.9, C_mid=2500, R0=0.1)
    >>> fit = fit_sigmoid(c, r + np.random.default_rng(0).normal(0, 0.005, c.size))
    >>> round(fit.A, 2), fit.identified
    (0.61, True)
    """
    if loss not in LOSSES:
        raise InputError(f"loss must be one of {LOSSES}, got {loss!r}")
    check_int(n_starts, "n_starts", 1)
    if not (isinstance(r0, str) and r0 in ("first", "free")):
        if isinstance(r0, str):
            raise InputError(f"r0 must be a number, 'first' or 'free', got {r0!r}")
        check_real(r0, "r0", what="a finite number, 'first' or 'free'")
    check_real(f_scale, "f_scale", positive=True, allow_none=True)
    c_raw, r_raw, size_raw, name, read_omitted = resolve_columns(data, reward, compute, nan_policy)
    # An eval log usually starts with the untrained model at compute 0: that evaluation is the
    # starting reward, so it becomes R0 (for r0="first") instead of a fitted point.
    c_raw, r_raw, size_raw, at_zero = split_zero_compute(c_raw, r_raw, size_raw)
    zero_r0, zero_omitted = None, {}
    if at_zero.size:
        if np.isfinite(at_zero[-1]):
            zero_r0 = float(at_zero[-1])
        used = r0 == "first" and zero_r0 is not None
        zero_omitted = {"zero_compute_used_as_r0" if used else "zero_compute": int(at_zero.size)}
    if eval_size is None:
        eval_size = size_raw
    elif np.ndim(eval_size) == 0:
        # One evaluation size for every point (the usual case: a fixed eval set).
        size = check_real(
            eval_size,
            "eval_size",
            positive=True,
            what="the number of samples evaluated per point (prompts x samples per prompt)",
        )
        eval_size = np.full(np.size(r_raw), size)
    full = check_curve(c_raw, r_raw, eval_size=eval_size, weights=weights, nan_policy=nan_policy)
    cd = check_curve(
        full.compute,
        full.reward,
        eval_size=full.eval_size,
        weights=full.weights,
        min_compute=min_compute,
        max_compute=max_compute,
        name=name,
    )
    omitted = add_counts(read_omitted, zero_omitted, full.omitted, cd.omitted)
    cd = CurveData(cd.compute, cd.reward, cd.eval_size, cd.weights, omitted, name)

    if isinstance(r0, str):
        if r0 not in ("first", "free"):
            raise InputError(f"r0 must be a number, 'first' or 'free', got {r0!r}")
        r0_free = r0 == "free"
        first = zero_r0 if zero_r0 is not None else float(full.reward[0])
        r0_value = None if r0_free else first
        r0_mode = r0
    else:
        r0_free, r0_value, r0_mode = False, float(r0), "fixed"

    k = 4 if r0_free else 3
    if cd.n < k + 1:
        where = " inside the compute window" if (min_compute or max_compute) else ""
        fixes = (["widen min_compute/max_compute"] if where else []) + (
            ["fix R0 (r0='first' or a number)"] if r0_free else []
        )
        raise InputError(
            f"need at least {k + 1} points{where} to fit {k} parameters with a noise estimate, "
            f"got {cd.n}"
            + (f"; {' or '.join(fixes)}" if fixes else ": evaluate the run more often")
        )
    x, y = cd.log_compute, cd.reward
    if np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        raise InputError(
            f"reward is constant (it varies by only {float(np.ptp(y)):.3g} around {float(y[0])!r},"
            " below 1e-12 of max(1, |reward|)): there is no curve to fit. Rewards on a tiny "
            "scale need multiplying by a power of 10 first."
        )
    bounds, pass_rate = _resolve_bounds(y, x, a_bounds, b_bounds, r0_free)
    if r0_value is not None and pass_rate and not 0 <= r0_value <= 1:
        raise InputError(f"r0={r0_value!r} is outside [0, 1] but A is bounded as a pass rate")
    w = point_weights(cd)
    r0_weight, r0_in_data = None, False
    if r0_mode == "first":
        # R0 is one noisy evaluation: its noise reaches the intervals (SigmoidFit.covariance)
        # with that evaluation's weight on the fitted points' scale.
        r0_weight, r0_in_data = _first_weight(full, cd, zero_r0 is not None)
    noise_diff = noise_from_differences(y)
    if f_scale is None:
        f_scale = max(noise_diff, 1e-6 * max(float(np.ptp(y)), 1e-12))
    elif not f_scale > 0:
        raise InputError(f"f_scale must be > 0, got {f_scale!r}")

    theta, cost, converged = solve_one(
        x, y, w, r0_value, bounds, loss=loss, f_scale=f_scale, n_starts=n_starts
    )
    extra = profile_issues(x, y, w, theta[0], cost[0], bounds, r0_value, loss=loss, f_scale=f_scale)
    fit = SigmoidFit.from_solution(
        theta=theta[0],
        data=cd,
        weights=w,
        bounds=bounds,
        r0_mode=r0_mode,
        loss=loss,
        f_scale=float(f_scale),
        success=bool(converged[0]),
        noise_from_differences=noise_diff,
        pass_rate=pass_rate,
        extra_issues=extra,
        r0_weight=r0_weight,
        r0_in_data=r0_in_data,
    )
    if warn and not fit.identified:
        warnings.warn(
            "parameters not identified by the data: " + "; ".join(fit.identification_issues),
            IdentifiabilityWarning,
            stacklevel=2,
        )
    return fit
