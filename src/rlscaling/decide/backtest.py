"""Backtest forecasts on finished runs: fit the early part, score against the end.

For each full run and each fraction ``f``, :func:`backtest` keeps the evaluations up to ``f`` of
the run's final compute, forecasts the final evaluated reward and scores the forecast against
what the run showed: absolute error, and for each interval level whether the interval covered
the truth and how wide it was. Runs on different scales (pass rates, returns in the
thousands) are summarised by errors and widths relative to each run's range of reward
(max - min over the whole run), as ``benchmarks/forecast_accuracy.py`` does; an absolute error
pooled over such runs would be dominated by the run with the largest numbers. Beside the
forecast, in the same table, are the baselines a forecast has to beat:

- ``carry_last``: the last observed reward, carried forward;
- ``smoothed_level``: an exponentially weighted level of the observed rewards, its weight
  chosen on the run's own past: the strongest simple baseline on noisy plateaus, and the
  one a forecast of a run that has stopped rising must beat;
- ``local_level``: a local-linear (Holt) level, its two weights chosen on the run's own past
  (the level step of the ``"auto"`` forecast alone): it keeps up with a noisy run that is
  still rising, where the exponentially weighted level lags or falls back to the last value;
- ``mean_last3``: the mean of the last three observed rewards;
- ``curve_fit``: an unconstrained ``scipy.optimize.curve_fit`` of the same sigmoid from a single
  start, with a delta-method prediction interval from its covariance.

A method that cannot answer (too few points, a solver that fails) is counted as refused with
its reason; no run is dropped silently. When runs carry ``metadata["recipe"]``, the backtest
also asks whether the final ranking of recipes was predicted at each fraction.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats
from tqdm.auto import tqdm

from rlscaling.decide.compare import records
from rlscaling.forecasting.ensemble import local_level, smoothed_level
from rlscaling.forecasting.forecast import METHODS, ForecastWarning, forecast
from rlscaling.io.checks import InputError, check_level
from rlscaling.io.loaders import as_runs
from rlscaling.io.runs import Run
from rlscaling.plot import new_axes
from rlscaling.protocol import Kind, check_kind

if TYPE_CHECKING:
    import matplotlib.axes

__all__ = ["BASELINES", "BacktestResult", "backtest"]

BASELINES = ("carry_last", "smoothed_level", "local_level", "mean_last3", "curve_fit")
Target = Literal["last3", "last"]
REFUSABLE = (InputError, ValueError, RuntimeError, FloatingPointError, np.linalg.LinAlgError)


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Result of :func:`backtest`.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per run x fraction x method: ``run``, ``recipe``, ``fraction``, ``method``,
        ``n_observed``, ``observed_compute``, ``target_compute``, ``truth``, ``prediction``,
        ``error``, ``abs_error`` (reward units), ``range`` (max - min of the run's reward; 1
        for a flat run), ``rel_error`` = ``abs_error / range``, per level ``lower_<lv>``,
        ``upper_<lv>``, ``covered_<lv>``, ``width_<lv>`` (reward units) and ``rel_width_<lv>``
        (NaN for methods without an interval), ``refused`` and ``reason``.
    ranking : pandas.DataFrame
        Per fraction and method, when runs carry ``metadata["recipe"]`` (empty otherwise):
        ``kendall_tau`` between the predicted and the final order of recipes (mean reward over
        each recipe's runs) and ``top1_correct``.
    """

    frame: pd.DataFrame
    ranking: pd.DataFrame
    fractions: tuple[float, ...]
    levels: tuple[float, ...]
    method: str
    target: str
    seed: int | None

    @property
    def forecast_method(self) -> str:
        """Name of the library's rows in ``frame["method"]``."""
        return f"forecast[{self.method}]"

    def to_frame(self) -> pd.DataFrame:
        """One row per run x fraction x method (:attr:`frame`)."""
        return self.frame

    def interval(self, level: float = 0.9, *, kind: Kind = "observed") -> tuple[Any, Any]:
        """``(lower, upper)`` of every row of :meth:`to_frame`: each forecast's interval of the
        final reward at ``level`` (one of the levels scored; NaN for baselines without one).
        The forecasts are of what the evaluations show: ``kind="observed"`` only."""
        check_kind(kind, ("observed",))
        level = check_level(level)
        if not any(abs(level - lv) < 1e-12 for lv in self.levels):
            raise InputError(f"level must be one of the levels scored {self.levels}, got {level}")
        return (
            self.frame[f"lower_{level:g}"].to_numpy(dtype=float),
            self.frame[f"upper_{level:g}"].to_numpy(dtype=float),
        )

    def prob_at_least(self, reward: float, at: Any = None, *, kind: Kind = "observed") -> Any:
        """Not defined: a backtest scores forecasts against what happened and holds no
        distribution of the reward. Ask a forecast (:func:`rlscaling.forecast`) instead."""
        raise TypeError(
            "a backtest has no distribution of the reward to ask P(reward >= r) of: it scores "
            "forecasts against what happened; call prob_at_least on a forecast instead"
        )

    def summary_table(self) -> pd.DataFrame:
        """Per fraction and method: runs, refused, median/mean/p90 error relative to each run's
        range (``*_rel_error``) and in reward units (``*_abs_error``: comparable across runs
        only when they share a scale), coverage and median width at each level (``width_<lv>``
        in reward units, ``rel_width_<lv>`` relative), and (with recipes) Kendall tau and
        top-1 correctness."""
        rows = []
        order = [self.forecast_method, *BASELINES]
        for (frac, meth), g in self.frame.groupby(["fraction", "method"], sort=False):
            ok = g[~g["refused"]]
            row: dict[str, Any] = {
                "fraction": frac,
                "method": meth,
                "runs": len(g),
                "refused": int(g["refused"].sum()),
            }
            for kind in ("rel", "abs"):
                err = ok[f"{kind}_error"].to_numpy()
                row[f"median_{kind}_error"] = _stat(np.median, err)
                row[f"mean_{kind}_error"] = _stat(np.mean, err)
                row[f"p90_{kind}_error"] = _stat(lambda v: np.quantile(v, 0.9), err)
            for lv in self.levels:
                cov = ok[f"covered_{lv:g}"].dropna().astype(float)
                row[f"coverage_{lv:g}"] = float(cov.mean()) if len(cov) else np.nan
                row[f"width_{lv:g}"] = _stat(np.median, ok[f"width_{lv:g}"].dropna().to_numpy())
                row[f"rel_width_{lv:g}"] = _stat(
                    np.median, ok[f"rel_width_{lv:g}"].dropna().to_numpy()
                )
            rows.append(row)
        out = pd.DataFrame(rows)
        if not self.ranking.empty:
            out = out.merge(
                self.ranking[["fraction", "method", "kendall_tau", "top1_correct"]],
                on=["fraction", "method"],
                how="left",
            )
        out["_m"] = out["method"].map({m: k for k, m in enumerate(order)})
        return out.sort_values(["fraction", "_m"]).drop(columns="_m").reset_index(drop=True)

    def summary(self) -> str:
        """Readable table of :meth:`summary_table` and how the forecast fared against the
        carry-last and smoothed-level baselines at each fraction, on the runs where both
        answered (:meth:`versus`). Errors and widths are relative to each run's range of
        reward (so runs on different scales can be pooled)."""
        tab = self.summary_table()
        n_runs = self.frame["run"].nunique()
        lv = max(self.levels)
        lines = [
            f"Backtest of {n_runs} runs (target: {self._target_text()}; forecast method "
            f"{self.method!r}); error and width are |forecast - truth| and interval width "
            "divided by each run's range of reward (max - min)",
            f"  {'fraction':>8}  {'method':<18}{'refused':>8}{'median':>9}{'mean':>9}{'p90':>9}"
            f"{f'cover{lv:g}':>10}{f'width{lv:g}':>10}",
        ]
        for _, r in tab.iterrows():
            lines.append(
                f"  {r['fraction']:>8.2f}  {r['method']:<18}{r['refused']:>5}/{r['runs']:<2}"
                f"{_f(r['median_rel_error'])}{_f(r['mean_rel_error'])}{_f(r['p90_rel_error'])}"
                f"{_f(r[f'coverage_{lv:g}'], 10, '.2f')}{_f(r[f'rel_width_{lv:g}'], 10)}"
            )
        lines.append("")
        for frac in self.fractions:
            ours, naive, n = self.versus(frac, "carry_last")
            if n == 0:
                continue
            line = (
                f"  at {frac:.0%}: the forecast {_beats(ours, naive)} carrying the last value "
                f"forward (median error {ours:.1%} vs {naive:.1%} of the run's range"
                f"{self._on_runs(frac, n)})"
            )
            ours_s, smooth, n_s = self.versus(frac, "smoothed_level")
            if n_s:
                line += f" and {_beats(ours_s, smooth)} the smoothed level ({ours_s:.1%} vs "
                line += f"{smooth:.1%}{self._on_runs(frac, n_s)})"
            lines.append(line)
            # the table's curve_fit medians are over the runs it answered (it refuses the hard
            # ones): on those same runs the comparison is fair
            ours_c, naive_c, n_c = self.versus(frac, "curve_fit")
            if n_c:
                lines.append(
                    f"          and {_beats(ours_c, naive_c)} a plain curve_fit of the sigmoid "
                    f"({ours_c:.1%} vs {naive_c:.1%}{self._on_runs(frac, n_c)})"
                )
        if not self.ranking.empty:
            rk = self.ranking[self.ranking["method"] == self.forecast_method]
            for _, r in rk.iterrows():
                lines.append(
                    f"  ranking at {r['fraction']:.0%}: Kendall tau {r['kendall_tau']:.2f}, "
                    f"top recipe {'right' if r['top1_correct'] else 'WRONG'} "
                    f"(predicted {r['predicted_order']}; final {r['true_order']})"
                )
        refused = self.frame[self.frame["refused"]]
        for (meth, reason), count in refused.groupby(["method", "reason"]).size().items():
            lines.append(f"  refused {count}x ({meth}): {reason}")
        return "\n".join(lines)

    def versus(self, fraction: float, baseline: str = "carry_last") -> tuple[float, float, int]:
        """Median relative error of the forecast and of ``baseline`` at ``fraction``, on the
        runs where both answered, and how many runs that is.

        The medians of :meth:`summary_table` are each over the runs its method answered: a
        baseline that answers from one evaluation (carry-last) is scored on runs the forecast
        refused, which are the hardest ones, so comparing those medians would flatter the
        forecast. ``(nan, nan, 0)`` when no run has both.

        Examples
        --------
        >>> from rlscaling import backtest, example_curves
        >>> bt = backtest(example_curves()[:2], fractions=(0.5,), progress=False, n_samples=200)
        >>> ours, naive, n = bt.versus(0.5, "carry_last")
        >>> n
        2
        """
        if baseline not in BASELINES:
            raise InputError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        frac = [f for f in self.fractions if abs(f - float(fraction)) < 1e-12]
        if not frac:
            raise InputError(
                f"fraction must be one of the fractions scored {self.fractions}, got {fraction!r}"
            )
        df = self.frame[(self.frame["fraction"] == frac[0]) & ~self.frame["refused"]]
        err = df.pivot_table(index="run", columns="method", values="rel_error", aggfunc="first")
        if self.forecast_method not in err or baseline not in err:
            return np.nan, np.nan, 0
        both = err[[self.forecast_method, baseline]].dropna()
        if both.empty:
            return np.nan, np.nan, 0
        ours, theirs = both[self.forecast_method], both[baseline]
        return float(ours.median()), float(theirs.median()), len(both)

    def _on_runs(self, fraction: float, n: int) -> str:
        """``", on the n runs both answered"`` when some run lacks one of the two answers."""
        total = int(self.frame.loc[self.frame["fraction"] == fraction, "run"].nunique())
        return "" if n == total else f", on the {n} of {total} runs both answered"

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (JSON-serialisable) settings, summary table, ranking and rows."""
        return {
            "method": self.method,
            "target": self.target,
            "fractions": list(self.fractions),
            "levels": list(self.levels),
            "seed": self.seed,
            "summary": records(self.summary_table()),
            "ranking": records(self.ranking),
            "rows": records(self.frame),
        }

    def plot(
        self, ax: matplotlib.axes.Axes | None = None, *, method: str | None = None
    ) -> matplotlib.axes.Axes:
        """Forecast against truth, one colour per fraction, with the widest interval as bars;
        the carry-last baseline as faint crosses; the diagonal is a perfect forecast."""
        ax = new_axes(ax)
        meth = method or self.forecast_method
        lv = max(self.levels)
        df = self.frame[~self.frame["refused"]]
        for k, frac in enumerate(self.fractions):
            col = f"C{k % 10}"
            g = df[(df["fraction"] == frac) & (df["method"] == meth)]
            lo, hi = g[f"lower_{lv:g}"].to_numpy(), g[f"upper_{lv:g}"].to_numpy()
            pred = g["prediction"].to_numpy()
            yerr = np.vstack([pred - lo, hi - pred])
            ax.errorbar(
                g["truth"],
                pred,
                yerr=np.where(np.isfinite(yerr), yerr, 0.0),
                fmt="o",
                ms=4,
                color=col,
                alpha=0.8,
                lw=1,
                label=f"{meth} at {frac:.0%}",
            )
            b = df[(df["fraction"] == frac) & (df["method"] == "carry_last")]
            ax.scatter(b["truth"], b["prediction"], marker="x", s=14, color=col, alpha=0.4)
        vals = df[["truth", "prediction"]].to_numpy().ravel()
        vals = vals[np.isfinite(vals)]
        if vals.size:
            lo, hi = vals.min(), vals.max()
            pad = 0.05 * (hi - lo or 1.0)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", lw=1, ls="--")
        ax.set_xlabel(f"truth ({self._target_text()})")
        ax.set_ylabel("forecast")
        ax.set_title(f"backtest: {lv * 100:g}% intervals; x = carry last value", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        return ax

    def _target_text(self) -> str:
        return "mean of the last 3 evaluations" if self.target == "last3" else "final evaluation"


def backtest(
    runs: Run | Sequence[Run] | pd.DataFrame,
    fractions: Sequence[float] = (0.25, 0.5, 0.75),
    *,
    levels: Sequence[float] = (0.8, 0.9),
    method: str = "auto",
    target: Target = "last3",
    seed: int | None = 0,
    progress: bool | None = None,
    n_samples: int = 1000,
) -> BacktestResult:
    """Fit the first fraction of each finished run, forecast its end and score the forecast.

    Parameters
    ----------
    runs : Run, sequence of Run or DataFrame
        Finished runs (the truth is their end); a DataFrame of runs is read as
        :func:`~rlscaling.load_runs` reads it (a ``run`` column names each, a ``recipe``
        column their recipes).
    fractions : sequence of float
        Fractions of each run's final compute to observe, each in (0, 1).
    levels : sequence of float
        Interval levels to score (coverage and width).
    method : str
        ``method`` of :func:`rlscaling.forecast` (``"auto"``, ``"sigmoid"``, ``"plateau"``,
        ``"mcmc"``).
    target : {"last3", "last"}
        ``"last3"``: the mean of the last three evaluations, forecast at the geometric mean of
        their compute (less noisy than one point; the forecast's interval is for the mean of
        three evaluations, ``average_of=3``); ``"last"``: the final evaluation.
        The target points are never part of the observed data.
    seed : int or None
        The same seed gives the same backtest.
    progress : bool or None
        Show a progress bar; ``None`` shows one only on a terminal.
    n_samples : int
        Predictive draws per forecast.

    Returns
    -------
    BacktestResult

    Examples
    --------
    >>> from rlscaling import backtest, example_curves
    >>> bt = backtest(example_curves()[:2], fractions=(0.5,), progress=False, n_samples=200)
    >>> sorted(bt.frame["method"].unique())
    ['carry_last', 'curve_fit', 'forecast[auto]', 'local_level', 'mean_last3', 'smoothed_level']
    >>> bool(bt.frame["refused"].any())
    False
    """
    runs = as_runs(runs, "give at least one finished Run")
    fracs = tuple(float(f) for f in np.atleast_1d(np.asarray(fractions, dtype=float)))
    for f in fracs:
        if not 0 < f < 1:
            raise InputError(f"fractions must lie in (0, 1), got {f!r}")
    lvls = tuple(check_level(float(lv)) for lv in levels)
    if not lvls:
        raise InputError("levels is empty: give at least one interval level, e.g. (0.9,)")
    if target not in ("last3", "last"):
        raise InputError(f"target must be 'last3' or 'last', got {target!r}")
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"runs must have distinct names; repeated: {dup}")

    rows: list[dict[str, Any]] = []
    total = len(runs) * len(fracs)
    disable = None if progress is None else not progress
    with tqdm(total=total, desc="backtest", unit="fit", disable=disable) as bar:
        for run in runs:
            full, _ = run.without_zero_compute()
            truth, t_compute, n_target = _truth(full, target)
            for f in fracs:
                rows.extend(
                    _score_fraction(
                        run, full, f, truth, t_compute, n_target, lvls, method, seed, n_samples
                    )
                )
                bar.update(1)
    frame = pd.DataFrame(rows)
    ranking = _ranking(frame, runs, fracs)
    return BacktestResult(frame, ranking, fracs, lvls, method, target, seed)


# ---------------------------------------------------------------------------- per run


def target_size(target: str) -> int:
    """How many final evaluations a backtest's ``target`` averages (``"last3"``: 3)."""
    return 3 if target == "last3" else 1


