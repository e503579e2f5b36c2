"""``rlscaling backtest``: fit early parts of finished runs and score against the rest."""

from __future__ import annotations

from typing import Annotated

import typer

from rlscaling.cli.common import (
    CsvOpt,
    FigureOpt,
    FilesArg,
    ForecastMethodOpt,
    FractionsOpt,
    JsonOpt,
    LevelsOpt,
    LoadOptions,
    NSamplesOpt,
    ProgressOpt,
    SeedOpt,
    _floats,
    _write_figure,
    check_count,
    clean_errors,
    console,
    error_columns,
    frame_table,
    reported_warnings,
    with_load_options,
    write_csv,
    write_json,
)


@clean_errors
@with_load_options()
def backtest_command(
    files: FilesArg,
    fractions: FractionsOpt = "0.25,0.5,0.75",
    levels: LevelsOpt = "0.8,0.9",
    method: ForecastMethodOpt = "auto",
    target: Annotated[
        str, typer.Option("--target", help="last3 (mean of the last 3 evaluations) or last.")
    ] = "last3",
    n_samples: NSamplesOpt = 1000,
    progress: ProgressOpt = None,
    seed: SeedOpt = 0,
    json_path: JsonOpt = None,
    csv_path: CsvOpt = None,
    figure: FigureOpt = None,
    *,
    load: LoadOptions,
) -> None:
    """Backtest forecasts on finished runs: fit early fractions, score against the end."""
    from rlscaling.decide.backtest import backtest

    fr, lvs = _floats(fractions, "--fractions"), _floats(levels, "--levels")
    check_count(n_samples, "--n-samples")
    with reported_warnings():
        runs = load(files)
        bt = backtest(
            runs, fr, levels=lvs, method=method, target=target,  # type: ignore[arg-type]
            seed=seed, progress=progress, n_samples=n_samples,
        )  # fmt: skip
    lv = max(bt.levels)
    console.print(
        frame_table(
            bt.summary_table(),
            f"Backtest of {len(runs)} runs: error of the forecast end, as a share of each "
            "run's reward range (max - min)",
            caption="error = |forecast - truth| / range; width = interval width / range; "
            "cover = share of runs whose truth the interval held",
            **error_columns(bt.levels, lv, counts=True),
        )
    )
    tail = bt.summary().split("\n\n", 1)
    if len(tail) == 2 and tail[1].strip():
        console.print(tail[1], highlight=False, markup=False)
    write_json(json_path, bt.to_dict())
    write_csv(csv_path, bt.frame)
    _write_figure(figure, bt.plot)
