"""The ``rlscaling`` command line.

Commands: ``fit``, ``forecast``, ``compare``, ``backtest`` (each reads run files through
:func:`rlscaling.load_runs`, prints a table and can write ``--json``, ``--csv`` and a
``--figure``) and ``demo`` (the bundled example runs end to end). The reference trainer's
commands are added when its module is installed; they import torch only when run.

Errors in files or options print one clear line (``error: ...``) and exit with status 2,
never a traceback. Warnings (a torn log line, an unidentified fit) print as ``warning: ...``.
The library's messages suggest Python keywords (``reward='<column>'``); printed here they
are rewritten to this command line's options (``--reward COLUMN``) by :func:`cli_message`,
and only options that exist are suggested.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import json
import re
import sys
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rlscaling.inputs import InputError

if TYPE_CHECKING:
    import pandas as pd

    from rlscaling.runs import Run

app = typer.Typer(
    help="Fit and forecast reward-vs-compute scaling curves of RL runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (a file, CI logs) gets a fixed width wide enough for the tables.
console = Console(width=None if sys.stdout.isatty() else 160)


def _print_version(value: bool) -> None:
    if value:
        from rlscaling import __version__

        typer.echo(f"rlscaling {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Fit and forecast reward-vs-compute scaling curves of RL runs."""


# Library keyword -> this command line's option, for the hints in error messages. Only
# options that exist on the commands that read files are listed; ``path=`` is dropped.
CLI_OPTIONS = {
    "compute": "--compute",
    "reward": "--reward",
    "step": "--step",
    "tokens": "--tokens",
    "compute_per_step": "--compute-per-step",
    "flops_per_token": "--flops-per-token",
    "run": "--run",
    "nan_policy": "--nan-policy",
    "duplicates": "--duplicates",
    "format": "--format",
    "n_samples": "--n-samples",
    "budget": "--budget",
    "level": "--level",
    "fractions": "--fractions",
    "levels": "--levels",
    "method": "--method",
    "target": "--target",
    "group_by": "--group-by",
}
_KEYWORD = re.compile(
    r"\b(?P<key>[a-z_]+)=(?P<value>'<[^'>]*>'|<[^>]*>|'[A-Za-z0-9_.-]*'|\.\.\.|(?=[\s,;:)]|$))"
)


def cli_message(message: str, options: set[str] | None = None) -> str:
    """A library error message with its Python hints rewritten as options of this CLI.

    ``reward='<column>'`` becomes ``--reward COLUMN``, ``run='<name>'`` ``--run NAME``,
    ``nan_policy='omit'`` ``--nan-policy omit``; keywords without an option here (or, when
    ``options`` is given, without one on the command that failed: its parameter names) are
    left as they are, and ``path=`` (the file argument) is dropped.

    Examples
    --------
    >>> cli_message("could not infer the reward column from ['x', 'y']; pass reward='<column>'")
    "could not infer the reward column from ['x', 'y']; pass --reward COLUMN"
    >>> cli_message("path='a.csv' holds 2 runs: ['a', 'b']. Pick one with run='<name>'")
    "'a.csv' holds 2 runs: ['a', 'b']. Pick one with --run NAME"
    """

    def render(m: re.Match[str]) -> str:
        key, value = m.group("key"), m.group("value")
        if key == "path":
            return value
        option = CLI_OPTIONS.get(key)
        if option is None or (options is not None and key not in options):
            return m.group(0)
        if value.startswith(("'<", "<")):
            what = "COLUMN" if "column" in value else "NAME" if "name" in value else "VALUE"
            return f"{option} {what}"
        if value == "...":
            return f"{option} VALUE"
        if value.startswith("'"):
            return f"{option} {value.strip(chr(39))}"
        return option

    return _KEYWORD.sub(render, message)