def _truth(full: Run, target: Target) -> tuple[float, float, int]:
    k = target_size(target)
    if len(full) < k:
        return np.nan, np.nan, k
    return full.last_mean(k), float(np.exp(np.mean(np.log(full.compute[-k:])))), k


def run_seed(seed: int | None, name: str) -> int | None:
    """The seed of one run's draws: from ``seed`` and the run's name, not its place in the
    list, so a run scores the same whichever runs come with it and in whatever order (a table
    of runs is read recipe by recipe, which reordered them and changed their numbers)."""
    if seed is None:
        return None
    return (int(seed) + zlib.crc32(name.encode("utf-8"))) % 2**32


def observed_part(full: Run, fraction: float, n_target: int) -> Run:
    """The evaluations a backtest observes: compute up to ``fraction`` of the final compute,
    never one of the last ``n_target`` (the target is never part of the observed data)."""
    first_target = float(full.compute[-n_target])
    cut = fraction * float(full.compute.max())
    return full.select((full.compute <= cut * (1 + 1e-12)) & (full.compute < first_target))


def _score_fraction(
    run: Run,
    full: Run,
    fraction: float,
    truth: float,
    t_compute: float,
    n_target: int,
    levels: tuple[float, ...],
    method: str,
    seed: int | None,
    n_samples: int,
) -> list[dict[str, Any]]:
    base = {
        "run": run.name,
        "recipe": run.recipe_key(fallback=False),
        "fraction": fraction,
        "target_compute": t_compute,
        "truth": truth,
        # The scale of the run's errors: its range of reward (a flat run counts as 1).
        "range": float(np.ptp(full.reward)) if len(full) and np.ptp(full.reward) > 0 else 1.0,
    }
    methods = [f"forecast[{method}]", *BASELINES]
    if not np.isfinite(truth):
        why = f"the run has {len(full)} evaluations, fewer than the {n_target} the target needs"
        return [_row(base, m, levels, reason=why, n_obs=0) for m in methods]
    obs = observed_part(full, fraction, n_target)
    n_obs = len(obs)
    if n_obs == 0:
        # Say why once for every method: a run whose first evaluation is past the cut, or
        # whose evaluations up to the cut are all target evaluations (a run of 3 with "last3").
        target = f"last {n_target}" if n_target > 1 else "last"
        why = (
            "no evaluation to forecast from: none at or below the fraction of the final "
            f"compute that is not among the {target} (the target)"
        )
        return [_row(base, m, levels, reason=why, n_obs=0) for m in methods]
    out = []
    rseed = run_seed(seed, run.name)
    for m in methods:
        try:
            pred, bounds = _predict(m, obs, t_compute, levels, method, rseed, n_samples, n_target)
        except REFUSABLE as exc:
            out.append(_row(base, m, levels, reason=_reason(exc), n_obs=n_obs, obs=obs))
            continue
        out.append(_row(base, m, levels, pred=pred, bounds=bounds, n_obs=n_obs, obs=obs))
    return out


