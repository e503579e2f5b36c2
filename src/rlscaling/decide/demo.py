"""The demo pipeline as a library function: the bundled runs end to end.

:func:`run_demo` fits every bundled run, forecasts each run's end from its first half, compares
the recipes (seeds pooled) and, optionally, writes the early-fit report; it writes figures,
a text summary and JSON to a folder and returns a :class:`DemoResult`. The ``rlscaling demo``
command only calls it and prints the result (``summary()``, ``to_frame()``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.decide.compare import Comparison, compare
from rlscaling.decide.report import EarlyFitReport, early_fit_report
from rlscaling.fit.fitting import fit_sigmoid
from rlscaling.fit.result import SigmoidFit
from rlscaling.forecasting.forecast import Forecast, forecast
from rlscaling.io.checks import InputError, check_int, check_level, check_seed
from rlscaling.io.datasets import calibration_runs, example_curves
from rlscaling.io.runs import Run
from rlscaling.io.serialize import json_default
from rlscaling.plot import new_axes, panel_grid, plot_fits, plot_forecast, save_figure
from rlscaling.protocol import Kind, check_kind

#: what :func:`run_demo` writes into ``out`` (and ``report/index.html`` with ``report=True``)
DEMO_FILES = ("fits.png", "forecasts.png", "compare.png", "summary.txt", "fits.json", "demo.json")


@dataclass(frozen=True, eq=False)
class DemoResult:
    """What :func:`run_demo` computed and wrote.

    Attributes
    ----------
    runs : list of Run
        The runs (bundled calibration runs, or the synthetic example curves).
    fits : list of SigmoidFit
        One fit per run, on the whole run.
    forecasts : list of Forecast
        Each run's forecast from its first half, on a path of budgets to its end.
    comparison : Comparison
        The recipes compared (seeds pooled), at the runs' largest compute.
    report : EarlyFitReport or None
        The early-fit report when asked for.
    files : list of Path
        Everything written.
    synthetic : bool
        Whether the synthetic example curves were used.
    """

    runs: list[Run]
    fits: list[SigmoidFit]
    forecasts: list[Forecast]
    comparison: Comparison
    report: EarlyFitReport | None
    files: list[Path] = field(default_factory=list)
    synthetic: bool = False

    def to_frame(self, level: float = 0.9) -> pd.DataFrame:
        """One row per run: where its observed half ends, the forecast of its end (median and
        ``level`` interval) and what the run actually reached (mean of its last 3 evaluations).
        """
        rows = []
        for r, fc in zip(self.runs, self.forecasts, strict=True):
            lo, hi = fc.interval(check_level(level))
            rows.append(
                {
                    "run": r.name,
                    "observed_to": float(fc.observed_compute.max()),
                    "budget": float(fc.budget[-1]),
                    "median": float(fc.median[-1]),
                    "lower": float(lo[-1]),
                    "upper": float(hi[-1]),
                    "level": level,
                    "actual_last3": r.last_mean(3),
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """The content of ``demo.json``: runs, fits, forecasts and the comparison."""
        return {
            "synthetic": self.synthetic,
            "runs": [{"name": r.name, **r.metadata} for r in self.runs],
            "fits": [f.to_dict() for f in self.fits],
            "forecasts_from_half": [fc.to_dict() for fc in self.forecasts],
            "comparison": self.comparison.to_dict(),
        }

    def summary(self) -> str:
        """The content of ``summary.txt``: every fit's, forecast's and the comparison's summary
        (and the report's verdicts)."""
        parts = [f.summary() for f in self.fits] + [fc.summary() for fc in self.forecasts]
        parts.append(self.comparison.summary())
        if self.report is not None:
            parts.append("\n".join(self.report.verdicts()))
        return "\n\n".join(parts)

    def interval(self, level: float = 0.9, *, kind: Kind = "observed") -> tuple[Any, Any]:
        """Per run (rows of :meth:`to_frame`): the forecast's interval of its end at ``level``
        (``"observed"``: what an evaluation there shows; ``"curve"``: the expected reward)."""
        kind = check_kind(kind)
        level = check_level(level)
        pairs = [fc.interval(level, kind) for fc in self.forecasts]
        return np.array([lo[-1] for lo, _ in pairs]), np.array([hi[-1] for _, hi in pairs])

    def prob_at_least(self, reward: float, at: Any = None, *, kind: Kind = "observed") -> pd.Series:
        """Per run: P(reward at the run's end >= ``reward``) from its forecast made at half the
        run. The forecasts are at each run's end: ``at`` must be None."""
        kind = check_kind(kind)
        if at is not None:
            raise InputError(f"at must be None: the demo forecasts each run's end, got {at!r}")
        p = {
            r.name: float(
                np.mean((fc.draws if kind == "observed" else fc.curve_draws)[:, -1] >= reward)
            )
            for r, fc in zip(self.runs, self.forecasts, strict=True)
        }
        return pd.Series(p, name=f"P(reward at the end >= {reward:g})")

    def plot(self, ax: Any = None) -> Any:
        """The recipes' comparison figure (pooled curves with bands); returns the Axes."""
        return self.comparison.plot(ax=new_axes(ax))


def run_demo(
    out: str | Path = "out/demo",
    *,
    n: int = 500,
    synthetic: bool = False,
    report: bool = True,
    seed: int = 0,
    step: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the bundled runs end to end and write figures, summary and JSON to ``out``.

    Parameters
    ----------
    out : str or Path
        Folder for the files listed in :data:`DEMO_FILES` (created if missing).
    n : int, default 500
        Bootstrap draws per recipe in the comparison (at least 10; the comparison uses at
        least 200) and in the report.
    synthetic : bool, default False
        Use the synthetic example curves instead of the bundled calibration runs (real RL runs
        of the reference trainer: recipes x seeds).
    report : bool, default True
        Also write the early-fit report (``out/report/index.html``); the longest step.
    seed : int, default 0
        Random seed (same seed, same numbers).
    step : callable, optional
        Called with a line of text as each step starts (progress display).

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> from rlscaling.decide.demo import run_demo
    >>> res = run_demo("demo_out", n=20, synthetic=True, report=False)
    >>> sorted(p.name for p in res.files)[:2]
    ['compare.png', 'demo.json']
    """
    n = check_int(n, "n", 10)
    seed = check_seed(seed)
    say = step or (lambda _text: None)
    runs = example_curves() if synthetic else calibration_runs()
    unit = str(runs[0].metadata.get("compute_unit", "compute"))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        say(f"fitting {len(runs)} runs")
        fits = [fit_sigmoid(r) for r in runs]
        say("forecasting each run's end from its first half")
        forecasts = []
        for r in runs:
            half = r.truncate(0.5)
            # A path of budgets from the cut to the run's end; the table reads its last one.
            grid = np.geomspace(half.compute.max(), r.compute.max(), 13)[1:]
            forecasts.append(forecast(half, budget=grid, n_samples=1000, seed=seed))
        say(f"comparing {len({r.recipe_key() for r in runs})} recipes")
        # At the runs' largest compute, as the early-fit report compares them: the console and
        # report/index.html then show the same probabilities for the same pair.
        budget = float(max(r.compute.max() for r in runs))
        cmp = compare(runs, n=max(n, 200), seed=seed, budget=budget)
        say("drawing figures")
        _figures(out, runs, fits, forecasts, cmp, unit)
        rep = None
        if report:
            say("early-fit report (backtest from 25/50/75% of each run; the longest step)")
            # The report compares the same recipes the same way (seeds pooled, at the runs'
            # largest compute, max(n, 200) draws, 90%): it is handed this comparison, so its
            # forecasts and bootstrap draws are made once.
            rep = early_fit_report(
                runs, n_samples=500, n_boot=n, seed=seed, progress=False, comparison=cmp
            )
            rep.write(out / "report")
    result = DemoResult(runs, fits, forecasts, cmp, rep, synthetic=synthetic)
    (out / "summary.txt").write_text(result.summary() + "\n")
    (out / "fits.json").write_text(json.dumps([f.to_dict() for f in fits], indent=2) + "\n")
    (out / "demo.json").write_text(
        json.dumps(result.to_dict(), indent=2, default=json_default) + "\n"
    )
    result.files.extend(out / name for name in DEMO_FILES)
    if rep is not None:
        result.files.append(out / "report" / "index.html")
    return result


def _figures(
    out: Path,
    runs: list[Run],
    fits: list[SigmoidFit],
    forecasts: list[Forecast],
    cmp: Comparison,
    unit: str,
) -> None:
    save_figure(plot_fits(fits, extend=3.0, unit=unit), out / "fits.png")

    fig, axes = panel_grid(len(runs), 4, (3.2, 2.6))
    for axk, r, fc in zip(axes, runs, forecasts, strict=True):
        held = r.compute > fc.observed_compute.max()
        plot_forecast(fc, ax=axk, held_out=(r.compute[held], r.reward[held]))
        axk.set_title(f"{r.name}: from half of the run", fontsize=8)
        axk.set_xlabel(f"compute ({unit})", fontsize=7)
        axk.set_ylabel("reward", fontsize=7)
        axk.tick_params(labelsize=7)
        axk.get_legend().remove()
    # One legend for the figure, below the panels: every panel has the same entries.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8)
    save_figure(fig, out / "forecasts.png")

    cax = cmp.plot()
    cax.figure.set_size_inches(8, 5)
    cax.set_xlabel(f"compute ({unit})")
    save_figure(cax, out / "compare.png")
