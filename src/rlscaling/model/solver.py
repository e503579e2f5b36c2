"""Batched least-squares solver for the sigmoid, shared by the point fit and the bootstrap.

Why not a loop of ``scipy.optimize.least_squares``: a bootstrap solves the same small problem
(four parameters, tens to hundreds of points) a thousand times. A Python loop of scipy calls
spends nearly all its time in per-call overhead, so here every replicate is one row of a batch:
starts come from a vectorised grid (variable projection: for fixed ``B`` and ``C_mid`` the curve
is linear in ``A`` and ``R0``, so the best ``A``/``R0`` for every grid cell is closed-form), and a
box-bounded Levenberg-Marquardt polishes all rows at once with the analytic Jacobian. The point
fit uses the same code with a batch of its best grid starts, so point fit and bootstrap
replicates are solved identically.

Shapes: ``R`` rows (replicates or starts), ``n`` points, parameters ``(A, B, ln C_mid, R0)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from rlscaling.model.curve import curve_jacobian, curve_value

Loss = Literal["linear", "soft_l1", "huber", "cauchy"]
LOSSES: tuple[str, ...] = ("linear", "soft_l1", "huber", "cauchy")


def robust_rho(z: NDArray, loss: str) -> tuple[NDArray, NDArray]:
    """Return ``rho(z)`` and ``rho'(z)`` for squared scaled residuals ``z`` (scipy's convention)."""
    if loss == "linear":
        return z, np.ones_like(z)
    if loss == "soft_l1":
        t = np.sqrt(1.0 + z)
        return 2.0 * (t - 1.0), 1.0 / t
    if loss == "huber":
        big = z > 1.0
        sz = np.sqrt(np.where(big, z, 1.0))
        return np.where(big, 2.0 * sz - 1.0, z), np.where(big, 1.0 / sz, 1.0)
    if loss == "cauchy":
        return np.log1p(z), 1.0 / (1.0 + z)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


@dataclass(frozen=True)
class Bounds:
    """Box bounds on ``(A, B, ln C_mid, R0)``; ``free`` marks parameters that are fitted."""

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    free: NDArray[np.bool_]


def grid_starts(
    x: NDArray,
    y: NDArray,
    w: NDArray,
    r0: NDArray | None,
    bounds: Bounds,
    b_grid: NDArray,
    m_grid: NDArray,
    n_best: int = 1,
) -> NDArray[np.float64]:
    """Best ``n_best`` grid cells per row, as starting parameter vectors ``(R, n_best, 4)``.

    For each cell ``(B, m)`` the logistic part ``s`` is fixed, so the weighted least-squares
    ``A`` (and ``R0`` when free) are closed-form; ``A`` is clipped into its bounds.
    ``r0`` holds the fixed starting reward per row, or ``None`` when ``R0`` is free.
    """
    bb, mm = np.meshgrid(b_grid, m_grid, indexing="ij")
    bb, mm = bb.ravel(), mm.ravel()
    s = expit(bb[:, None] * (x[None, :] - mm[:, None]))  # (G, n)
    s2 = s * s
    wy = w * y
    ss = w @ s2.T  # (R, G)  sum w s^2
    sys_ = wy @ s.T  # (R, G)  sum w y s
    a_lo, a_hi = bounds.lower[0], bounds.upper[0]
    if r0 is not None:
        z_s = sys_ - r0[:, None] * (w @ s.T)  # sum w (y - r0) s
        gain = z_s / np.maximum(ss, 1e-300)
        a = np.clip(r0[:, None] + gain, a_lo, a_hi)
        gain = a - r0[:, None]
        # SSR up to the constant sum w (y - r0)^2, which is the same for every cell of a row.
        ssr = -2.0 * gain * z_s + gain**2 * ss
        r0_cells = np.broadcast_to(r0[:, None], a.shape)
    else:
        sw = w.sum(axis=1)[:, None]
        s1 = w @ s.T
        sy = wy.sum(axis=1)[:, None]
        syy = (wy * y).sum(axis=1)[:, None]
        det = sw * ss - s1**2
        det = np.where(np.abs(det) < 1e-300, 1e-300, det)
        r0_cells = (ss * sy - s1 * sys_) / det
        r0_cells = np.clip(r0_cells, bounds.lower[3], bounds.upper[3])
        a = np.clip(r0_cells + (sw * sys_ - s1 * sy) / det, a_lo, a_hi)
        gain = a - r0_cells
        ssr = (
            syy
            - 2.0 * r0_cells * sy
            - 2.0 * gain * sys_
            + r0_cells**2 * sw
            + 2.0 * r0_cells * gain * s1
            + gain**2 * ss
        )
    ssr = np.where(np.isfinite(ssr), ssr, np.inf)
    k = min(n_best, ssr.shape[1])
    if k == 1:
        best = np.argmin(ssr, axis=1)[:, None]
    else:
        best = np.argpartition(ssr, k - 1, axis=1)[:, :k]  # (R, k), unordered
    rows = np.arange(ssr.shape[0])[:, None]
    out = np.stack(
        [a[rows, best], bb[best], mm[best], r0_cells[rows, best]],
        axis=-1,
    )
    return np.clip(out, bounds.lower, bounds.upper)


@dataclass(frozen=True)
class SolveResult:
    theta: NDArray[np.float64]  # (R, 4)
    cost: NDArray[np.float64]  # (R,) 0.5 * sum rho(z) * f_scale^2
    converged: NDArray[np.bool_]  # (R,)
    n_iter: int


def _cost(res: NDArray, loss: str, f_scale: float) -> NDArray:
    if loss == "linear":
        return 0.5 * np.sum(res * res, axis=-1)
    rho, _ = robust_rho((res / f_scale) ** 2, loss)
    return 0.5 * f_scale**2 * np.sum(rho, axis=-1)


def _reward_scale(y: NDArray) -> float:
    """A power of two near the spread of ``y`` when that is far from 1, else 1."""
    finite = np.asarray(y, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size < 2:
        return 1.0
    spread = float(finite.max() - finite.min())
    if not (np.isfinite(spread) and spread > 0) or 1e-2 <= spread <= 1e2:
        return 1.0
    return float(2.0 ** np.round(np.log2(spread)))


def levenberg_marquardt(
    x: NDArray,
    y: NDArray,
    w: NDArray,
    theta0: NDArray,
    bounds: Bounds,
    *,
    loss: str = "linear",
    f_scale: float = 1.0,
    max_iter: int = 200,
    ftol: float = 1e-10,
    xtol: float = 1e-9,
) -> SolveResult:
    """Minimise ``sum rho(w (f - y)^2)`` for every row at once, within box bounds.

    A projected LM: a parameter sitting on a bound whose gradient pushes it outward is held for
    that step (a simple active set), the rest take the damped Gauss-Newton step, and the trial
    point is clipped into the box. Robust losses use iteratively reweighted residuals and
    Jacobian rows (``sqrt(rho')``), as scipy does to first order.
    """
    scale = _reward_scale(y)
    if scale != 1.0:
        # The tolerances and damping floors below are absolute, tuned for rewards of order 0.01
        # to 100: solve on rewards divided by a power of two (exact, so nothing is lost) and
        # scale back. Curves on 1e-9 or 1e50 scales then converge to the same fit as at 1.
        lower, upper = bounds.lower.copy(), bounds.upper.copy()
        lower[[0, 3]] /= scale
        upper[[0, 3]] /= scale
        theta0 = np.array(theta0, dtype=float, copy=True)
        theta0[..., [0, 3]] /= scale
        sol = levenberg_marquardt(
            x,
            np.asarray(y, dtype=float) / scale,
            w,
            theta0,
            Bounds(lower=lower, upper=upper, free=bounds.free),
            loss=loss,
            f_scale=f_scale / scale,
            max_iter=max_iter,
            ftol=ftol,
            xtol=xtol,
        )
        theta = sol.theta.copy()
        theta[:, [0, 3]] *= scale
        return SolveResult(theta, sol.cost * scale**2, sol.converged, sol.n_iter)
    theta = np.array(theta0, dtype=float, copy=True)
    rows = theta.shape[0]
    y = np.broadcast_to(y, (rows, y.shape[-1]))
    sw = np.broadcast_to(np.sqrt(w), y.shape)
    x2 = np.broadcast_to(x, y.shape)
    free = bounds.free
    lam = np.full(rows, 1e-3)
    done = np.zeros(rows, dtype=bool)
    grad_norm = np.full(rows, np.inf)
    eye = np.eye(4)
    res = sw * (curve_value(x2, theta) - y)
    cost = _cost(res, loss, f_scale)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported)
        # Work only on rows still iterating: most replicates converge in a few steps.
        act = np.flatnonzero(~done)
        th, r, sw_a, x_a, y_a = theta[act], res[act], sw[act], x2[act], y[act]
        jac = curve_jacobian(x_a, th) * sw_a[..., None]  # (a, n, 4)
        if loss != "linear":
            _, drho = robust_rho((r / f_scale) ** 2, loss)
            scale = np.sqrt(drho)
            r_eff, j_eff = r * scale, jac * scale[..., None]
        else:
            r_eff, j_eff = r, jac
        j_eff = j_eff * free  # fixed parameters get zero columns
        jt = np.swapaxes(j_eff, 1, 2)
        grad = (jt @ r_eff[..., None])[..., 0]
        at_lo = (th <= bounds.lower) & (grad > 0)
        at_hi = (th >= bounds.upper) & (grad < 0)
        hold = at_lo | at_hi | ~free
        grad = np.where(hold, 0.0, grad)
        keep = (~hold).astype(float)
        jtj = (jt @ j_eff) * keep[:, :, None] * keep[:, None, :]
        diag = np.einsum("rii->ri", jtj)
        damp = lam[act, None] * np.maximum(diag, 1e-12) + hold * 1.0
        step = -np.linalg.solve(jtj + damp[:, :, None] * eye, grad[..., None])[..., 0]
        trial = np.where(hold, th, np.clip(th + step, bounds.lower, bounds.upper))
        res_t = sw_a * (curve_value(x_a, trial) - y_a)
        cost_t = _cost(res_t, loss, f_scale)
        c_old = cost[act]
        better = (cost_t < c_old) & np.isfinite(cost_t)
        small_f = better & (c_old - cost_t <= ftol * np.maximum(c_old, 1e-300))
        small_x = np.all(np.abs(trial - th) <= xtol * (np.abs(th) + xtol), axis=1)
        theta[act] = np.where(better[:, None], trial, th)
        res[act] = np.where(better[:, None], res_t, r)
        cost[act] = np.where(better, cost_t, c_old)
        lam_a = lam[act]
        lam[act] = np.where(better, np.maximum(lam_a / 3.0, 1e-12), np.minimum(lam_a * 4.0, 1e12))
        gmax = np.abs(grad).max(axis=1)
        grad_norm[act] = gmax
        stalled = ~better & (lam[act] >= 1e12)
        done[act] = small_f | (small_x & better) | stalled | (gmax < 1e-14)
        if done.all():
            break
    # A row is converged when it stopped on a tolerance, or when no damped step can lower its
    # cost any more (a numerical minimum); rows that ran out of iterations are not.
    converged = done & np.isfinite(cost)
    return SolveResult(theta=theta, cost=cost, converged=converged, n_iter=it)


def solve_replicates(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    r0: np.ndarray | None,
    bounds: Bounds,
    theta0: np.ndarray,
    *,
    loss: str = "linear",
    f_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit many perturbed copies of one curve (bootstrap replicates), starting from ``theta0``.

    Every row is first polished from ``theta0`` (the point fit). Rows where the best grid cell
    already beats that solution, or that did not converge, are polished again from the grid
    cell and keep the better of the two: a replicate is never stuck in a worse local minimum
    than the grid shows.
    """
    theta, cost, ok = solve_curve(
        x, y, w, r0, bounds, loss=loss, f_scale=f_scale, n_starts=0, theta0=theta0
    )
    # A coarser grid than the point fit's: it only has to reveal a clearly better basin.
    b_grid, m_grid = default_grids(x, bounds, n_b=9, n_m=18)
    g = grid_starts(x, y, w, r0, bounds, b_grid, m_grid, n_best=1)[:, 0, :]
    if r0 is not None:
        g[:, 3] = r0
    res_g = np.sqrt(w) * (curve_value(x, g) - y)
    cost_g = 0.5 * np.sum(res_g**2, axis=1) if loss == "linear" else np.full(len(g), -np.inf)
    redo = np.flatnonzero(~ok | (cost_g < cost * (1 - 1e-9)))
    if redo.size:
        sub = levenberg_marquardt(x, y[redo], w[redo], g[redo], bounds, loss=loss, f_scale=f_scale)
        better = sub.converged & ((sub.cost < cost[redo]) | ~ok[redo])
        idx = redo[better]
        theta[idx], cost[idx], ok[idx] = sub.theta[better], sub.cost[better], True
    return theta, cost, ok


def default_grids(
    x: np.ndarray, bounds: Bounds, n_b: int = 17, n_m: int = 36
) -> tuple[np.ndarray, np.ndarray]:
    """Grids over ``B`` and ``ln C_mid`` for the starting search."""
    b_grid = np.geomspace(max(bounds.lower[1], 0.1), min(bounds.upper[1], 12.0), n_b)
    span = max(float(np.ptp(x)), 1e-6)
    m_grid = np.linspace(x.min() - 0.5 * span, x.max() + 2.0 * span, n_m)
    m_grid = np.clip(m_grid, bounds.lower[2], bounds.upper[2])
    return b_grid, m_grid


def solve_curve(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    r0: np.ndarray | None,
    bounds: Bounds,
    *,
    loss: str = "linear",
    f_scale: float = 1.0,
    n_starts: int = 4,
    theta0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit every row of ``y`` (``(R, n)``) from its best grid starts; returns theta, cost, ok.

    ``theta0`` (``(R, 4)``), when given, is added as one more start per row (a bootstrap
    starts each replicate from the point fit as well as from the grid).
    """
    rows = y.shape[0]
    parts = []
    if n_starts > 0:
        b_grid, m_grid = default_grids(x, bounds)
        parts.append(grid_starts(x, y, w, r0, bounds, b_grid, m_grid, n_best=n_starts))
    if theta0 is not None:
        parts.append(np.asarray(theta0, dtype=float)[:, None, :])
    starts = np.concatenate(parts, axis=1)  # (R, k, 4)
    k = starts.shape[1]
    if r0 is not None:
        starts[..., 3] = r0[:, None]
    flat = starts.reshape(rows * k, 4)
    rep = lambda a: np.repeat(a, k, axis=0)  # noqa: E731
    sol = levenberg_marquardt(x, rep(y), rep(w), flat, bounds, loss=loss, f_scale=f_scale)
    cost_ok = np.where(sol.converged, sol.cost, np.inf).reshape(rows, k)
    cost_any = np.where(np.isfinite(sol.cost), sol.cost, np.inf).reshape(rows, k)
    # Prefer the best converged start; fall back to the lowest cost when none converged.
    best = np.where(
        np.isfinite(cost_ok).any(axis=1), np.argmin(cost_ok, axis=1), np.argmin(cost_any, axis=1)
    )
    idx = np.arange(rows) * k + best
    return sol.theta[idx], sol.cost[idx], sol.converged[idx]
