"""``rlscaling fit``: fit the sigmoid to every run in the given files."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Annotated

import typer

from rlscaling.cli.common import (
    ComputeOpt,
    CsvOpt,
    DuplicatesOpt,
    FigureOpt,
    FilesArg,
    FormatOpt,
    JsonOpt,
    LevelOpt,
    NanPolicyOpt,
    PerStepOpt,
    PerTokenOpt,
    RewardOpt,
    RunsOpt,
    SeedOpt,
    StepOpt,
    TokensOpt,
    _load,
    _write_figure,
    check_count,
    clean_errors,
    console,
    fits_table,
    frame_table,
    reported_warnings,
    write_csv,
    write_json,
)

if TYPE_CHECKING:
    pass


@clean_errors
def fit(
    files: FilesArg,
    compute: ComputeOpt = None,
    reward: RewardOpt = None,
    compute_per_step: PerStepOpt = None,
    step: StepOpt = None,
    tokens: TokensOpt = None,
    flops_per_token: PerTokenOpt = None,
    run: RunsOpt = None,
    nan_policy: NanPolicyOpt = "raise",
    duplicates: DuplicatesOpt = None,
    file_format: FormatOpt = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap replicates for intervals (0: none).")
    ] = 0,
    level: LevelOpt = 0.9,
    seed: SeedOpt = 0,
    json_path: JsonOpt = None,
    csv_path: CsvOpt = None,
    figure: FigureOpt = None,
) -> None:
    """Fit the sigmoid to every run in FILES and print A, B, C_mid, R0."""
    from rlscaling.fit.fitting import fit_sigmoid
    from rlscaling.fit.result import fits_frame
    from rlscaling.forecasting.ensemble import decline_note
    from rlscaling.plot import plot_fits

    check_count(bootstrap, "--bootstrap", 0)
    with reported_warnings():
        runs = _load(
            files, compute=compute, reward=reward, compute_per_step=compute_per_step,
            step=step, tokens=tokens, flops_per_token=flops_per_token, run=run,
            nan_policy=nan_policy, duplicates=duplicates, format=file_format,
        )  # fmt: skip
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
