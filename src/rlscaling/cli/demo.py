"""``rlscaling demo``: the bundled runs end to end (:func:`rlscaling.decide.demo.run_demo`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rlscaling.cli.common import (
    QuietOpt,
    SeedOpt,
    check_count,
    clean_errors,
    console,
    fits_table,
    frame_table,
)


@clean_errors
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the figures, summary and JSON.")] = Path(
        "out/demo"
    ),
    n: Annotated[
        int, typer.Option("--n", help="Bootstrap draws per recipe in the comparison.")
    ] = 500,
    synthetic: Annotated[
        bool,
        typer.Option("--synthetic", help="Use the synthetic example curves instead of real runs."),
    ] = False,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Also write the early-fit report.")
    ] = True,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Run the bundled runs end to end: fit, forecast, compare, report; write figures and JSON.

    By default the bundled calibration runs (real RL runs of the reference trainer: recipes x
    seeds, see ``rlscaling.io.datasets.calibration_runs``): fits every run, forecasts each run's
    end from its first half, compares the recipes (seeds pooled), and writes fits.png,
    forecasts.png, compare.png, summary.txt, fits.json, demo.json and the early-fit report
    (report/index.html) to OUT. ``--synthetic`` uses the synthetic example curves instead.
    Each step is announced as it starts (the report takes most of the time); ``--quiet``
    prints only the results.
    """
    from rlscaling.cli.compare import print_comparison
    from rlscaling.decide.demo import run_demo

    check_count(n, "--n", 10)
    with _steps(quiet, 5 if report else 4) as step:
        res = run_demo(out, n=n, synthetic=synthetic, report=report, seed=seed, step=step)
    title = "Bundled example curves (synthetic)" if synthetic else "Bundled calibration runs"
    console.print(fits_table(res.fits, title))
    frame = res.to_frame(0.9).drop(columns="level")
    console.print(frame_table(frame, "Forecast of each run's end from its first half (90%)"))
    print_comparison(res.comparison)
    if res.report is not None:
        for v in res.report.verdicts():
            console.print(f"- {v}", highlight=False)
    console.print("wrote " + ", ".join(str(p) for p in res.files))


@contextmanager
def _steps(quiet: bool, total: int) -> Iterator[Callable[[str], None]]:
    """``step(text)`` announces the next of ``total`` steps on stderr with a rich spinner
    (a plain line when not on a terminal); nothing with ``quiet``."""
    from rich.status import Status

    err = Console(stderr=True)
    count = [0]
    status = Status("", console=err) if err.is_terminal and not quiet else None

    def step(text: str) -> None:
        count[0] += 1
        line = f"[{count[0]}/{total}] {text} ..."
        if quiet:
            return
        if status is not None:
            status.update(line)
        else:
            err.print(line, highlight=False)

    if status is not None:
        status.start()
    try:
        yield step
    finally:
        if status is not None:
            status.stop()