def _predict(
    name: str,
    obs: Run,
    t_compute: float,
    levels: tuple[float, ...],
    method: str,
    seed: int | None,
    n_samples: int,
    n_target: int = 1,
) -> tuple[float, dict[float, tuple[float, float]]]:
    n = len(obs)  # at least 1: _score_fraction answers for every method when nothing is observed
    if name == "carry_last":
        return float(obs.reward[-1]), {}
    if name == "smoothed_level":
        return smoothed_level(obs.reward)[0], {}
    if name == "local_level":
        return local_level(obs.reward)[0], {}
    if name == "mean_last3":
        if n < 3:
            raise InputError(f"needs 3 observed evaluations, got {n}")
        return obs.last_mean(3), {}
    if name == "curve_fit":
        return curve_fit_baseline(obs.compute, obs.reward, t_compute, levels)
    if n < 2:
        raise InputError(f"a forecast needs at least 2 evaluations, got {n}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ForecastWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        fc = forecast(
            obs, budget=t_compute, method=method, levels=levels, n_samples=n_samples,
            seed=seed, average_of=n_target,
        )  # fmt: skip
    bounds = {}
    for lv in levels:
        lo, hi = fc.interval(lv)
        bounds[lv] = (float(lo[0]), float(hi[0]))
    return float(fc.median[0]), bounds


