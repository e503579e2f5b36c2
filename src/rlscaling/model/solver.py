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

from rlscaling.model.curve import curve_jacobian

Loss = Literal["linear", "soft_l1", "huber", "cauchy"]
LOSSES: tuple[str, ...] = ("linear", "soft_l1", "huber", "cauchy")
# A bootstrap replicate whose cost from the warm start exceeds this multiple of the median
# replicate cost is searched again from the grid (see solve_replicates).
SUSPECT_COST_RATIO = 2.0
# From this many rows on, the damped normal equations are solved by the batched Cholesky of
# _solve_spd (bootstrap batches); below it by numpy.linalg.solve (point fits: a few starts).
SPD_BATCH_MIN = 32
# Up to this many residuals (rows x points) the normal equations are built in a few stacked
# einsum calls (cheaper per call); above it column pair by column pair (cheaper per byte).
SMALL_BATCH_POINTS = 8192


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
    s = _logistic(bb[:, None] * (x[None, :] - mm[:, None]))  # (G, n)
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
        # A cell whose logistic part is flat over the data (all ~0 or ~1) does not fix A and
        # R0 apart: its determinant is ~0 and its numbers overflow. Such a cell gets an
        # infinite SSR below and is never chosen, so the overflow is expected, not reported.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
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


def _logistic(z: NDArray, negated: bool = False) -> NDArray:
    """``expit(z)`` as ``1 / (1 + exp(-z))`` (``expit(-z)`` when ``negated``, saving a pass).

    Four times faster than scipy's ``expit`` on the solver's arrays, and as accurate for the
    values it is used for (``exp`` overflowing to inf gives the correct limit 0).
    """
    with np.errstate(over="ignore"):
        out = np.exp(z) if negated else np.exp(-z)
    out += 1.0
    return np.reciprocal(out, out=out)


def _solve_spd(mat: NDArray, rhs: NDArray) -> NDArray:
    """Solve ``mat @ out = rhs`` for a batch of small symmetric positive definite matrices.

    A Cholesky factorisation written out over the (at most four) matrix indices, each
    operation vectorised over the batch: ``numpy.linalg.solve`` costs more in its per-batch
    setup than the arithmetic of a thousand 3x3 systems. The damped normal matrices of the
    solver are positive definite; a row where one is not (a non-positive pivot) gets a NaN
    step, which the solver rejects like any step that does not lower the cost.
    """
    k = mat.shape[-1]
    low = np.zeros_like(mat)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(k):
            d = mat[:, j, j] - np.einsum("rk,rk->r", low[:, j, :j], low[:, j, :j])
            low[:, j, j] = np.sqrt(np.where(d > 0, d, np.nan))
            for i in range(j + 1, k):
                off = mat[:, i, j] - np.einsum("rk,rk->r", low[:, i, :j], low[:, j, :j])
                low[:, i, j] = off / low[:, j, j]
        z = np.empty_like(rhs)
        for i in range(k):
            z[:, i] = (rhs[:, i] - np.einsum("rk,rk->r", low[:, i, :i], z[:, :i])) / low[:, i, i]
        out = np.empty_like(rhs)
        for i in reversed(range(k)):
            tail = np.einsum("rk,rk->r", low[:, i + 1 :, i], out[:, i + 1 :])
            out[:, i] = (z[:, i] - tail) / low[:, i, i]
    return out


def _cost(res: NDArray, loss: str, f_scale: float) -> NDArray:
    if loss == "linear":
        return 0.5 * np.einsum("...n,...n->...", res, res)
    rho, _ = robust_rho((res / f_scale) ** 2, loss)
    return 0.5 * f_scale**2 * np.sum(rho, axis=-1)


