"""The early-fit report: does a fit on the early part of a run tell where the run ends?

:func:`early_fit_report` takes finished runs (several recipes, several seeds each) and answers,
with the evidence laid out the way practitioners read it:

- for every run and each fraction of its compute (25/50/75%), the forecast of its final reward
  against what it showed, with interval coverage, beside the carry-last-value baseline
  (:func:`rlscaling.backtest`);
- whether the final ranking of recipes was predicted at each fraction;
- per recipe, A and B with intervals pooled across seeds (:func:`rlscaling.compare`), and
  P(A_i > A_j) for every pair;
- the spread of A and of the final reward across seeds against a single run's interval width
  (:func:`rlscaling.decide.seeds.seed_spread`), and what to do when seeds disagree more than a
  single run's interval admits;
- a figure per recipe: points, the fit on the early part, its dashed extrapolation, the later
  points in grey, the forecast with its interval at the end.

:meth:`EarlyFitReport.write` writes a self-contained HTML page (figures embedded) and a JSON
of the numbers; ``rlscaling report`` is the command line.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from rlscaling.decide.backtest import (
    BacktestResult,
    backtest,
    observed_part,
    run_seed,
    target_size,
)
from rlscaling.decide.compare import Comparison, compare, records
from rlscaling.decide.report_html import write_report
from rlscaling.decide.seeds import SeedSpread, seed_spread
from rlscaling.fit.fitting import fit_sigmoid
from rlscaling.io.checks import InputError
from rlscaling.io.loaders import as_runs
from rlscaling.io.runs import Run
from rlscaling.protocol import Kind

if TYPE_CHECKING:
    import matplotlib.figure

__all__ = ["EarlyFitReport", "early_fit_report"]


@dataclass(frozen=True, eq=False)
class EarlyFitReport:
    """Result of :func:`early_fit_report`.

    Attributes
    ----------
    backtest : BacktestResult
        Per run x fraction x method scores (forecast and baselines).
    comparison : Comparison or None
        Recipes compared on the full runs, seeds pooled (None with a single recipe).
    per_run : pandas.DataFrame
        One row per run: recipe, seed, final reward, A and B with their single-run intervals.
    seed_table : pandas.DataFrame
        Per recipe with >= 2 seeds: sd of A and of the final reward across seeds, the median
        single-run interval width of A, and ``seed_wider`` (seed spread exceeds what a single
        run's interval covers).
    seeds : SeedSpread or None
        Pooled between-seed sd of the final reward.
    level : float
        Interval level used for A/B and the seed comparison.
    """

    runs: list[Run] = field(repr=False)
    backtest: BacktestResult
    comparison: Comparison | None
    per_run: pd.DataFrame
    seed_table: pd.DataFrame
    seeds: SeedSpread | None
    level: float
    notes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ numbers
    @property
    def recipes(self) -> list[str]:
        return list(dict.fromkeys(r.recipe_key() for r in self.runs))

    def accuracy_table(self) -> pd.DataFrame:
        """Per fraction and method: error of the final-reward forecast and interval coverage."""
        return self.backtest.summary_table()

    def verdicts(self) -> list[str]:
        """Plain statements a reader should take away (forecast vs baseline, ranking, seeds)."""
        out = []
        tab = self.accuracy_table()
        fm = self.backtest.forecast_method
        bt = self.backtest
        for frac in bt.fractions:
            g = tab[tab["fraction"] == frac].set_index("method")
            if fm not in g.index:
                continue
            n_runs, n_refused = int(g.loc[fm, "runs"]), int(g.loc[fm, "refused"])
            if n_refused == n_runs:
                # Nothing to compare: say so rather than print "nan%" errors and coverage.
                runs = "the run" if n_runs == 1 else f"all {n_runs} runs"
                out.append(
                    f"From {frac:.0%} of compute: no forecast; it refused {runs} (the reasons "
                    "are in the backtest's summary)."
                )
                continue
            # The baselines on the same runs as the forecast (BacktestResult.versus): their
            # medians in the table include runs the forecast refused.
            ours, base, n = bt.versus(frac, "carry_last")
            parts = [f"From {frac:.0%} of compute: median error {ours:.1%} of the run's reward "
                     f"range vs carry-last {base:.1%}{_ratio(ours, base)}"]  # fmt: skip
            ours_s, sm, n_s = bt.versus(frac, "smoothed_level")
            if n_s:
                parts.append(f", smoothed level {sm:.1%}{_ratio(ours_s, sm)}")
            if n_refused:
                parts.append(
                    f" (on the {n} run{'' if n == 1 else 's'} that both answered; the "
                    f"forecast refused {n_refused} "
                    f"of {n_runs})"
                )
            cov = {lv: g.loc[fm, f"coverage_{lv:g}"] for lv in bt.levels}
            covs = ", ".join(
                f"{lv:.0%} interval covered {c:.0%}" if np.isfinite(c) else f"no {lv:.0%} interval"
                for lv, c in cov.items()
            )
            out.append("".join(parts) + f"; {covs}.")
        rk = self.backtest.ranking
        if not rk.empty:
            for frac in self.backtest.fractions:
                row = rk[(rk["fraction"] == frac) & (rk["method"] == fm)]
                if len(row) and row["predicted_order"].iloc[0]:
                    r = row.iloc[0]
                    ok = "predicted" if r["predicted_order"] == r["true_order"] else "NOT predicted"
                    out.append(
                        f"Final ranking {ok} from {frac:.0%} of compute (forecast: "
                        f"{r['predicted_order']}; final: {r['true_order']}; Kendall tau "
                        f"{r['kendall_tau']:.2f})."
                    )
        if self.seeds is not None and len(self.seeds.table) >= 2:
            means = self.seeds.table["final_mean"]
            n = float(self.seeds.table["n_seeds"].min())
            # Standard error of a difference of two recipe means, each over n seeds.
            se_diff = self.seeds.sd * np.sqrt(2.0 / n)
            spread = float(means.max() - means.min())
            if spread < 2 * se_diff:
                out.append(
                    f"The recipes' final rewards differ by at most {spread:.3f}, less than two "
                    f"standard errors of a difference between recipes ({2 * se_diff:.3f}, from "
                    f"the between-seed sd {self.seeds.sd:.3f}): no ranking of these recipes can "
                    "be read from these runs, early or late."
                )
        if "identified" in self.per_run and len(self.per_run):
            n_bad = int((~self.per_run["identified"].astype(bool)).sum())
            if n_bad > len(self.per_run) / 2:
                out.append(
                    f"A is not identified in {n_bad} of {len(self.per_run)} full runs (on its "
                    "bound, or a curve with a larger gain fits as well): A and its spread across "
                    "seeds say little here; compare B and the reward at the budget instead."
                )
        if not self.seed_table.empty:
            wider = self.seed_table[self.seed_table["seed_wider"]]
            if len(wider):
                out.append(
                    "Seeds disagree more than single-run intervals admit for "
                    + ", ".join(wider.index.astype(str))
                    + ": a single run's interval for A is narrower than the spread of A across "
                    "seeds. To decide between recipes, pool seeds (compare does) or widen a "
                    "forecast by the between-seed spread (SeedSpread.inflate)."
                )
            else:
                out.append(
                    "Single-run intervals for A are at least as wide as the spread across seeds."
                )
        return out

    def summary(self) -> str:
        lines = [
            f"Early-fit report: {len(self.runs)} runs, {len(self.recipes)} recipes "
            f"({', '.join(self.recipes)})"
        ]
        lines += ["", self.backtest.summary()]
        if self.comparison is not None:
            lines += ["", self.comparison.summary()]
        if self.seeds is not None:
            lines += ["", self.seeds.summary()]
        lines += ["", *self.verdicts()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_runs": len(self.runs),
            "recipes": self.recipes,
            "level": self.level,
            "accuracy": records(self.accuracy_table()),
            "forecasts": records(self.backtest.frame),
            "ranking": records(self.backtest.ranking),
            "per_run": records(self.per_run),
            "seed_table": records(self.seed_table.reset_index()),
            "seed_spread": None if self.seeds is None else self.seeds.to_dict(),
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "verdicts": self.verdicts(),
            "notes": list(self.notes),
        }

    # ------------------------------------------------------------------ figures
    def to_frame(self, level: float | None = None) -> pd.DataFrame:
        """The recipes' parameters, seeds pooled (the comparison's :meth:`Comparison.to_frame`);
        with one recipe, the backtest's rows."""
        if self.comparison is None:
            return self.backtest.to_frame()
        return self.comparison.to_frame(self.level if level is None else level)

    def interval(self, level: float = 0.9, *, kind: Kind | None = None) -> tuple[Any, Any]:
        """``(lower, upper)`` of every row of :meth:`to_frame` (see there). ``kind`` defaults
        to ``"curve"`` for the recipes' parameters and, with one recipe, to ``"observed"``
        for the backtest's forecasts (the only kind they have)."""
        if self.comparison is None:
            return self.backtest.interval(level, kind="observed" if kind is None else kind)
        return self.comparison.interval(level, kind="curve" if kind is None else kind)

    def prob_at_least(self, reward: float, at: Any = None, *, kind: Kind | None = None) -> Any:
        """Per recipe (seeds pooled): P(reward at ``at`` >= ``reward``); ``at`` defaults to the
        runs' largest compute (:meth:`Comparison.prob_at_least`; ``kind`` defaults to
        ``"curve"``). With one recipe there is no comparison to ask: TypeError."""
        if self.comparison is None:
            return self.backtest.prob_at_least(reward, at, kind=kind or "observed")
        return self.comparison.prob_at_least(reward, at, kind=kind or "curve")

    def plot(self, ax: Any = None) -> Any:
        """The recipes compared (seeds pooled) on one Axes; returns it. The per-recipe panels
        of the HTML page are :meth:`recipe_figure`."""
        if self.comparison is None:
            return self.backtest.plot(ax=ax)
        return self.comparison.plot(ax=ax)

    def recipe_figure(
        self, recipe: str | None = None, fractions: Sequence[float] | None = None
    ) -> matplotlib.figure.Figure:
        """One recipe's runs, one panel per fraction: observed points, the sigmoid fitted to
        them (solid) and extrapolated (dashed), later points in grey, and the forecast of the
        final reward with its interval (diamond and bar at the final compute)."""
        import matplotlib.pyplot as plt

        recipe = recipe or self.recipes[0]
        if recipe not in self.recipes:
            raise InputError(f"recipe must be one of {self.recipes}, got {recipe!r}")
        fracs = tuple(fractions or self.backtest.fractions)
        runs = [r for r in self.runs if r.recipe_key() == recipe]
        fig, axes = plt.subplots(
            1, len(fracs), figsize=(4.2 * len(fracs), 3.6), sharey=True, squeeze=False
        )
        lv = max(self.backtest.levels)
        frame = self.backtest.frame
        fm = self.backtest.forecast_method
        for ax, frac in zip(axes[0], fracs, strict=True):
            for k, run in enumerate(runs):
                color = f"C{k % 10}"
                full, _ = run.without_zero_compute()
                if len(full) == 0:
                    continue
                cut = frac * float(full.compute.max())
                # The points the backtest's forecast saw: never the target's last evaluations.
                n_target = target_size(self.backtest.target)
                seen = np.zeros(len(full), dtype=bool)
                if len(full) >= n_target:
                    seen = np.isin(full.compute, observed_part(full, frac, n_target).compute)
                ax.scatter(full.compute[seen], full.reward[seen], s=9, color=color, zorder=3)
                ax.scatter(
                    full.compute[~seen], full.reward[~seen], s=9, facecolors="none",
                    edgecolors="0.6", zorder=2,
                )  # fmt: skip
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        fit = fit_sigmoid(full.select(seen)) if seen.any() else None
                    except (InputError, ValueError, RuntimeError):
                        fit = None
                if fit is not None:
                    c_seen = float(full.compute[seen].max())
                    c1 = np.geomspace(full.compute[seen].min(), c_seen, 60)
                    c2 = np.geomspace(c_seen, full.compute.max(), 60)
                    ax.plot(c1, fit.predict(c1), color=color, lw=1.4)
                    ax.plot(c2, fit.predict(c2), color=color, lw=1.2, ls="--")
                row = frame[(frame["run"] == run.name) & (frame["fraction"] == frac)]
                row = row[(row["method"] == fm) & ~row["refused"]]
                if len(row):
                    r = row.iloc[0]
                    x = r["target_compute"] * (1.04 + 0.04 * k)
                    lo, hi = r[f"lower_{lv:g}"], r[f"upper_{lv:g}"]
                    ax.vlines(x, lo, hi, color=color, lw=2, alpha=0.6)
                    ax.scatter([x], [r["prediction"]], marker="D", color=color, s=28, zorder=4)
                ax.axvline(cut, color="0.8", lw=0.8, ls=":")
            ax.set_xscale("log")
            ax.set_title(f"{recipe}: fit on first {frac:.0%}", fontsize=10)
            unit = runs[0].metadata.get("compute_unit", "compute") if runs else "compute"
            ax.set_xlabel(f"compute ({unit})")
        axes[0][0].set_ylabel("eval reward")
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=f"C{k % 10}", lw=1.4, label=_label(r)) for k, r in
                   enumerate(runs)]  # fmt: skip
        handles += [
            Line2D([], [], color="0.3", ls="--", label="extrapolation"),
            Line2D([], [], marker="o", ls="", mfc="none", mec="0.6", label="later points"),
            Line2D([], [], marker="D", ls="", color="0.3", label=f"forecast, {lv:.0%} interval"),
        ]
        axes[0][-1].legend(handles=handles, fontsize=7, loc="lower right")
        fig.tight_layout()
        return fig

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``index.html`` (self-contained), ``report.json`` and ``figures/*.png``."""
        return write_report(self, Path(out_dir))


def _ratio(ours: float, theirs: float) -> str:
    """`` (x0.56)``: the forecast's error over the baseline's; nothing when the baseline's is 0
    (a flat or collapsed run carried forward exactly, to 1e-9 of the range) and the ratio
    means nothing."""
    return f" (x{ours / theirs:.2f})" if theirs > 1e-9 else ""


def _label(run: Run) -> str:
    seed = run.metadata.get("seed")
    return f"seed {seed}" if seed is not None else run.name


def early_fit_report(
    runs: Sequence[Run] | pd.DataFrame,
    fractions: Sequence[float] = (0.25, 0.5, 0.75),
    *,
    levels: Sequence[float] = (0.8, 0.9),
    method: str = "auto",
    n_samples: int = 1000,
    n_boot: int = 500,
    seed: int | None = 0,
    progress: bool | None = None,
    comparison: Comparison | None = None,
) -> EarlyFitReport:
    """Backtest early fits of finished runs and summarise recipes and seeds.

    Parameters
    ----------
    runs : sequence of Run or DataFrame
        Finished runs; ``metadata["recipe"]`` groups them (and ``metadata["seed"]`` labels
        them), as :func:`rlscaling.io.datasets.calibration_runs` and trainer run directories do.
        A DataFrame of runs is read as :func:`~rlscaling.load_runs` reads it, its ``recipe``
        column naming each run's recipe.
    fractions : sequence of float
        Fractions of each run's compute that the early fits see.
    levels : sequence of float
        Interval levels scored; the largest is used for A/B intervals and figures.
    method : str
        Forecast method (see :func:`rlscaling.forecast`).
    n_samples, n_boot : int
        Predictive draws per forecast; bootstrap replicates per run and recipe.
    seed : int or None
        The same seed gives the same report.
    progress : bool or None
        Progress bars; ``None`` shows them only on a terminal.
    comparison : Comparison, optional
        The recipes already compared on these runs (:func:`rlscaling.compare`, seeds pooled,
        at the largest of ``levels``), used as the report's instead of comparing them again:
        a caller that has compared the recipes passes its comparison, so its forecasts and
        bootstrap draws are made once. Its recipes must be those of ``runs``.

    Returns
    -------
    EarlyFitReport

    Examples
    --------
    >>> from rlscaling import example_curves
    >>> from rlscaling.decide.report import early_fit_report
    >>> runs = example_curves()[:2]
    >>> rep = early_fit_report(runs, fractions=(0.5,), n_samples=200, n_boot=100, progress=False)
    >>> list(rep.per_run.columns[:3])
    ['run', 'recipe', 'seed']
    """
    runs = as_runs(runs, "give finished runs (run directories or Runs)")
    level = max(levels)
    recipes = {r.recipe_key() for r in runs}
    if comparison is not None:
        if set(comparison.recipes) != recipes or abs(comparison.level - level) > 1e-12:
            raise InputError(
                f"comparison compares {sorted(comparison.recipes)} at level "
                f"{comparison.level:g}; the report needs the recipes of runs {sorted(recipes)} "
                f"at level {level:g} (the largest of levels). Pass comparison=None to compare "
                "them here"
            )
    notes: list[str] = []
    bt = backtest(
        runs, fractions, levels=levels, method=method, seed=seed, progress=progress,
        n_samples=n_samples,
    )  # fmt: skip
    per_run = _per_run(runs, level, n_boot, seed, progress)
    if comparison is None and len(recipes) >= 2:
        # A run that cannot be fitted (a flat run, one collapsed to 0) made compare raise and
        # the whole report fail; leave it out of the comparison and say so.
        failed = set(per_run.loc[per_run["A"].isna(), "run"]) if len(per_run) else set()
        fitted = [r for r in runs if r.name not in failed]
        if failed:
            notes.append(
                f"left out of the comparison of recipes ({len(failed)} run"
                f"{'s' if len(failed) > 1 else ''} whose sigmoid could not be fitted; see "
                f"per_run['error']): {', '.join(sorted(failed))}"
            )
        if len({r.recipe_key() for r in fitted}) >= 2:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    comparison = compare(
                        fitted, level=level, n=max(n_boot, 200), seed=seed, group_by=None,
                        budget=float(max(r.compute.max() for r in runs)), progress=progress,
                    )  # fmt: skip
            except InputError as exc:
                notes.append(f"no comparison of recipes: {_first_line(exc)}")
        else:
            notes.append("no comparison of recipes: fewer than two recipes have a fitted run")
    seeds = None
    try:
        seeds = seed_spread(runs)
    except InputError as exc:
        notes.append(f"no seed spread: {exc}")
    seed_table = _seed_table(per_run, seeds)
    return EarlyFitReport(runs, bt, comparison, per_run, seed_table, seeds, level, tuple(notes))


def _per_run(
    runs: list[Run], level: float, n_boot: int, seed: int | None, progress: bool | None
) -> pd.DataFrame:
    rows = []
    disable = None if progress is None else not progress
    for run in tqdm(runs, desc="full fits", disable=disable):
        row: dict[str, Any] = {
            "run": run.name,
            "recipe": run.recipe_key(),
            "seed": run.metadata.get("seed"),
            "n_evals": len(run),
            "final_compute": float(run.compute.max()),
            "final_reward": run.last_mean(3) if len(run) >= 3 else run.final_reward,
        }
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_sigmoid(run)
                # Block bootstrap: consecutive evaluations of a run are correlated.
                bs = fit.bootstrap(n=n_boot, method="block", seed=run_seed(seed, run.name))
            for p in ("A", "B"):
                lo, hi = bs.interval(p, level)
                row.update({p: fit.params[p], f"{p}_lower": lo, f"{p}_upper": hi})
            row["C_mid"], row["R0"] = fit.params["C_mid"], fit.params["R0"]
            row["identified"] = fit.identified  # the fit's own flag, not its warning text
        except (InputError, ValueError, RuntimeError) as exc:
            row.update(A=np.nan, B=np.nan, identified=False, error=_first_line(exc))
        rows.append(row)
    return pd.DataFrame(rows)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _seed_table(per_run: pd.DataFrame, seeds: SeedSpread | None) -> pd.DataFrame:
    rows = []
    for name, g in per_run.groupby("recipe", sort=False):
        a = g["A"].dropna().to_numpy()
        if a.size < 2:
            continue
        width = (g["A_upper"] - g["A_lower"]).dropna().to_numpy()
        sd_a = float(np.std(a, ddof=1))
        # A single run's 90% interval spans about 2 x 1.645 sd; seeds drawn from the same
        # recipe should scatter within that if the interval were the right width for them.
        rows.append(
            {
                "recipe": name,
                "n_seeds": int(a.size),
                "A_mean": float(a.mean()),
                "A_seed_sd": sd_a,
                "A_seed_range": float(a.max() - a.min()),
                "A_single_run_width": float(np.median(width)) if width.size else np.nan,
                "final_seed_sd": float(np.std(g["final_reward"], ddof=1)),
                "seed_wider": bool(width.size and 2 * 1.645 * sd_a > np.median(width)),
            }
        )
    cols = ["recipe", "n_seeds", "A_mean", "A_seed_sd", "A_seed_range", "A_single_run_width"]
    cols += ["final_seed_sd", "seed_wider"]
    return pd.DataFrame(rows, columns=cols).set_index("recipe")