F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(func: F) -> F:
    """Turn user-facing errors into one line on stderr and exit status 2."""

    # The library keywords this command has an option for (``format`` is ``file_format``).
    params = set(inspect.signature(func).parameters)
    params |= {"format"} if "file_format" in params else set()

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, OSError, ValueError, KeyError, EOFError, zlib.error) as exc:
            msg = exc.args[0] if exc.args else exc
            if isinstance(exc, OSError) and exc.filename and exc.strerror:
                msg = f"{exc.strerror}: {exc.filename}"
            text = str(msg).splitlines()[0] if str(msg).strip() else type(exc).__name__
            typer.echo(f"error: {cli_message(text, params)}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def reported_warnings() -> Iterator[None]:
    """Print the library's warnings as ``warning: ...`` lines on stderr (each message once)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                msg = str(w.message)
                if issubclass(w.category, UserWarning) and msg not in seen:
                    seen.add(msg)
                    typer.echo(f"warning: {msg}", err=True)


# ---------------------------------------------------------------------------- shared options

FilesArg = Annotated[
    list[str],
    typer.Argument(help="Run files or directories (CSV, JSONL, Parquet, TensorBoard, run dirs) "
                   "or glob patterns.", show_default=False),
]  # fmt: skip
ComputeOpt = Annotated[
    str | None, typer.Option("--compute", help="Compute column (inferred when omitted).")
]
RewardOpt = Annotated[
    str | None, typer.Option("--reward", help="Reward column (inferred when omitted).")
]
PerStepOpt = Annotated[
    float | None,
    typer.Option("--compute-per-step", help="Convert steps to compute: step x this value."),
]
StepOpt = Annotated[
    str | None, typer.Option("--step", help="Step column (with --compute-per-step).")
]
TokensOpt = Annotated[
    str | None, typer.Option("--tokens", help="Token column (with --flops-per-token).")
]
PerTokenOpt = Annotated[
    float | None,
    typer.Option("--flops-per-token", help="Convert tokens to compute: tokens x this value."),
]
RunsOpt = Annotated[
    list[str] | None,
    typer.Option("--run", help="Keep only runs with this name (repeat for several)."),
]
NanPolicyOpt = Annotated[
    str,
    typer.Option(
        "--nan-policy", help="raise: refuse rows with a missing value; omit: drop and count them."
    ),
]
DuplicatesOpt = Annotated[
    str | None,
    typer.Option("--duplicates", help="Repeated compute values: raise, last or mean."),
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="File format when the name does not say (csv, jsonl, ...)."),
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")]
CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Write the results table as CSV here.")]
FigureOpt = Annotated[Path | None, typer.Option("--figure", help="Write a figure (PNG) here.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same numbers).")]
LevelOpt = Annotated[float, typer.Option("--level", help="Interval level, e.g. 0.9.")]
FractionsOpt = Annotated[
    str, typer.Option("--fractions", help="Observed fractions of compute, comma-separated.")
]
LevelsOpt = Annotated[str, typer.Option("--levels", help="Interval levels, comma-separated.")]
ForecastMethodOpt = Annotated[
    str, typer.Option("--method", help="Forecast method: auto, sigmoid, plateau or mcmc.")
]
NSamplesOpt = Annotated[int, typer.Option("--n-samples", help="Draws per forecast.")]
ProgressOpt = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress bars.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")]


def _load(files: list[str], one: bool = False, **options: Any) -> list[Run]:
    """``load_runs`` (``load_run`` with ``one``) with the command's loader options; a file
    that cannot be decompressed or ends early is named (the decompressor's message does not
    say which)."""
    from rlscaling.loaders import load_run, load_runs

    try:
        return [load_run(files[0], **options)] if one else load_runs(files, **options)
    except (EOFError, zlib.error) as exc:
        raise InputError(
            f"{' '.join(files)}: a compressed file could not be read to its end ({exc}); "
            "is it truncated? Decompress it to check, or pass the uncompressed file"
        ) from None


def check_count(value: int, option: str, minimum: int = 1) -> None:
    """Refuse a count option below ``minimum`` before any work starts."""
    if value < minimum:
        raise InputError(f"{option} must be an integer >= {minimum}, got {value}")


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(
            f"{option} must be comma-separated numbers like 0.25,0.5,0.75, got {text!r}"
        ) from None
    if not vals:
        raise InputError(f"{option} is empty; give numbers like 0.25,0.5,0.75")
    return vals


def write_json(path: Path | None, obj: Any) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
        console.print(f"wrote {path}")


def write_csv(path: Path | None, df: pd.DataFrame) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False)
        console.print(f"wrote {path}")


def save_figure(ax_or_fig: Any, path: Path) -> None:
    """Save the figure of an Axes (or a Figure) as ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    getattr(ax_or_fig, "figure", ax_or_fig).savefig(path, dpi=120)


def _write_figure(path: Path | None, draw: Callable[[], Any]) -> None:
    if path is not None:
        save_figure(draw(), path)
        console.print(f"wrote {path}")


def _json_default(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _ci(v: float, lo: float, hi: float, fmt: str = ".3f") -> str:
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


# ---------------------------------------------------------------------------- fit


def fits_table(fits: list[Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("run", "A", "B", "C_mid", "R0", "n", "R^2", "identified"):
        table.add_column(col, justify="right" if col not in ("run", "identified") else "left")
    for f in fits:
        se = f.stderr
        table.add_row(
            f.data.name or "run",
            f"{f.A:.3f} ± {se['A']:.3f}",
            f"{f.B:.2f} ± {se['B']:.2f}",
            f"{f.C_mid:.4g}",
            f"{f.R0:.3f}",
            str(f.n_used),
            f"{f.r2:.3f}",
            "yes" if f.identified else "NO: " + "; ".join(f.identification_issues),
        )
    return table


@app.command()
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
    import pandas as pd

    from rlscaling.ensemble import decline_note
    from rlscaling.fit import fit_sigmoid
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
    rows = []
    for k, f in enumerate(fits):
        row: dict[str, Any] = {"run": f.data.name, **f.params}
        row.update({f"{p}_stderr": f.stderr[p] for p in ("A", "B", "C_mid", "R0")})
        row.update(n=f.n_used, r2=f.r2, identified=f.identified)
        if boots:
            for p in ("A", "B", "C_mid"):
                row[f"{p}_lower"], row[f"{p}_upper"] = boots[k].interval(p, level)
        rows.append(row)
    if boots:
        table = Table(title=f"{level * 100:g}% block-bootstrap intervals ({bootstrap} replicates)")
        for col in ("run", "A", "B", "C_mid"):
            table.add_column(col, justify="left" if col == "run" else "right")
        for r in rows:
            table.add_row(
                str(r["run"]),
                *(f"[{r[f'{p}_lower']:.4g}, {r[f'{p}_upper']:.4g}]" for p in ("A", "B", "C_mid")),
            )
        console.print(table)
    out = [f.to_dict() for f in fits]
    for k, b in enumerate(boots):
        out[k]["bootstrap"] = b.to_dict(level)
    write_json(json_path, out)
    write_csv(csv_path, pd.DataFrame(rows))

    unit = runs[0].metadata.get("compute_unit") if runs else None
    _write_figure(figure, lambda: plot_fits(fits, extend=3.0, unit=unit))


# ---------------------------------------------------------------------------- forecast


@app.command("forecast")
@clean_errors
def forecast_command(
    file: Annotated[str, typer.Argument(help="One run (file or run directory).")],
    budget: Annotated[
        float | None, typer.Option("--budget", help="Compute budget (default 2x observed).")
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="auto, sigmoid, plateau or mcmc.")
    ] = "auto",
    target_reward: Annotated[
        float | None,
        typer.Option("--target-reward", help="Also: compute needed to reach this reward."),
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Run to take from a multi-run file.")
    ] = None,
    compute: ComputeOpt = None,
    reward: RewardOpt = None,
    compute_per_step: PerStepOpt = None,
    step: StepOpt = None,
    tokens: TokensOpt = None,
    flops_per_token: PerTokenOpt = None,
    nan_policy: NanPolicyOpt = "raise",
    duplicates: DuplicatesOpt = None,
    file_format: FormatOpt = None,
    n_samples: Annotated[int, typer.Option("--n-samples", help="Predictive draws.")] = 2000,
    seed: SeedOpt = 0,
    json_path: JsonOpt = None,
    csv_path: CsvOpt = None,
    figure: FigureOpt = None,
) -> None:
    """Forecast the reward of a (partial) run at a compute budget, with intervals."""
    from rlscaling.forecast import compute_to_reach, forecast

    check_count(n_samples, "--n-samples")
    with reported_warnings():
        (r,) = _load(
            [file], one=True, compute=compute, reward=reward,
            compute_per_step=compute_per_step, step=step, tokens=tokens,
            flops_per_token=flops_per_token, run=run, nan_policy=nan_policy,
            duplicates=duplicates, format=file_format,
        )  # fmt: skip
        fc = forecast(r, budget, method=method, n_samples=n_samples, seed=seed)  # type: ignore[arg-type]
        tf = None
        if target_reward is not None:
            tf = compute_to_reach(
                r,
                target_reward,
                method=method,
                n_samples=n_samples,
                seed=seed,  # type: ignore[arg-type]
            )
    frame = fc.to_frame()
    table = Table(title=f"Forecast for {fc.name} ({fc.method})")
    table.add_column("budget", justify="right")
    table.add_column("x observed", justify="right")
    table.add_column("median", justify="right")
    for lv in fc.levels:
        table.add_column(f"{lv * 100:g}% interval", justify="right")
    if target_reward is not None:
        table.add_column(f"P(reward >= {target_reward:g})", justify="right")
    c_obs = float(fc.observed_compute.max())
    for k, row in frame.iterrows():
        cells = [f"{row['budget']:.4g}", f"{row['budget'] / c_obs:.2g}", f"{row['median']:.4f}"]
        cells += [f"[{row[f'lower_{lv:g}']:.4f}, {row[f'upper_{lv:g}']:.4f}]" for lv in fc.levels]
        if target_reward is not None:
            cells.append(f"{float((fc.draws[:, int(k)] >= target_reward).mean()):.2f}")
        table.add_row(*cells)
    console.print(table)
    console.print(f"observed up to compute {c_obs:.4g}, last reward {fc.observed_reward[-1]:.4f}")
    for lw, wt in fc.weights.items():
        console.print(f"model weight {lw}: {wt:.2f}")
    if tf is not None:
        console.print(tf.summary())
    out: dict[str, Any] = {"forecast": fc.to_dict()}
    if tf is not None:
        out["compute_to_reach"] = tf.to_dict()
    write_json(json_path, out)
    write_csv(csv_path, frame)
    if figure is not None:
        from rlscaling.plot import plot_forecast

        # The figure shows the path up to the largest budget, not only its end.
        path = _forecast_path(r, fc, method, n_samples, seed)
        _write_figure(figure, lambda: plot_forecast(path))


def _forecast_path(run: Run, fc: Any, method: str, n_samples: int, seed: int) -> Any:
    """The forecast of ``run`` on 16 budgets from its last observation to ``fc``'s largest."""
    import numpy as np

    from rlscaling.forecast import forecast

    c_obs, c_max = float(run.compute.max()), float(np.max(fc.budget))
    if c_max <= c_obs:
        return fc
    grid = np.geomspace(c_obs, c_max, 17)[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # already reported for the forecast itself
        return forecast(run, grid, method=method, n_samples=n_samples, seed=seed)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- compare


@app.command("compare")
@clean_errors
def compare_command(
    files: FilesArg,
    budget: Annotated[
        float | None, typer.Option("--budget", help="Compare rewards here (default 4x observed).")
    ] = None,
    method: Annotated[str, typer.Option("--method", help="bootstrap or mcmc.")] = "bootstrap",
    n: Annotated[int, typer.Option("--n", help="Draws per recipe.")] = 1000,
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="Metadata key naming each run's recipe.")
    ] = None,
    level: LevelOpt = 0.9,
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
    seed: SeedOpt = 0,
    json_path: JsonOpt = None,
    csv_path: CsvOpt = None,
    figure: FigureOpt = None,
) -> None:
    """Compare recipes: A, B, C_mid with intervals, P(i beats j) and where curves cross."""
    from rlscaling.compare import compare

    check_count(n, "--n", 10)
    with reported_warnings():
        runs = _load(
            files, compute=compute, reward=reward, compute_per_step=compute_per_step,
            step=step, tokens=tokens, flops_per_token=flops_per_token, run=run,
            nan_policy=nan_policy, duplicates=duplicates, format=file_format,
        )  # fmt: skip
        cmp = compare(
            runs,
            budget=budget,
            level=level,
            n=n,
            method=method,
            seed=seed,
            group_by=group_by,  # type: ignore[arg-type]
        )
    print_comparison(cmp)
    write_json(json_path, cmp.to_dict())
    write_csv(csv_path, cmp.table)
    if csv_path is not None:
        pairs = cmp.pairwise.merge(
            cmp.crossovers, on=["recipe_i", "recipe_j"], suffixes=("", "_crossing")
        )
        write_csv(csv_path.with_name(csv_path.stem + "_pairs.csv"), pairs)
    _write_figure(figure, cmp.plot)


def print_comparison(cmp: Any) -> None:
    """Tables of a :class:`~rlscaling.Comparison`, then each pair's verdict and crossing."""
    console.print(comparison_tables(cmp))
    for (_, p), (_, x) in zip(cmp.pairwise.iterrows(), cmp.crossovers.iterrows(), strict=True):
        console.print(f"{p['recipe_i']} vs {p['recipe_j']}: {p['verdict']}", highlight=False)
        console.print(f"  {x['statement']}", highlight=False)
    for note in cmp.notes:
        console.print(f"note: {note}", highlight=False)


def comparison_tables(cmp: Any) -> Table:
    """Per-recipe and pairwise tables of a :class:`~rlscaling.Comparison`, stacked in one grid."""
    lv = f"{cmp.level * 100:g}%"
    recipes = Table(title=f"Recipes ({cmp.method}, {lv} intervals; budget {cmp.budget:.4g})")
    for col in ("recipe", "runs", "A", "B", "C_mid", "reward at budget", "identified"):
        recipes.add_column(col, justify="left" if col in ("recipe", "identified") else "right")
    for _, r in cmp.table.iterrows():
        recipes.add_row(
            str(r["recipe"]),
            str(r["n_runs"]),
            _ci(r["A"], r["A_lower"], r["A_upper"]),
            _ci(r["B"], r["B_lower"], r["B_upper"], ".2f"),
            _ci(r["C_mid"], r["C_mid_lower"], r["C_mid_upper"], ".3g"),
            _ci(r["reward_at_budget"], r["reward_at_budget_lower"], r["reward_at_budget_upper"]),
            "yes" if r["identified"] else "NO",
        )
    pairs = Table(title="Pairs")
    at = f"P(reward_i>reward_j) at {cmp.budget:.3g}"
    for col in ("i vs j", "P(A_i>A_j)", "P(B_i>B_j)", at):
        pairs.add_column(col, justify="left" if col == "i vs j" else "right")
    for _, p in cmp.pairwise.iterrows():
        pairs.add_row(
            f"{p['recipe_i']} vs {p['recipe_j']}",
            f"{p['P_A']:.2f}",
            f"{p['P_B']:.2f}",
            f"{p['P_reward']:.2f}",
        )
    grid = Table.grid()
    grid.add_row(recipes)
    grid.add_row(pairs)
    return grid


# ---------------------------------------------------------------------------- backtest


@app.command("backtest")
@clean_errors
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
    seed: SeedOpt = 0,
    json_path: JsonOpt = None,
    csv_path: CsvOpt = None,
    figure: FigureOpt = None,
) -> None:
    """Backtest forecasts on finished runs: fit early fractions, score against the end."""
    from rlscaling.backtest import backtest

    fr, lvs = _floats(fractions, "--fractions"), _floats(levels, "--levels")
    check_count(n_samples, "--n-samples")
    with reported_warnings():
        runs = _load(
            files, compute=compute, reward=reward, compute_per_step=compute_per_step,
            step=step, tokens=tokens, flops_per_token=flops_per_token, run=run,
            nan_policy=nan_policy, duplicates=duplicates, format=file_format,
        )  # fmt: skip
        bt = backtest(
            runs, fr, levels=lvs, method=method, target=target,  # type: ignore[arg-type]
            seed=seed, progress=progress, n_samples=n_samples,
        )  # fmt: skip
    tab = bt.summary_table()
    lv = max(bt.levels)
    table = Table(
        title=f"Backtest of {len(runs)} runs: error of the forecast end, as a share of each "
        "run's reward range (max - min)",
        caption="error = |forecast - truth| / range; width = interval width / range; "
        "cover = share of runs whose truth the interval held",
    )
    for col in ("fraction", "method", "refused", "median error", "mean error", "p90 error"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for v in bt.levels:
        table.add_column(f"cover {v:g}", justify="right")
    table.add_column(f"width {lv:g}", justify="right")
    for _, r in tab.iterrows():
        table.add_row(
            f"{r['fraction']:.2f}",
            str(r["method"]),
            f"{r['refused']}/{r['runs']}",
            *(_pct(r[c]) for c in ("median_rel_error", "mean_rel_error", "p90_rel_error")),
            *(_num(r[f"coverage_{v:g}"], ".2f") for v in bt.levels),
            _pct(r[f"rel_width_{lv:g}"]),
        )
    console.print(table)
    tail = bt.summary().split("\n\n", 1)
    if len(tail) == 2 and tail[1].strip():
        console.print(tail[1], highlight=False)
    write_json(json_path, bt.to_dict())
    write_csv(csv_path, bt.frame)
    _write_figure(figure, bt.plot)


@app.command("report")
@clean_errors
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
    seed: SeedOpt = 0,
) -> None:
    """Early-fit report: forecast each run's end from 25/50/75% of it; recipes, seeds; HTML."""
    from rlscaling.report import early_fit_report

    fr, lvs = _floats(fractions, "--fractions"), _floats(levels, "--levels")
    check_count(n_samples, "--n-samples")
    with reported_warnings():
        if runs == ["calibration"]:
            from rlscaling.datasets import calibration_runs

            loaded = calibration_runs()
        else:
            loaded = _load(
                runs, compute=compute, reward=reward, compute_per_step=compute_per_step,
                step=step, tokens=tokens, flops_per_token=flops_per_token, run=run,
                nan_policy=nan_policy, duplicates=duplicates, format=file_format,
            )  # fmt: skip
        rep = early_fit_report(
            loaded, fr, levels=lvs, method=method, n_samples=n_samples, seed=seed,
            progress=progress,
        )  # fmt: skip
        paths = rep.write(out)
    tab = rep.accuracy_table()
    lv = max(rep.backtest.levels)
    table = Table(
        title=f"Forecast of the final reward: {len(loaded)} runs (error and width as a share "
        "of each run's reward range)"
    )
    cols = ("fraction", "method", "median error", "mean error", f"cover {lv:g}", f"width {lv:g}")
    for col in cols:
        table.add_column(col, justify="left" if col == "method" else "right")
    for _, r in tab.iterrows():
        table.add_row(
            f"{r['fraction']:.2f}",
            str(r["method"]),
            _pct(r["median_rel_error"]),
            _pct(r["mean_rel_error"]),
            _num(r[f"coverage_{lv:g}"], ".2f"),
            _pct(r[f"rel_width_{lv:g}"]),
        )
    console.print(table)
    for v in rep.verdicts():
        console.print(f"- {v}", highlight=False)
    console.print(f"wrote {paths['html']} and {paths['json']}")


def _pct(v: Any) -> str:
    """A share (0.031) as a percentage ("3.1%"); "-" where missing."""
    return _num(v, ".1%")


def _num(v: Any, fmt: str = ".4f") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "-"
    return f"{f:{fmt}}" if f == f and abs(f) != float("inf") else "-"


# ---------------------------------------------------------------------------- demo


@app.command()
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
    seeds, see ``rlscaling.datasets.calibration_runs``): fits every run, forecasts each run's
    end from its first half, compares the recipes (seeds pooled), and writes fits.png,
    forecasts.png, compare.png, summary.txt, fits.json, demo.json and the early-fit report
    (report/index.html) to OUT. ``--synthetic`` uses the synthetic example curves instead.
    Each step is announced as it starts (the report takes most of the time); ``--quiet``
    prints only the results.
    """
    import numpy as np

    from rlscaling.compare import compare
    from rlscaling.datasets import calibration_runs, example_curves
    from rlscaling.fit import fit_sigmoid
    from rlscaling.forecast import forecast

    check_count(n, "--n", 10)
    runs = example_curves() if synthetic else calibration_runs()
    title = "Bundled example curves (synthetic)" if synthetic else "Bundled calibration runs"
    unit = str(runs[0].metadata.get("compute_unit", "compute"))
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), _steps(quiet, 5 if report else 4) as step:
        warnings.simplefilter("ignore")
        step(f"fitting {len(runs)} runs")
        fits = [fit_sigmoid(r) for r in runs]
        step("forecasting each run's end from its first half")
        forecasts = []
        for r in runs:
            half = r.truncate(0.5)
            # A path of budgets from the cut to the run's end; the table reads its last one.
            grid = np.geomspace(half.compute.max(), r.compute.max(), 13)[1:]
            forecasts.append(forecast(half, budget=grid, n_samples=1000, seed=seed))
        step(f"comparing {len({str(r.metadata.get('recipe', r.name)) for r in runs})} recipes")
        # At the runs' largest compute, as the early-fit report compares them: the console and
        # report/index.html then show the same probabilities for the same pair.
        budget = float(max(r.compute.max() for r in runs))
        cmp = compare(runs, n=max(n, 200), seed=seed, budget=budget)
        step("drawing figures")
        _demo_figures(out, runs, fits, forecasts, cmp, unit)
        rep = None
        if report:
            from rlscaling.report import early_fit_report

            step("early-fit report (backtest from 25/50/75% of each run; the longest step)")
            rep = early_fit_report(runs, n_samples=500, n_boot=n, seed=seed, progress=False)
            rep.write(out / "report")
    console.print(fits_table(fits, title))
    _demo_forecast_table(runs, forecasts)
    print_comparison(cmp)

    parts = [f.summary() for f in fits] + [fc.summary() for fc in forecasts] + [cmp.summary()]
    names = ["fits.png", "forecasts.png", "compare.png", "summary.txt", "fits.json", "demo.json"]
    if rep is not None:
        parts.append("\n".join(rep.verdicts()))
        for v in rep.verdicts():
            console.print(f"- {v}", highlight=False)
        names.append("report/index.html")
    (out / "summary.txt").write_text("\n\n".join(parts) + "\n")
    (out / "fits.json").write_text(json.dumps([f.to_dict() for f in fits], indent=2) + "\n")
    doc = {
        "synthetic": synthetic,
        "runs": [{"name": r.name, **r.metadata} for r in runs],
        "fits": [f.to_dict() for f in fits],
        "forecasts_from_half": [fc.to_dict() for fc in forecasts],
        "comparison": cmp.to_dict(),
    }
    (out / "demo.json").write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    console.print("wrote " + ", ".join(str(out / nm) for nm in names))


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


def _demo_forecast_table(runs: list[Run], forecasts: list[Any]) -> None:
    import numpy as np

    table = Table(title="Forecast of each run's end from its first half")
    for col in ("run", "observed to", "budget", "median", "90% interval", "actual (last 3)"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r, fc in zip(runs, forecasts, strict=True):
        lo, hi = fc.interval(0.9)
        table.add_row(
            r.name,
            f"{fc.observed_compute.max():.4g}",
            f"{fc.budget[-1]:.4g}",
            f"{fc.median[-1]:.4f}",
            f"[{lo[-1]:.4f}, {hi[-1]:.4f}]",
            f"{np.mean(r.reward[-3:]):.4f}",
        )
    console.print(table)


def _demo_figures(
    out: Path, runs: list[Run], fits: list[Any], forecasts: list[Any], cmp: Any, unit: str
) -> None:
    from rlscaling.plot import panel_grid, plot_fits, plot_forecast

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


# ---------------------------------------------------------------------------- trainer


def _trainer_commands() -> list[tuple[str, str]]:
    """Names and help lines of the trainer's commands, read from its source without importing
    it (importing it loads torch); empty when the trainer is not installed."""
    try:
        spec = importlib.util.find_spec("rlscaling.trainer")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    src = Path(next(iter(spec.submodule_search_locations))) / "cli.py"
    if not src.is_file():
        return []
    try:
        tree = ast.parse(src.read_text())
    except (OSError, SyntaxError):
        return []
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if (
                isinstance(dec, ast.Call)
                and isinstance(dec.func, ast.Attribute)
                and dec.func.attr == "command"
                and isinstance(dec.func.value, ast.Name)
                and dec.func.value.id == "train_app"
            ):
                name = node.name.replace("_", "-")
                if dec.args and isinstance(dec.args[0], ast.Constant):
                    name = str(dec.args[0].value)
                doc = (ast.get_docstring(node) or "").strip().splitlines()
                found.append((name, doc[0] if doc else ""))
    return found


def _lazy_trainer_command(name: str, help_line: str) -> None:
    @app.command(
        name,
        help=f"[trainer] {help_line}",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def _run(ctx: typer.Context) -> None:
        try:
            from rlscaling.trainer.cli import train_app
        except ImportError as exc:
            typer.echo(
                f"error: the trainer needs the 'train' extra (pip install 'rlscaling[train]'): "
                f"{exc}",
                err=True,
            )
            raise typer.Exit(2) from None
        cmd = typer.main.get_command(train_app)
        # A one-command typer app becomes a plain command, several become a group.
        args = [name, *ctx.args] if hasattr(cmd, "commands") else list(ctx.args)
        cmd.main(args=args, prog_name="rlscaling", standalone_mode=True)


for _name, _help in _trainer_commands():
    _lazy_trainer_command(_name, _help)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover - python -m rlscaling.cli
    main()