def curve_fit_baseline(
    compute: NDArray[np.float64],
    reward: NDArray[np.float64],
    at: float,
    levels: Sequence[float] = (0.9,),
) -> tuple[float, dict[float, tuple[float, float]]]:
    """The naive answer: ``scipy.optimize.curve_fit`` of the sigmoid from one start.

    No bounds, no grid of starts, no parameter transform: ``p0 = [max(y), 1, median(C), y[0]]``
    for ``(A, B, C_mid, R0)``. The prediction interval at ``at`` is the delta method on its
    covariance plus the residual variance (normal quantiles). Raises ``RuntimeError`` or
    ``ValueError`` when the fit fails or predicts a non-finite value.

    Examples
    --------
    >>> import numpy as np
    >>> from rlscaling import sigmoid
    >>> c = np.geomspace(100, 5000, 20)
    >>> pred, iv = curve_fit_baseline(c, sigmoid(c, 0.6, 1.5, 1000, 0.2), 20000)
    >>> round(pred, 3)
    0.596
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    c, y = np.asarray(compute, dtype=float), np.asarray(reward, dtype=float)
    if c.size < 5:
        raise InputError(f"curve_fit of 4 parameters needs at least 5 evaluations, got {c.size}")

    def f(x: NDArray, a: float, b: float, m: float, r0: float) -> NDArray:
        return r0 + (a - r0) / (1.0 + (m / x) ** b)

    p0 = [float(np.max(y)), 1.0, float(np.median(c)), float(y[0])]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", OptimizeWarning)
        p, cov = curve_fit(f, c, y, p0=p0, maxfev=2000)
        pred = float(f(np.array([at]), *p)[0])
        if not np.isfinite(pred):
            raise ValueError("curve_fit's curve is not finite at the target compute")
        resid = y - f(c, *p)
        s2 = float(np.sum(resid**2) / max(c.size - 4, 1))
        eps = 1e-6 * np.maximum(np.abs(p), 1e-12)
        grad = np.array(
            [(f(np.array([at]), *(p + e))[0] - pred) / e[i] for i, e in enumerate(np.diag(eps))]
        )
        var = float(grad @ cov @ grad) + s2
    bounds = {}
    if np.isfinite(var) and var >= 0:
        for lv in levels:
            half = float(stats.norm.ppf(0.5 + lv / 2) * np.sqrt(var))
            bounds[lv] = (pred - half, pred + half)
    return pred, bounds


def _row(
    base: dict[str, Any],
    method: str,
    levels: tuple[float, ...],
    *,
    pred: float = np.nan,
    bounds: dict[float, tuple[float, float]] | None = None,
    reason: str = "",
    n_obs: int,
    obs: Run | None = None,
) -> dict[str, Any]:
    row = dict(base)
    row.update(
        method=method,
        n_observed=n_obs,
        observed_compute=float(obs.compute.max()) if obs is not None and len(obs) else np.nan,
        prediction=pred,
        error=pred - base["truth"],
        abs_error=abs(pred - base["truth"]),
        rel_error=abs(pred - base["truth"]) / base["range"],
    )
    for lv in levels:
        lo, hi = (bounds or {}).get(lv, (np.nan, np.nan))
        row[f"lower_{lv:g}"], row[f"upper_{lv:g}"] = lo, hi
        has = np.isfinite(lo) and np.isfinite(hi)
        # A tolerance of 1e-9 of the range: the truth is a mean of evaluations, and a
        # zero-width interval at a flat run's value (0.4) missed its mean (0.4000000000000001).
        tol = 1e-9 * base["range"]
        row[f"covered_{lv:g}"] = bool(lo - tol <= base["truth"] <= hi + tol) if has else None
        row[f"width_{lv:g}"] = hi - lo if has else np.nan
        row[f"rel_width_{lv:g}"] = (hi - lo) / base["range"] if has else np.nan
    row["refused"] = bool(reason)
    row["reason"] = reason
    return row


def _reason(exc: Exception) -> str:
    msg = exc.args[0] if exc.args else str(exc)
    return str(msg).splitlines()[0]


# ---------------------------------------------------------------------------- ranking


def _ranking(frame: pd.DataFrame, runs: list[Run], fracs: tuple[float, ...]) -> pd.DataFrame:
    cols = ["fraction", "method", "n_recipes", "kendall_tau", "top1_correct"]
    cols += ["predicted_order", "true_order"]
    if frame.empty or frame["recipe"].isna().any() or frame["recipe"].nunique() < 2:
        return pd.DataFrame(columns=cols)
    rows = []
    for (frac, meth), g in frame.groupby(["fraction", "method"], sort=False):
        ok = g[~g["refused"]]
        truth = g.groupby("recipe", sort=False)["truth"].mean()
        pred = ok.groupby("recipe", sort=False)["prediction"].mean()
        both = truth.index.intersection(pred.index)
        row: dict[str, Any] = {"fraction": frac, "method": meth, "n_recipes": len(both)}
        if len(both) < 2:
            row.update(kendall_tau=np.nan, top1_correct=None, predicted_order="", true_order="")
        else:
            t, p = truth[both], pred[both]
            tau = stats.kendalltau(t.to_numpy(), p.to_numpy()).statistic
            row.update(
                kendall_tau=float(tau),
                top1_correct=bool(t.idxmax() == p.idxmax()),
                predicted_order=" > ".join(p.sort_values(ascending=False).index.astype(str)),
                true_order=" > ".join(t.sort_values(ascending=False).index.astype(str)),
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def _stat(fn: Any, v: NDArray) -> float:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    return float(fn(v)) if v.size else np.nan


def _beats(ours: float, theirs: float) -> str:
    """ "beats", "ties with" or "does NOT beat": errors within 1e-9 of the range are a tie
    (a perfect forecast of a flat or collapsed run ties with carry-last, it does not lose)."""
    if abs(ours - theirs) <= 1e-9:
        return "ties with"
    return "beats" if ours < theirs else "does NOT beat"


def _f(v: Any, width: int = 9, fmt: str = ".4f") -> str:
    return f"{v:>{width}{fmt}}" if v is not None and np.isfinite(v) else f"{'-':>{width}}"
