"""`SigmoidFit`: the result of a point fit, with predictions, inverse, intervals and plots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

# Student-t quantiles and tails from scipy.special (what scipy.stats.t uses inside): importing
# scipy.stats costs about 0.5 s, more than the rest of a first fit together.
from scipy.special import stdtr, stdtrit

from rlscaling.fit.identifiability import local_issues
from rlscaling.io.checks import (
    InputError,
    as_positive_compute,
    check_level,
    looks_like_percent,
)
from rlscaling.io.inputs import CurveData
from rlscaling.model.curve import (
    INTERNAL_NAMES,
    PUBLIC_NAMES,
    curve_jacobian,
    curve_value,
    log_compute_to_reach,
)
from rlscaling.plot import plot_fit
from rlscaling.protocol import Kind, check_kind
from rlscaling.uncertainty.bootstrap import BootstrapResult, bootstrap
from rlscaling.uncertainty.mcmc import MCMCResult, mcmc
from rlscaling.uncertainty.robust import robust_scale, sandwich_variance
from rlscaling.uncertainty.samples import percent

if TYPE_CHECKING:
    import matplotlib.axes

    from rlscaling.model.solver import Bounds


@dataclass(frozen=True, eq=False)
class SigmoidFit:
    """Point fit of ``R(C) = R0 + (A - R0) / (1 + (C_mid / C) ** B)``.

    Attributes
    ----------
    A, B, C_mid, R0 : float
        Fitted asymptote, exponent, midpoint compute and starting reward.
    stderr : dict
        Standard errors from the Jacobian (``inf`` where the data do not determine a
        parameter). R0 given as a number has ``0.0``; R0 read off the first evaluation
        (``r0="first"``) has that evaluation's noise sd, which also widens the others.
        Under a robust loss they are the M-estimator's (sandwich) standard errors.
    covariance : numpy.ndarray
        4x4 covariance of ``(A, B, ln C_mid, R0)``.
    noise_sd : float
        Evaluation noise sd: the weighted residual sd (``dof`` degrees of freedom), or under
        a robust loss the residuals' MAD scale, which outliers do not inflate.
    identified : bool
        False when the data do not pin the parameters down; ``identification_issues`` says why.
    r0_weight : float or None
        For ``r0="first"``: the weight of the evaluation R0 was read from, on the scale of the
        fitted points' weights (mean 1); its noise variance is ``noise_sd**2 / r0_weight``.
        None when R0 is fitted or given as a number.
    r0_in_data : bool
        True when that evaluation is also the first fitted point.
    """

    A: float
    B: float
    C_mid: float
    R0: float
    stderr: dict[str, float]
    covariance: NDArray[np.float64]
    data: CurveData
    weights: NDArray[np.float64]
    bounds: Bounds
    r0_mode: str
    loss: str
    f_scale: float
    success: bool
    message: str
    rmse: float
    r2: float
    noise_sd: float
    noise_from_differences: float
    dof: int
    gain_observed: float
    identified: bool
    identification_issues: tuple[str, ...]
    bounds_hit: tuple[str, ...]
    pass_rate: bool
    extra: dict[str, Any] = field(default_factory=dict)
    r0_weight: float | None = None
    r0_in_data: bool = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_solution(
        cls,
        *,
        theta: NDArray,
        data: CurveData,
        weights: NDArray,
        bounds: Bounds,
        r0_mode: str,
        loss: str,
        f_scale: float,
        success: bool,
        noise_from_differences: float,
        pass_rate: bool,
        extra_issues: tuple[str, ...] = (),
        r0_weight: float | None = None,
        r0_in_data: bool = False,
    ) -> SigmoidFit:
        """Build the result from a solution ``theta``.

        ``r0_weight`` is given when R0 is held at a measured reward (``r0="first"``): the
        relative weight of that evaluation, whose noise (variance ``noise_sd**2 / r0_weight``)
        then enters the covariance; ``r0_in_data`` says that the evaluation is also the first
        fitted point (its noise then moves R0 and the fit together).
        """
        x, y = data.log_compute, data.reward
        free = bounds.free
        k = int(free.sum())
        pred = curve_value(x, theta)
        resid = y - pred
        dof = data.n - k
        sw = np.sqrt(weights)
        if loss == "linear":
            wssr = float(np.sum(weights * resid**2))
            noise_sd = float(np.sqrt(wssr / dof)) if dof > 0 else float("inf")
            var_scale = noise_sd**2
        else:
            # A robust loss is chosen because some residuals are outliers: their root mean
            # square is not the evaluation noise (it can be several times it), so the noise
            # sd is the residuals' MAD scale, and the parameters' variance is the M-estimator's
            # sandwich, in which the loss's bounded influence keeps outliers from inflating it.
            noise_sd = robust_scale(resid * sw, k) if dof > 0 else float("inf")
            var_scale = sandwich_variance(resid * sw, loss, f_scale, k)
            if not np.isfinite(var_scale):
                var_scale = noise_sd**2
        sst = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid**2)) / sst if sst > 0 else float("nan")

        jac_raw = curve_jacobian(x, theta)
        jac = jac_raw * sw[:, None]
        jf = jac[:, free]
        cov = np.zeros((4, 4))
        h_inv = np.full((k, k), np.inf)
        with np.errstate(all="ignore"):
            h = jf.T @ jf
            # Columns for A and R0 are dimensionless while those for B and ln C_mid carry the
            # reward's scale: judge conditioning on the Jacobi-scaled matrix so the verdict
            # (and the standard errors) do not depend on the reward's units.
            d = np.sqrt(np.diag(h))
            try:
                hs = h / np.outer(d, d)
                cond = np.linalg.cond(hs) if np.all(d > 0) and np.all(np.isfinite(hs)) else np.inf
            except np.linalg.LinAlgError:
                cond = np.inf
            if np.isfinite(cond) and cond < 1e14 and np.isfinite(noise_sd):
                h_inv = np.linalg.inv(hs) / np.outer(d, d)
                cov_free = h_inv * var_scale
            else:
                cov_free = np.full((k, k), np.inf)
        idx = np.flatnonzero(free)
        cov[np.ix_(idx, idx)] = cov_free
        if r0_weight is not None and not free[3] and np.all(np.isfinite(cov_free)):
            cov = _with_measured_r0(
                cov, h_inv, jac, jac_raw, free, noise_sd, var_scale, r0_weight, r0_in_data
            )
        var = np.diag(cov).copy()
        var[var < 0] = np.inf
        se_int = np.sqrt(var)
        c_mid = float(np.exp(theta[2]))
        stderr = {
            "A": float(se_int[0]),
            "B": float(se_int[1]),
            "C_mid": float(c_mid * se_int[2]) if np.isfinite(se_int[2]) else float("inf"),
            "log_C_mid": float(se_int[2]),
            "R0": float(se_int[3]),
        }

        issues, hit, gain_observed = local_issues(theta, stderr, bounds, x, success)
        issues.extend(extra_issues)
        message = "converged" if success else "did not converge"
        return cls(
            A=float(theta[0]),
            B=float(theta[1]),
            C_mid=c_mid,
            R0=float(theta[3]),
            stderr=stderr,
            covariance=cov,
            data=data,
            weights=weights,
            bounds=bounds,
            r0_mode=r0_mode,
            loss=loss,
            f_scale=f_scale,
            success=success,
            message=message,
            rmse=float(np.sqrt(np.mean(resid**2))),
            r2=r2,
            noise_sd=noise_sd,
            noise_from_differences=float(noise_from_differences),
            dof=dof,
            gain_observed=gain_observed,
            identified=not issues,
            identification_issues=tuple(issues),
            bounds_hit=tuple(hit),
            pass_rate=pass_rate,
            r0_weight=r0_weight,
            r0_in_data=r0_in_data,
        )

    # ------------------------------------------------------------------ basic accessors
    @property
    def theta(self) -> NDArray[np.float64]:
        """Internal parameter vector ``(A, B, ln C_mid, R0)``."""
        return np.array([self.A, self.B, np.log(self.C_mid), self.R0])

    @property
    def r0_noise_sd(self) -> float:
        """Noise sd of the evaluation R0 was read from (``r0="first"``): ``stderr["R0"]``, or
        ``noise_sd`` where that is not finite. The bootstrap and MCMC move R0 by it."""
        se = self.stderr["R0"]
        return float(se) if np.isfinite(se) else self.noise_sd

    @property
    def params(self) -> dict[str, float]:
        return {"A": self.A, "B": self.B, "C_mid": self.C_mid, "R0": self.R0}

    @property
    def n_used(self) -> int:
        return self.data.n

    @property
    def n_omitted(self) -> int:
        return self.data.n_omitted

    @property
    def compute(self) -> NDArray[np.float64]:
        return self.data.compute

    @property
    def reward(self) -> NDArray[np.float64]:
        return self.data.reward

    @property
    def residuals(self) -> NDArray[np.float64]:
        return self.data.reward - self.predict(self.data.compute)

    # ------------------------------------------------------------------ predictions
    def predict(self, compute: ArrayLike) -> NDArray[np.float64]:
        """Fitted reward at ``compute`` (same unit as the data).

        Examples
        --------
        >>> from rlscaling import fit_sigmoid, load_example
        >>> fit = fit_sigmoid(load_example("scalerl_like"), warn=False)
        >>> fit.predict([1e3, 1e5]).shape
        (2,)
        """
        c = as_positive_compute(compute)
        return curve_value(np.log(c), self.theta)

    def compute_to_reach(self, reward: ArrayLike) -> NDArray[np.float64] | float:
        """Compute at which the fitted curve reaches ``reward``.

        Raises
        ------
        InputError
            If a reward is not strictly between R0 and A (the curve never reaches it).
        """
        r = np.asarray(reward, dtype=float)
        lo, hi = sorted((self.R0, self.A))
        bad = ~((r > lo) & (r < hi))
        if np.any(bad):
            raise InputError(
                f"reward={np.atleast_1d(r)[np.atleast_1d(bad)][:3].tolist()} is outside the "
                f"range the curve reaches, ({lo:.4g}, {hi:.4g}) between R0 and A; the fitted "
                "run never gets there. Ask for a lower target or a fraction of A."
            )
        out = np.exp(log_compute_to_reach(np.atleast_1d(r), self.theta))
        return float(out[0]) if r.ndim == 0 else out

    # ------------------------------------------------------------------ intervals (delta method)
    def interval(
        self,
        level: float | str = 0.9,
        *args: Any,
        kind: Kind = "curve",
        method: Literal["delta"] = "delta",
    ) -> tuple[Any, Any]:
        """Delta-method intervals of the parameters: ``(lower, upper)`` arrays in the row order
        of :meth:`to_frame` (A, B, C_mid, R0; a fixed R0 gives ``(R0, R0)``).

        The result protocol's form (:mod:`rlscaling.protocol`). Parameters belong to the curve,
        so ``kind`` is ``"curve"`` only. The older form ``interval(param, level)`` (e.g.
        ``fit.interval("A", 0.9)``) still gives one parameter's ``(lower, upper)`` floats: see
        :meth:`param_interval`.

        Examples
        --------
        >>> from rlscaling import fit_sigmoid, load_example
        >>> fit = fit_sigmoid(load_example("scalerl_like"), warn=False)
        >>> lower, upper = fit.interval(0.9)
        >>> bool(lower[0] < fit.A < upper[0])
        True
        """
        if isinstance(level, str):  # the older form: interval(param, level=0.9, method)
            return self.param_interval(level, *args, method=method)
        check_kind(kind, ("curve",))
        frame = self.to_frame(check_level(level))
        return frame.iloc[:, 2].to_numpy(), frame.iloc[:, 3].to_numpy()

    def param_interval(
        self, param: str, level: float = 0.9, method: Literal["delta"] = "delta"
    ) -> tuple[float, float]:
        """Interval for a parameter from the Jacobian covariance (delta method).

        ``C_mid`` uses a symmetric interval on ``ln C_mid``. The interval is clipped to the
        parameter's bounds in the fit (:meth:`param_bounds`): for a pass rate A and R0 lie in
        [0, 1], so an A of 0.99 with standard error 0.03 gives ``(0.94, 1.0)``, not an upper
        end above 1 that no pass rate can reach. For bootstrap or MCMC intervals call the same
        method on their results.

        Examples
        --------
        >>> from rlscaling import fit_sigmoid, load_example
        >>> fit = fit_sigmoid(load_example("scalerl_like"), warn=False)
        >>> lo, hi = fit.interval("A", 0.9)
        >>> bool(0 <= lo < fit.A < hi <= 1)
        True
        """
        level = check_level(level)
        if method != "delta":
            raise InputError(
                f"method must be 'delta' on a SigmoidFit, got {method!r}; use "
                "fit.bootstrap().interval(...) or fit.mcmc().interval(...)"
            )
        if param not in PUBLIC_NAMES:
            raise InputError(f"param must be one of {PUBLIC_NAMES}, got {param!r}")
        t = stdtrit(max(self.dof, 1), 0.5 + level / 2)
        lo_b, hi_b = self.param_bounds(param)
        if param == "C_mid":
            m, se = np.log(self.C_mid), self.stderr["log_C_mid"]
            lo, hi = float(np.exp(m - t * se)), float(np.exp(m + t * se))
        else:
            v, se = self.params[param], self.stderr[param]
            lo, hi = float(v - t * se), float(v + t * se)
        return max(lo, lo_b), min(hi, hi_b)

    def param_bounds(self, param: str) -> tuple[float, float]:
        """The range a parameter can take in this fit: its box bound, and for a pass rate
        (rewards in [0, 1]) also [0, 1] for A and R0. ``(-inf, inf)`` where unbounded.

        Examples
        --------
        >>> from rlscaling import fit_sigmoid, load_example
        >>> fit_sigmoid(load_example("scalerl_like"), warn=False).param_bounds("A")
        (0.0, 1.0)
        """
        if param not in PUBLIC_NAMES:
            raise InputError(f"param must be one of {PUBLIC_NAMES}, got {param!r}")
        i = PUBLIC_NAMES.index(param)
        lo, hi = float(self.bounds.lower[i]), float(self.bounds.upper[i])
        if param == "C_mid":
            return float(np.exp(lo)), float(np.exp(hi))
        if self.pass_rate and param in ("A", "R0"):
            lo, hi = max(lo, 0.0), min(hi, 1.0)
        return lo, hi

    @property
    def reward_range(self) -> tuple[float, float]:
        """Values a reward can take: [0, 1] for a pass rate, [0, 100] for a percentage fitted
        with A bounded to it (``a_bounds="auto"`` reads one so), else ``(-inf, inf)``."""
        if self.pass_rate:
            return (0.0, 1.0)
        a_lo, a_hi = float(self.bounds.lower[0]), float(self.bounds.upper[0])
        if (a_lo, a_hi) == (0.0, 100.0) and looks_like_percent(self.data.reward):
            return (0.0, 100.0)
        return (-np.inf, np.inf)

    def band(
        self,
        compute: ArrayLike,
        level: float = 0.9,
        kind: Kind | Literal["prediction"] = "curve",
    ) -> pd.DataFrame:
        """Delta-method band for the curve (``kind="curve"``) or for a new evaluation
        (``"observed"``; ``"prediction"`` is its older name) at ``compute``.

        Returns a DataFrame with columns ``compute``, ``estimate``, ``lower``, ``upper``. The
        band is clipped to the reward's feasible range (:attr:`reward_range`: [0, 1] for a
        pass rate), which the symmetric delta-method band ignores near a bound.
        """
        level = check_level(level)
        kind = check_kind(kind)
        c = as_positive_compute(compute)
        est, sd = self._estimate_and_sd(c, kind)
        t = stdtrit(max(self.dof, 1), 0.5 + level / 2)
        half = t * sd
        lo_r, hi_r = self.reward_range
        return pd.DataFrame(
            {
                "compute": c,
                "estimate": est,
                "lower": np.clip(est - half, lo_r, hi_r),
                "upper": np.clip(est + half, lo_r, hi_r),
            }
        )

    def _estimate_and_sd(self, c: NDArray[np.float64], kind: str) -> tuple[NDArray, NDArray]:
        """The curve at ``c`` and its delta-method sd (plus the noise sd for "observed")."""
        x = np.log(c)
        jac = curve_jacobian(x, self.theta)
        with np.errstate(invalid="ignore"):
            var = np.einsum("ni,ij,nj->n", jac, self.covariance, jac)
        if kind == "observed":
            var = var + self.noise_sd**2
        return curve_value(x, self.theta), np.sqrt(np.maximum(var, 0))

    def prob_at_least(
        self, reward: float, at: float | None = None, *, kind: Kind = "curve"
    ) -> float:
        """Probability that the reward at compute ``at`` is at least ``reward`` (delta method:
        Student-t around the fitted curve with the band's standard error).

        ``at`` defaults to the largest compute fitted; ``kind="observed"`` asks about one
        evaluation there (adds the noise sd).

        Examples
        --------
        >>> from rlscaling import fit_sigmoid, load_example
        >>> fit = fit_sigmoid(load_example("scalerl_like"), warn=False)
        >>> fit.prob_at_least(0.0) > fit.prob_at_least(fit.A) > fit.prob_at_least(1.0)
        True
        """
        kind = check_kind(kind)
        c = as_positive_compute(self.compute.max() if at is None else at, "at")[:1]
        est, sd = self._estimate_and_sd(c, kind)
        if not np.isfinite(sd[0]) or sd[0] == 0:
            return float(est[0] >= reward)
        return float(stdtr(max(self.dof, 1), -(reward - est[0]) / sd[0]))  # upper tail

    # ------------------------------------------------------------------ uncertainty methods
    def bootstrap(self, n: int = 1000, **kwargs: Any) -> BootstrapResult:
        """Bootstrap the fit; see :func:`rlscaling.uncertainty.bootstrap.bootstrap`."""
        return bootstrap(self, n=n, **kwargs)

    def mcmc(self, **kwargs: Any) -> MCMCResult:
        """Sample the posterior with emcee; see :func:`rlscaling.uncertainty.mcmc.mcmc`."""
        return mcmc(self, **kwargs)

    # ------------------------------------------------------------------ reporting
    def to_frame(self, level: float = 0.9) -> pd.DataFrame:
        """One row per parameter: estimate, standard error and delta-method interval."""
        rows = []
        for p in PUBLIC_NAMES:
            # R0 given as a number is exact; R0 read off the first evaluation carries that
            # evaluation's noise and gets an interval like a fitted parameter.
            fixed = p == "R0" and not self.bounds.free[3] and self.stderr["R0"] == 0
            lo, hi = (self.params[p], self.params[p]) if fixed else self.param_interval(p, level)
            rows.append(
                {
                    "param": p,
                    "estimate": self.params[p],
                    "stderr": self.stderr[p],
                    f"lower_{level:g}": lo,
                    f"upper_{level:g}": hi,
                    "fixed": fixed,
                }
            )
        return pd.DataFrame(rows).set_index("param")

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python description of the fit (JSON-serialisable)."""
        return {
            "name": self.data.name,
            "params": self.params,
            "stderr": self.stderr,
            "covariance": {
                "order": list(INTERNAL_NAMES),
                "matrix": np.where(np.isfinite(self.covariance), self.covariance, None).tolist(),
            },
            "r0_mode": self.r0_mode,
            "loss": self.loss,
            "n_used": self.n_used,
            "n_omitted": self.n_omitted,
            "omitted": dict(self.data.omitted),
            "compute_range": [float(self.compute.min()), float(self.compute.max())],
            "rmse": self.rmse,
            "r2": self.r2,
            "noise_sd": self.noise_sd,
            "gain_observed": self.gain_observed,
            "identified": self.identified,
            "identification_issues": list(self.identification_issues),
            "bounds_hit": list(self.bounds_hit),
            "success": self.success,
            "message": self.message,
        }

    def summary(self, level: float = 0.9) -> str:
        """Readable table of the fit; values are rounded to what their errors support."""
        lines = [
            f"Sigmoid fit{f' of {self.data.name}' if self.data.name else ''}: "
            "R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B)",
            f"  points used {self.n_used}, omitted {self.n_omitted}"
            + (f" {dict(self.data.omitted)}" if self.n_omitted else "")
            + f"; compute {self.compute.min():.4g} .. {self.compute.max():.4g}",
            f"  R0 {self.r0_mode}; loss {self.loss}; {self.message}",
            "",
            f"  {'param':<6}{'estimate':>12}{'stderr':>12}   {percent(level)} interval (delta)",
        ]
        for p, row in self.to_frame(level).iterrows():
            lo, hi = row.iloc[2], row.iloc[3]
            if row["fixed"]:
                lines.append(f"  {p:<6}{row['estimate']:>12.4g}{'fixed':>12}")
            else:
                lines.append(
                    f"  {p:<6}{row['estimate']:>12.4g}{row['stderr']:>12.3g}   [{lo:.4g}, {hi:.4g}]"
                )
        lines += [
            "",
            f"  rmse {self.rmse:.3g}, R^2 {self.r2:.3f}, noise sd {self.noise_sd:.3g}, "
            f"gain observed {self.gain_observed:.0%}",
        ]
        if self.identified:
            lines.append("  identified: yes")
        else:
            lines.append("  identified: NO -- " + "; ".join(self.identification_issues))
        return "\n".join(lines)

    def __repr__(self) -> str:
        flag = "" if self.identified else ", NOT identified"
        return (
            f"SigmoidFit(A={self.A:.4g}, B={self.B:.3g}, C_mid={self.C_mid:.4g}, "
            f"R0={self.R0:.4g}, n={self.n_used}{flag})"
        )

    def plot(
        self,
        ax: matplotlib.axes.Axes | None = None,
        *,
        extend: float = 10.0,
        level: float | None = 0.9,
        label: str | None = None,
        color: str | None = None,
    ) -> matplotlib.axes.Axes:
        """Data, fitted curve and (shaded) the extrapolation region on a log-compute axis.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure is made when omitted.
        extend : float
            Draw the curve up to ``extend`` times the largest observed compute.
        level : float or None
            Draw a delta-method curve band at this level (None: no band).
        """
        return plot_fit(self, ax=ax, extend=extend, level=level, label=label, color=color)


def _with_measured_r0(
    cov: NDArray,
    h_inv: NDArray,
    jac: NDArray,
    jac_raw: NDArray,
    free: NDArray,
    noise_sd: float,
    var_scale: float,
    r0_weight: float,
    r0_in_data: bool,
) -> NDArray:
    """The covariance when R0 is held at a measured reward, with that measurement's noise.

    Linearised, the fitted parameters are ``theta = M y + g R0`` with ``M = H^-1 J' W`` and
    ``g = -H^-1 J' W J_R0`` (how the fit moves when R0 moves; ``H = J' W J`` over the free
    parameters). R0 is one evaluation of noise variance ``s0 = noise_sd**2 / r0_weight``, so
    ``g g' s0`` adds to the covariance, R0 gets variance ``s0`` and covariance ``g s0`` with
    the rest; when that evaluation is also the first fitted point, ``y[0]`` and R0 share one
    noise draw, adding ``noise_sd**2 (H^-1 j0 g' + g j0' H^-1)`` (``j0``: the Jacobian's
    first row) and ``noise_sd**2 H^-1 j0`` to the covariance with R0.

    A robust fit's data part has the sandwich factor ``var_scale`` in place of
    ``noise_sd**2``; the shared draw then enters through ``sqrt(var_scale) * noise_sd``, so the
    matrix stays the covariance of one linear map of the noise (positive semi-definite). With
    ``noise_sd**2`` there, a Huber fit whose sandwich factor is well below ``noise_sd**2``
    got a negative variance for ln C_mid.
    """
    idx = np.flatnonzero(free)
    s0 = noise_sd**2 / r0_weight
    g = -h_inv @ (jac[:, free].T @ jac[:, 3])
    add = s0 * np.outer(g, g)
    cross = s0 * g
    if r0_in_data:
        hj = np.sqrt(var_scale) * noise_sd * (h_inv @ jac_raw[0, free])
        add = add + np.outer(hj, g) + np.outer(g, hj)
        cross = cross + hj
    out = cov.copy()
    out[np.ix_(idx, idx)] += add
    out[idx, 3] = out[3, idx] = cross
    out[3, 3] = s0
    return out


def fits_frame(fits: Sequence[SigmoidFit]) -> pd.DataFrame:
    """One row per fit: its name, the estimates and standard errors of each fit's
    :meth:`SigmoidFit.to_frame`, and how well the data pin it down.

    Parameters
    ----------
    fits : sequence of SigmoidFit

    Returns
    -------
    pandas.DataFrame
        Columns ``run``, ``A``, ``B``, ``C_mid``, ``R0``, ``A_stderr`` ... ``R0_stderr``,
        ``n`` (points used), ``r2``, ``identified`` and ``identification_issues`` (``"; "``
        joined, empty when identified).

    Examples
    --------
    >>> from rlscaling import fit_sigmoid, load_example
    >>> from rlscaling.fit.result import fits_frame
    >>> list(fits_frame([fit_sigmoid(load_example())]).columns[:5])
    ['run', 'A', 'B', 'C_mid', 'R0']
    """
    rows = []
    for f in fits:
        frame = f.to_frame()
        row: dict[str, Any] = {"run": f.data.name or "run", **frame["estimate"].to_dict()}
        row.update({f"{p}_stderr": se for p, se in frame["stderr"].items()})
        row.update(
            n=f.n_used,
            r2=f.r2,
            identified=f.identified,
            identification_issues="; ".join(f.identification_issues),
        )
        rows.append(row)
    return pd.DataFrame(rows)
