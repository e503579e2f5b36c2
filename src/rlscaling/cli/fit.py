"""``rlscaling fit``: fit the sigmoid to every run in the given files."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from rlscaling.cli.common import (
    CsvOpt,
    FigureOpt,
    FilesArg,
    JsonOpt,
    LevelOpt,
    LoadOptions,
    SeedOpt,
    _write_figure,
    check_count,
    clean_errors,
    console,
    fits_table,
    frame_table,
    reported_warnings,
    with_load_options,
    write_csv,
    write_json,
)


@clean_errors
@with_load_options()
def fit(
    files: FilesArg,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap replicates for intervals (0: none).")
    ] = 0,
    level: LevelOpt = 0.9,
    seed: SeedOpt = 0,
    json_path: JsonOpt = None,
    csv_path: CsvOpt = None,
    figure: FigureOpt = None,
    *,
    load: LoadOptions,
) -> None:
    """Fit the sigmoid to every run in FILES and print A, B, C_mid, R0."""
    from rlscaling.fit.fitting import fit_sigmoid
    from rlscaling.fit.result import fits_frame
    from rlscaling.forecasting.ensemble import decline_note
    from rlscaling.plot import plot_fits

    check_count(bootstrap, "--bootstrap", 0)
    with reported_warnings():
        runs = load(files)
        fits = [fit_sigmoid(r, warn=False) for r in runs]
        for r in runs:
            # The same note `forecast` gives: a sigmoid assumes the run keeps rising.
            note = decline_note(r)
            if note is not None:
                warnings.warn(f"{r.name}: {note}", UserWarning, stacklevel=1)
        boots = (
            [f.bootstrap(bootstrap, method="block", seed=seed) for f in fits] if bootstrap else []
        )
    console.print(
        fits_table(fits, f"Sigmoid fits ({len(fits)} run{'s' if len(fits) != 1 else ''})")
    )
    frame = fits_frame(fits).drop(columns="identification_issues")
    if boots:
        for p in ("A", "B", "C_mid"):
            bounds = [b.interval(p, level) for b in boots]
            frame[f"{p}_lower"] = [lo for lo, _ in bounds]
            frame[f"{p}_upper"] = [hi for _, hi in bounds]
        console.print(
            frame_table(
                frame,
                f"{level * 100:g}% block-bootstrap intervals ({bootstrap} replicates)",
                columns={"run": "run"} | {
                    f"{p}_{side}": f"{p} {side}"
                    for p in ("A", "B", "C_mid") for side in ("lower", "upper")
                },
            )
        )  # fmt: skip
    out = [f.to_dict() for f in fits]
    for k, b in enumerate(boots):
        out[k]["bootstrap"] = b.to_dict(level)
    write_json(json_path, out)
    write_csv(csv_path, frame)

    unit = runs[0].metadata.get("compute_unit") if runs else None
    _write_figure(figure, lambda: plot_fits(fits, extend=3.0, unit=unit))
