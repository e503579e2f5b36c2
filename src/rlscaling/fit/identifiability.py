"""Whether the data identify the fitted parameters, and the warning when they do not.

Two views: local checks on a solution (a parameter on its bound, data ending before C_mid, a
large standard error of A or B) and a profile check on A (would a curve with twice the gain
fit almost as well?). A fit that fails any is reported as not identified
(:attr:`~rlscaling.SigmoidFit.identified`) rather than presenting A as measured.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from rlscaling.fit.search import solve_one
from rlscaling.model.curve import PUBLIC_NAMES
from rlscaling.model.solver import Bounds

# A fit is called identified only when the data reach past the midpoint and A is not mostly
# uncertainty; below these, A is an extrapolation that the summary must not present as measured.
MIN_GAIN_OBSERVED = 0.5
MAX_RELATIVE_SE_OF_GAIN = 0.5
MAX_RELATIVE_SE_OF_B = 0.5
CHI2_1_95 = 3.84  # 95% point of chi-square with one degree of freedom
# Relative cost tolerance of the refit behind the profile check of A (see profile_issues).
PROFILE_FTOL = 1e-6


class IdentifiabilityWarning(UserWarning):
    """The data do not pin down a parameter (usually A): the value is a guess, not a measurement."""


def local_issues(
    theta: np.ndarray,
    stderr: dict[str, float],
    bounds: Bounds,
    x: np.ndarray,
    success: bool,
) -> tuple[list[str], list[str], float]:
    """What a solution says about identification: the issues found, the parameters on their
    bounds, and the share of the fitted gain the data reach (``gain_observed``)."""
    free = bounds.free
    c_mid = float(np.exp(theta[2]))
    hit = []
    for i in range(4):
        if not free[i]:
            continue
        for bound in (bounds.lower[i], bounds.upper[i]):
            if np.isfinite(bound) and abs(theta[i] - bound) <= 1e-6 * (1 + abs(bound)):
                hit.append(PUBLIC_NAMES[i])
    gain_observed = float(expit(theta[1] * (x.max() - theta[2])))
    issues: list[str] = []
    if not success:
        issues.append("the solver did not converge")
    for nm in hit:
        i = PUBLIC_NAMES.index(nm)
        val = theta[i] if nm != "C_mid" else c_mid
        issues.append(f"{nm} = {val:.4g} sits on its bound")
    if gain_observed < MIN_GAIN_OBSERVED:
        issues.append(
            f"the data end before C_mid (at {gain_observed:.0%} of the fitted gain), "
            "so A is an extrapolation"
        )
    gain = abs(theta[0] - theta[3])
    if not np.isfinite(stderr["A"]) or stderr["A"] > MAX_RELATIVE_SE_OF_GAIN * max(gain, 1e-12):
        issues.append(
            f"A is poorly determined (standard error {stderr['A']:.3g} against a gain "
            f"A - R0 = {gain:.3g})"
        )
    if not np.isfinite(stderr["B"]) or stderr["B"] > MAX_RELATIVE_SE_OF_B * theta[1]:
        issues.append(
            f"B is poorly determined (standard error {stderr['B']:.3g} against B = "
            f"{theta[1]:.3g}): the bend of the curve is not seen in the data"
        )
    for nm, key in (("C_mid", "log_C_mid"), ("R0", "R0")):
        i = PUBLIC_NAMES.index(nm)
        if free[i] and not np.isfinite(stderr[key]):
            # no threshold of their own, but an infinite standard error must not pass silently
            issues.append(f"{nm} has no finite standard error (the covariance is singular there)")
    return issues, hit, gain_observed


def profile_issues(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    theta: np.ndarray,
    cost: float,
    bounds: Bounds,
    r0_value: float | None,
    *,
    loss: str,
    f_scale: float,
) -> tuple[str, ...]:
    """Profile check on A: would a curve with twice the gain fit (almost) as well?

    The Jacobian standard error of A is a local, quadratic view; when the data only show the
    start of a rise it can be small while much larger asymptotes fit nearly as well. Refit with
    A held at ``R0 + 2 (A - R0)`` (within bounds) and compare: a weighted SSR increase below the
    95% chi-square(1) cut, in units of the noise variance, means A is not determined.
    """
    a_hat, r0_hat = theta[0], theta[3]
    a_alt = float(np.clip(r0_hat + 2.0 * (a_hat - r0_hat), bounds.lower[0], bounds.upper[0]))
    if abs(a_alt - a_hat) < 1e-9 * (1 + abs(a_hat)):
        return ()
    free = bounds.free.copy()
    free[0] = False
    lower, upper = bounds.lower.copy(), bounds.upper.copy()
    lower[0] = upper[0] = a_alt
    held = Bounds(lower=lower, upper=upper, free=free)
    start = theta.copy()
    start[0] = a_alt
    # The check compares a cost change with a chi-square cut: the held fit's cost is needed to
    # a relative 1e-6 (a change of the statistic of order 1e-6 x dof), not to the point fit's
    # 1e-10, which saves a third of its iterations.
    _, alt_cost, _ = solve_one(
        x, y, w, r0_value, held, loss=loss, f_scale=f_scale, n_starts=1, theta0=start,
        ftol=PROFILE_FTOL,
    )  # fmt: skip
    dof = max(y.size - int(bounds.free.sum()), 1)
    sigma2 = 2.0 * cost / dof
    if sigma2 <= 0:
        return ()
    delta = 2.0 * (float(alt_cost[0]) - cost) / sigma2
    if delta < CHI2_1_95:
        return (
            f"a curve with A = {a_alt:.3g} fits almost as well (chi-square change {delta:.2f} "
            f"< {CHI2_1_95}), so A is not determined by the data",
        )
    return ()