def _reward_scale(y: NDArray) -> float:
    """A power of two near the spread of ``y`` when that is far from 1, else 1."""
    finite = np.asarray(y, dtype=float)
    if finite.size < 2:
        return 1.0
    spread = float(finite.max() - finite.min())
    if not np.isfinite(spread):  # only then pay for dropping the NaN/inf values
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
    return _lm_rows(x, y, w, theta0, bounds, loss, f_scale, max_iter, ftol, xtol)


def _lm_rows(
    x: NDArray,
    y: NDArray,
    w: NDArray,
    theta0: NDArray,
    bounds: Bounds,
    loss: str,
    f_scale: float,
    max_iter: int,
    ftol: float,
    xtol: float,
) -> SolveResult:
    """The projected LM of :func:`levenberg_marquardt`, on rewards already of order one.

    Written for speed on a batch of a thousand replicates, without changing the iteration:
    the Jacobian is built column by column for the free parameters only (a fixed ``R0`` costs
    nothing), the normal equations are sums of column products, and the logistic part of the
    accepted point is kept from the step that accepted it instead of being evaluated again.
    Rows that have stopped are frozen (their state no longer changes) and dropped from the
    working arrays once they are 15% or more of them, so late iterations touch only the few
    rows still moving.
    """
    theta = np.array(theta0, dtype=float, copy=True)
    rows = theta.shape[0]
    y = np.broadcast_to(np.asarray(y, dtype=float), (rows, np.shape(y)[-1]))
    sw = np.broadcast_to(np.sqrt(w), y.shape)
    x = np.asarray(x, dtype=float)
    shared_x = x.ndim == 1
    if not shared_x:
        x = np.broadcast_to(x, y.shape)
    free_idx = np.flatnonzero(bounds.free)
    k = free_idx.size
    lower_f, upper_f = bounds.lower[free_idx], bounds.upper[free_idx]
    cost = np.empty(rows)
    done = np.zeros(rows, dtype=bool)
    if k == 0:  # nothing to fit: every row is at its (only) solution
        s0 = expit(theta[:, 1:2] * (x - theta[:, 2:3]))
        res0 = sw * (theta[:, 3:4] + (theta[:, 0:1] - theta[:, 3:4]) * s0 - y)
        cost = _cost(res0, loss, f_scale)
        return SolveResult(theta, cost, np.isfinite(cost), 0)

    # Working set: row ids and their arrays; compacted as rows stop.
    ids = np.arange(rows)
    th = theta
    y_w, sw_w = y, sw
    x_w = x
    unit_w = bool(np.all(w == 1.0))  # plain least squares: skip multiplying by sqrt(w) = 1
    s_w = _logistic(th[:, 1:2] * (x_w - th[:, 2:3]))
    res_w = th[:, 3:4] + (th[:, 0:1] - th[:, 3:4]) * s_w - y_w
    if not unit_w:
        res_w *= sw_w
    cost_w = _cost(res_w, loss, f_scale)
    lam_w = np.full(rows, 1e-3)
    live = np.ones(rows, dtype=bool)
    eye = np.eye(k)
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported)
        if live.sum() <= 0.85 * live.size:
            # Compact: write frozen rows back, keep only the live ones.
            gone = ~live
            theta[ids[gone]] = th[gone]
            cost[ids[gone]] = cost_w[gone]
            ids, th, y_w, sw_w = ids[live], th[live], y_w[live], sw_w[live]
            s_w, res_w, cost_w, lam_w = s_w[live], res_w[live], cost_w[live], lam_w[live]
            if not shared_x:
                x_w = x_w[live]
            live = np.ones(ids.size, dtype=bool)
        a_, b_, m_, r_ = th[:, 0], th[:, 1], th[:, 2:3], th[:, 3]
        # Jacobian columns: dR/dA = s, dR/dB = (A - R0) s (1 - s) (x - m),
        # dR/dm = -(A - R0) s (1 - s) B, dR/dR0 = 1 - s (see rlscaling.model.curve.curve_jacobian).
        # Each is a per-row factor times one of four base arrays, so the normal equations are
        # built from products of base arrays, scaled afterwards (fewer passes over the data).
        one_minus = 1.0 - s_w
        q = s_w * one_minus
        gain = a_ - r_
        base = {0: s_w, 3: one_minus, 2: q}
        factor = {0: 1.0, 1: gain, 2: -gain * b_, 3: 1.0}
        if 1 in free_idx:
            base[1] = q * (x_w - m_)
        if loss != "linear":
            _, drho = robust_rho((res_w / f_scale) ** 2, loss)
            scale = np.sqrt(drho)
            r_eff = res_w * scale
            col_w = scale if unit_w else sw_w * scale
        else:
            r_eff, col_w = res_w, (None if unit_w else sw_w)
        jac = [base[i] if col_w is None else base[i] * col_w for i in free_idx]
        fac = [factor[i] for i in free_idx]
        if res_w.size <= SMALL_BATCH_POINTS:
            # A point fit (a few starts): fewer, larger numpy calls, as per-call cost dominates.
            jst = np.stack(jac)  # (k, a, n)
            fmat = np.stack([np.broadcast_to(f, th.shape[:1]) for f in fac], axis=1)  # (a, k)
            grad = np.einsum("kan,an->ak", jst, r_eff) * fmat
            jtj = np.einsum("kan,jan->akj", jst, jst) * (fmat[:, :, None] * fmat[:, None, :])
        else:
            # A bootstrap batch: one product per pair of columns streams through memory once.
            grad = np.stack(
                [f * np.einsum("rn,rn->r", j, r_eff) for j, f in zip(jac, fac, strict=True)],
                axis=1,
            )
            jtj = np.empty((th.shape[0], k, k))
            for i, j in pairs:
                jtj[:, i, j] = jtj[:, j, i] = (
                    fac[i] * fac[j] * np.einsum("rn,rn->r", jac[i], jac[j])
                )
        th_f = th[:, free_idx]
        at_lo = (th_f <= lower_f) & (grad > 0)
        at_hi = (th_f >= upper_f) & (grad < 0)
        hold = at_lo | at_hi
        grad[hold] = 0.0
        if hold.any():
            keep = (~hold).astype(float)
            jtj = jtj * keep[:, :, None] * keep[:, None, :]
        diag = np.einsum("rii->ri", jtj)
        damp = lam_w[:, None] * np.maximum(diag, 1e-12) + hold * 1.0
        lhs = jtj + damp[:, :, None] * eye
        if th.shape[0] >= SPD_BATCH_MIN:
            step = -_solve_spd(lhs, grad)
        else:  # a few rows (a point fit's starts): LAPACK's per-call cost is the smaller one
            step = -np.linalg.solve(lhs, grad[..., None])[..., 0]
        trial = th.copy()
        trial[:, free_idx] = np.where(hold, th_f, np.clip(th_f + step, lower_f, upper_f))
        ta, tb, tm, tr = trial[:, 0:1], trial[:, 1:2], trial[:, 2:3], trial[:, 3:4]
        s_t = _logistic(tb * (tm - x_w), negated=True)
        res_t = (ta - tr) * s_t
        res_t += tr
        res_t -= y_w
        if not unit_w:
            res_t *= sw_w
        cost_t = _cost(res_t, loss, f_scale)
        c_old = cost_w
        better = (cost_t < c_old) & np.isfinite(cost_t) & live
        small_f = better & (c_old - cost_t <= ftol * np.maximum(c_old, 1e-300))
        small_x = np.all(np.abs(trial - th) <= xtol * (np.abs(th) + xtol), axis=1)
        # Accept the trial rows that lowered the cost: the trial arrays become the state, with
        # the rows that did not (usually few) copied back from the old state.
        worse = ~better
        if worse.any():
            trial[worse] = th[worse]
            res_t[worse] = res_w[worse]
            s_t[worse] = s_w[worse]
            cost_t[worse] = c_old[worse]
        th, res_w, s_w, cost_w = trial, res_t, s_t, cost_t
        lam_w = np.where(
            live,
            np.where(better, np.maximum(lam_w / 3.0, 1e-12), np.minimum(lam_w * 4.0, 1e12)),
            lam_w,
        )
        gmax = np.abs(grad).max(axis=1)
        stalled = ~better & (lam_w >= 1e12)
        stop = live & (small_f | (small_x & better) | stalled | (gmax < 1e-14))
        live = live & ~stop
        if not live.any():
            break
    theta[ids] = th
    cost[ids] = cost_w
    done[:] = True
    done[ids[live]] = False
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

    Every row is first polished from ``theta0`` (the point fit): a replicate is a small
    perturbation of the data the point fit solved, so its minimum is nearby and a few
    Levenberg-Marquardt steps reach it. Only rows that fail from there get the grid search: rows
    that did not converge, whose cost is far above the batch's typical cost (more than
    ``SUSPECT_COST_RATIO`` times the median: a replicate stuck in a worse basin), or that ended
    on a bound of B or C_mid the start was not on (the solver walked into a corner). Those are
    polished again from their best grid cell and keep the better of the two solutions.
    """
    theta0 = np.array(theta0, dtype=float, copy=True)
    if r0 is not None:
        theta0[:, 3] = r0
    if loss == "linear":
        theta0 = _linearised_starts(x, y, w, theta0, bounds)
    sol = levenberg_marquardt(x, y, w, theta0, bounds, loss=loss, f_scale=f_scale)
    theta, cost, ok = sol.theta, sol.cost, sol.converged
    finite = np.isfinite(cost)
    typical = float(np.median(cost[finite])) if finite.any() else np.inf
    suspect = ~ok | ~finite | (cost > SUSPECT_COST_RATIO * typical)
    tol = 1e-6 * (1.0 + np.abs(bounds.lower[1:3]))
    on_lo = np.abs(theta[:, 1:3] - bounds.lower[1:3]) <= tol
    on_hi = np.abs(theta[:, 1:3] - bounds.upper[1:3]) <= 1e-6 * (1.0 + np.abs(bounds.upper[1:3]))
    start_lo = np.abs(theta0[:, 1:3] - bounds.lower[1:3]) <= tol
    start_hi = np.abs(theta0[:, 1:3] - bounds.upper[1:3]) <= 1e-6 * (
        1.0 + np.abs(bounds.upper[1:3])
    )
    suspect |= np.any((on_lo & ~start_lo) | (on_hi & ~start_hi), axis=1)
    redo = np.flatnonzero(suspect)
    if redo.size:
        # A coarser grid than the point fit's: it only has to reveal a clearly better basin.
        b_grid, m_grid = default_grids(x, bounds, n_b=9, n_m=18)
        r0_redo = None if r0 is None else r0[redo]
        g = grid_starts(x, y[redo], w[redo], r0_redo, bounds, b_grid, m_grid, n_best=1)[:, 0, :]
        if r0 is not None:
            g[:, 3] = r0_redo
        sub = levenberg_marquardt(x, y[redo], w[redo], g, bounds, loss=loss, f_scale=f_scale)
        better = sub.converged & ((sub.cost < cost[redo]) | ~ok[redo])
        idx = redo[better]
        theta[idx], cost[idx], ok[idx] = sub.theta[better], sub.cost[better], True
    return theta, cost, ok


def _linearised_starts(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, theta0: np.ndarray, bounds: Bounds
) -> np.ndarray:
    """One shared Gauss-Newton step from a common start, for all rows at once.

    When every row starts from the same curve (the point fit) with the same weights, the
    Jacobian at the start is one matrix for all rows, so the first Gauss-Newton step of every
    row is a single matrix product: ``theta0 - (J'WJ)^-1 J'W (f(theta0) - y)``. It takes a
    replicate most of the way to its minimum (what the solver's first iteration would do, for
    the price of one residual evaluation), and the solver then polishes it. A row whose step
    does not lower its cost keeps ``theta0``; rows with other starts or weights are left alone.
    A fixed ``R0`` may differ between rows: it only shifts the residuals.
    """
    rows = theta0.shape[0]
    free = np.flatnonzero(bounds.free)
    w_row = np.broadcast_to(w, y.shape)
    if rows < 2 or x.ndim != 1 or free.size == 0:
        return theta0
    first = theta0[0]
    same_curve = np.all(theta0[:, [0, 1, 2]] - theta0[0, [0, 1, 2]] == 0.0)
    r0_varies = bounds.free[3] and np.any(theta0[:, 3] != theta0[0, 3])
    if not same_curve or r0_varies or not np.all(w_row == w_row[0]):
        return theta0
    sw = np.sqrt(w_row[0])
    s = expit(first[1] * (x - first[2]))  # the logistic part is the same for every row
    res = sw * (theta0[:, 3:4] + (theta0[:, 0:1] - theta0[:, 3:4]) * s - y)  # (R, n)
    jac = curve_jacobian(x, first)[:, free] * sw[:, None]  # (n, k)
    try:
        proj = np.linalg.solve(jac.T @ jac, jac.T)  # (k, n)
    except np.linalg.LinAlgError:
        return theta0
    step = -(res @ proj.T)  # (R, k)
    # With a fixed R0 that differs between rows (the bootstrap redraws it), row r's Jacobian
    # columns of B and ln C_mid are the first row's times c_r = (A - R0_r) / (A - R0_1): its
    # Jacobian is J D_r with D_r = diag(1, c_r, c_r), so its Gauss-Newton step is the shared
    # step with those two components divided by c_r.
    gain0 = first[0] - first[3]
    if not bounds.free[3] and gain0 != 0:
        c_r = (theta0[:, 0] - theta0[:, 3]) / gain0
        c_r = np.where(np.abs(c_r) > 1e-3, c_r, 1.0)
        for col, i in enumerate(free):
            if i in (1, 2):
                step[:, col] /= c_r
    trial = theta0.copy()
    trial[:, free] = np.clip(theta0[:, free] + step, bounds.lower[free], bounds.upper[free])
    with np.errstate(over="ignore"):
        s_t = 1.0 / (1.0 + np.exp(trial[:, 1:2] * (trial[:, 2:3] - x)))  # expit, faster
    res_t = sw * (trial[:, 3:4] + (trial[:, 0:1] - trial[:, 3:4]) * s_t - y)
    better = np.einsum("rn,rn->r", res_t, res_t) < np.einsum("rn,rn->r", res, res)
    return np.where(better[:, None], trial, theta0)


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
    return _solve_curve(
        x, y, w, r0, bounds, loss=loss, f_scale=f_scale, n_starts=n_starts, theta0=theta0
    )


def _solve_curve(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    r0: np.ndarray | None,
    bounds: Bounds,
    *,
    loss: str,
    f_scale: float,
    n_starts: int,
    theta0: np.ndarray | None,
    ftol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`solve_curve`, with the solver's relative cost tolerance ``ftol`` exposed."""
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
    sol = levenberg_marquardt(
        x, rep(y), rep(w), flat, bounds, loss=loss, f_scale=f_scale, ftol=ftol
    )
    cost_ok = np.where(sol.converged, sol.cost, np.inf).reshape(rows, k)
    cost_any = np.where(np.isfinite(sol.cost), sol.cost, np.inf).reshape(rows, k)
    # Prefer the best converged start; fall back to the lowest cost when none converged.
    best = np.where(
        np.isfinite(cost_ok).any(axis=1), np.argmin(cost_ok, axis=1), np.argmin(cost_any, axis=1)
    )
    idx = np.arange(rows) * k + best
    return sol.theta[idx], sol.cost[idx], sol.converged[idx]
