"""Matplotlib figures. Every function takes ``ax=None`` and returns the Axes it drew on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import matplotlib.axes

    from rlscaling.result import SigmoidFit


def new_axes(ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
    """Return ``ax`` or a fresh Axes on a new figure (no pyplot state is touched)."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    return fig.add_subplot()


def plot_fit(
    fit: SigmoidFit,
    ax: matplotlib.axes.Axes | None = None,
    *,
    extend: float = 10.0,
    level: float | None = 0.9,
    label: str | None = None,
    color: str | None = None,
) -> matplotlib.axes.Axes:
    """Points, fitted sigmoid, optional band, and the extrapolation region shaded."""
    ax = new_axes(ax)
    c_lo, c_hi = float(fit.compute.min()), float(fit.compute.max())
    grid = np.geomspace(c_lo / 1.5, c_hi * max(extend, 1.0), 200)
    name = label or fit.data.name or "run"
    pts = ax.scatter(fit.compute, fit.reward, s=14, color=color, label=f"{name} (data)", zorder=3)
    col = color or pts.get_facecolor()[0]
    ax.plot(grid, fit.predict(grid), color=col, lw=1.8, label=f"fit: A={fit.A:.3g}, B={fit.B:.3g}")
    if level is not None and np.all(np.isfinite(fit.covariance)):
        band = fit.band(grid, level=level)
        ax.fill_between(grid, band["lower"], band["upper"], color=col, alpha=0.15, lw=0)
    if extend > 1:
        ax.axvspan(c_hi, grid[-1], color="0.5", alpha=0.08, lw=0, label="extrapolation")
    ax.axhline(fit.A, color=col, ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("compute")
    ax.set_ylabel("reward")
    title = "" if fit.identified else "  (not identified: A is extrapolated)"
    ax.set_title(f"C_mid={fit.C_mid:.3g}{title}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return ax
