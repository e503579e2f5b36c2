"""Matplotlib figures. Single-panel functions take ``ax=None`` and return the Axes they drew
on; :func:`plot_fits` lays out one small panel per run and returns the Figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure

    from rlscaling.fit.result import SigmoidFit
    from rlscaling.forecasting.forecast import Forecast


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
    """Points, fitted sigmoid (solid over the data, dashed where extrapolated), optional band.

    On a new Axes the title gives C_mid and whether A is identified; on an Axes the caller
    passes in (which may hold other runs) no title is set, and the "extrapolated" legend entry
    is added once however many fits share the Axes.
    """
    shared = ax is not None
    ax = new_axes(ax)
    c_lo, c_hi = float(fit.compute.min()), float(fit.compute.max())
    name = label or fit.data.name or "run"
    pts = ax.scatter(fit.compute, fit.reward, s=14, color=color, label=f"{name} (data)", zorder=3)
    col = color or pts.get_facecolor()[0]
    seen = np.geomspace(c_lo / 1.5, c_hi, 120)
    ax.plot(seen, fit.predict(seen), color=col, lw=1.8, label=f"fit: A={fit.A:.3g}, B={fit.B:.3g}")
    grid = seen
    if extend > 1:
        ahead = np.geomspace(c_hi, c_hi * extend, 80)
        labels = ax.get_legend_handles_labels()[1]
        tag = "extrapolated" if "extrapolated" not in labels else "_nolegend_"
        ax.plot(ahead, fit.predict(ahead), color=col, lw=1.4, ls="--", label=tag)
        grid = np.concatenate([seen, ahead[1:]])
    if level is not None and np.all(np.isfinite(fit.covariance)):
        band = fit.band(grid, level=level)
        ax.fill_between(
            grid, band["lower"], band["upper"], color=col, alpha=0.15, lw=0,
            label=f"{level:.0%} band (delta method)",
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("compute")
    ax.set_ylabel("reward")
    if not shared:
        flag = "" if fit.identified else "  (not identified: A is extrapolated)"
        ax.set_title(f"C_mid={fit.C_mid:.3g}{flag}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def panel_grid(n: int, ncols: int, size: tuple[float, float]) -> tuple[Any, list[Any]]:
    """A Figure with ``n`` visible panels of ``size`` inches, ``ncols`` to a row (the rest of
    the last row hidden), and the list of those ``n`` Axes."""
    from matplotlib.figure import Figure

    ncol = max(1, min(ncols, n))
    nrow = math.ceil(n / ncol)
    fig = Figure(figsize=(size[0] * ncol, size[1] * nrow + 0.6), layout="constrained")
    axes = list(fig.subplots(nrow, ncol, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def plot_fits(
    fits: Sequence[SigmoidFit],
    *,
    extend: float = 3.0,
    ncols: int = 4,
    unit: str | None = None,
) -> matplotlib.figure.Figure:
    """One small panel per fit (titled by the run, flagged when A is not identified) and one
    legend for the figure: data, fit, extrapolated.

    Examples
    --------
    >>> from rlscaling import example_curves, fit_sigmoid
    >>> fig = plot_fits([fit_sigmoid(r, warn=False) for r in example_curves()[:3]])
    >>> len([ax for ax in fig.axes if ax.get_visible()])
    3
    """
    from matplotlib.lines import Line2D

    fig, axes = panel_grid(len(fits), ncols, (3.0, 2.4))
    for ax, f in zip(axes, fits, strict=True):
        c_lo, c_hi = float(f.compute.min()), float(f.compute.max())
        seen = np.geomspace(c_lo / 1.5, c_hi, 100)
        ahead = np.geomspace(c_hi, c_hi * max(extend, 1.0), 60)
        ax.scatter(f.compute, f.reward, s=7, color="C0", lw=0, alpha=0.8)
        ax.plot(seen, f.predict(seen), color="C1", lw=1.5)
        ax.plot(ahead, f.predict(ahead), color="C1", lw=1.2, ls="--")
        ax.set_xscale("log")
        flag = "" if f.identified else " (A not identified)"
        ax.set_title(f"{f.data.name or 'run'}{flag}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[-min(len(axes), 4) :]:
        ax.set_xlabel(f"compute ({unit})" if unit else "compute", fontsize=8)
    handles = [
        Line2D([], [], marker="o", ls="", color="C0", ms=4, label="data"),
        Line2D([], [], color="C1", lw=1.5, label="sigmoid fit"),
        Line2D([], [], color="C1", lw=1.2, ls="--", label="extrapolated"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def plot_forecast(
    fc: Forecast,
    ax: matplotlib.axes.Axes | None = None,
    *,
    held_out: tuple[Any, Any] | None = None,
) -> matplotlib.axes.Axes:
    """A forecast with several budgets as a path: observed points, the median forecast from
    the last observation to the largest budget, and a labelled shade per interval level
    (e.g. "90% interval", "80% interval"); ``held_out`` = (compute, reward) of later points
    to check it against, in grey.

    Examples
    --------
    >>> import numpy as np
    >>> from rlscaling import forecast, load_example
    >>> half = load_example("scalerl_like").truncate(0.5)
    >>> c = half.compute.max()
    >>> fc = forecast(half, np.geomspace(c, 4 * c, 8), n_samples=200)
    >>> ax = plot_forecast(fc)
    >>> sorted(t.get_text() for t in ax.get_legend().get_texts())[:2]
    ['80% interval', '90% interval']
    """
    ax = new_axes(ax)
    ax.scatter(fc.observed_compute, fc.observed_reward, s=9, color="C0", label="observed")
    if held_out is not None:
        ax.scatter(*held_out, s=9, color="0.6", label="held out")
    order = np.argsort(fc.budget)
    c_last = float(fc.observed_compute.max())
    x = np.concatenate([[c_last], fc.budget[order]])
    start = float(fc.observed_reward[-1])
    for lv, alpha in zip(sorted(fc.levels, reverse=True), (0.18, 0.3, 0.42), strict=False):
        lo, hi = fc.interval(lv)
        ax.fill_between(
            x, np.concatenate([[start], lo[order]]), np.concatenate([[start], hi[order]]),
            color="C1", alpha=alpha, lw=0, label=f"{lv:.0%} interval",
        )  # fmt: skip
    ax.plot(x, np.concatenate([[start], fc.median[order]]), color="C1", lw=1.6, label="forecast")
    ax.set_xscale("log")
    ax.set_xlabel("compute")
    ax.set_ylabel("reward")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def save_figure(ax_or_fig: Any, path: str | Path) -> Path:
    """Save the figure of an Axes (or a Figure) as ``path`` (folders created); returns the path.

    Examples
    --------
    >>> from rlscaling import fit_sigmoid, load_example
    >>> from rlscaling.plot import save_figure
    >>> save_figure(fit_sigmoid(load_example("scalerl_like"), warn=False).plot(), "fit.png").name
    'fit.png'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = getattr(ax_or_fig, "figure", ax_or_fig)
    for ax in fig.axes:
        if ax.get_visible() and ax.get_xscale() == "log":
            tidy_log_ticks(ax)
    fig.savefig(path, dpi=120)
    return path


def tidy_log_ticks(ax: matplotlib.axes.Axes) -> matplotlib.axes.Axes:
    """Readable compute ticks on a log x axis, however narrow the panel.

    Matplotlib labels the minor ticks of a log axis that spans less than a decade
    ("2x10^11", "3x10^11", ...); in a small panel they overrun each other. Here only major
    ticks are labelled: at 1, 2 and 5 times a power of ten when the axis spans under 1.5
    decades, at powers of ten otherwise.

    Examples
    --------
    >>> from rlscaling.plot import new_axes, tidy_log_ticks
    >>> ax = new_axes()
    >>> _ = ax.plot([2e11, 9e11], [0.1, 0.3]); ax.set_xscale("log")
    >>> _ = tidy_log_ticks(ax)
    >>> type(ax.xaxis.get_minor_formatter()).__name__
    'NullFormatter'
    """
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    lo, hi = ax.get_xlim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else math.inf
    subs = (1.0, 2.0, 5.0) if decades < 1.5 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=subs))
    ax.xaxis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))
    ax.xaxis.set_minor_formatter(NullFormatter())
    return ax
