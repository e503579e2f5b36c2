"""``rlscaling report``: the early-fit report (HTML page, JSON, figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlscaling.cli.common import (
    ForecastMethodOpt,
    FractionsOpt,
    LevelsOpt,
    LoadOptions,
    NSamplesOpt,
    ProgressOpt,
    SeedOpt,
    _floats,
    check_count,
    clean_errors,
    console,
    error_columns,
    frame_table,
    reported_warnings,
    with_load_options,
)


@clean_errors
@with_load_options()
def report_command(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Run directories, files or globs; or 'calibration' for the bundled runs.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the report.")],
    fractions: FractionsOpt = "0.25,0.5,0.75",
    levels: LevelsOpt = "0.8,0.9",
    method: ForecastMethodOpt = "auto",
    n_samples: NSamplesOpt = 1000,
    progress: ProgressOpt = None,
    seed: SeedOpt = 0,
    *,
    load: LoadOptions,
) -> None:
    """Early-fit report: forecast each run's end from 25/50/75% of it; recipes, seeds; HTML."""
    from rlscaling.decide.report import early_fit_report

    fr, lvs = _floats(fractions, "--fractions"), _floats(levels, "--levels")
    check_count(n_samples, "--n-samples")
    with reported_warnings():
        if runs == ["calibration"]:
            from rlscaling.io.datasets import calibration_runs

            loaded = calibration_runs()
        else:
            loaded = load(runs)
        rep = early_fit_report(
            loaded, fr, levels=lvs, method=method, n_samples=n_samples, seed=seed,
            progress=progress,
        )  # fmt: skip
        paths = rep.write(out)
    lv = max(rep.backtest.levels)
    console.print(
        frame_table(
            rep.accuracy_table(),
            f"Forecast of the final reward: {len(loaded)} runs (error and width as a share "
            "of each run's reward range)",
            **error_columns((lv,), lv, counts=True),
        )
    )
    for v in rep.verdicts():
        console.print(f"- {v}", highlight=False, markup=False)
    console.print(f"wrote {paths['html']} and {paths['json']}")
