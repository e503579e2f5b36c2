"""What every command of the ``rlscaling`` command line shares.

Options (typed ``Annotated`` aliases), loading run files, writing ``--json``/``--csv``/
``--figure``, turning the library's errors into one ``error: ...`` line (exit status 2, never
a traceback) and its warnings into ``warning: ...`` lines, and rendering a result's
``to_frame()`` as a table. The library's messages suggest Python keywords
(``reward='<column>'``); printed here they are rewritten to this command line's options
(``--reward COLUMN``) by :func:`cli_message`, and only options that exist are suggested.

Nothing here imports pandas, scipy or matplotlib at import time: ``rlscaling --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import sys
import warnings
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rlscaling.io.errors import InputError
from rlscaling.io.serialize import json_default as _json_default

if TYPE_CHECKING:
    import pandas as pd

    from rlscaling.forecasting.prior import ForecastPrior
    from rlscaling.io.runs import Run

# Piped output (a file, CI logs) gets a fixed width wide enough for the tables.
console = Console(width=None if sys.stdout.isatty() else 160)


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
    "reward_range": "--reward-range",
}
_KEYWORD = re.compile(
    r"\b(?P<key>[a-z_]+)=(?P<value>'<[^'>]*>'|<[^>]*>|'[A-Za-z0-9_./@-]*'|\.\.\."
    r"|\([0-9a-z., -]*\)|None|(?=[\s,;:)]|$))"
)


def cli_message(message: str, options: set[str] | None = None) -> str:
    """A library error message with its Python hints rewritten as options of this CLI.

    ``reward='<column>'`` becomes ``--reward COLUMN``, ``run='<name>'`` ``--run NAME``,
    ``nan_policy='omit'`` ``--nan-policy omit``, ``reward_range=(0, 100)``
    ``--reward-range 0,100``, ``reward_range=None`` ``--reward-range none``; keywords
    without an option here (or, when ``options`` is given, without one on the command that
    failed: its parameter names) are left as they are, and ``path=`` (the file argument) is
    dropped.

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
        if value.startswith("("):  # a tuple: reward_range=(0, 100) is --reward-range 0,100
            return f"{option} {value.strip('()').replace(' ', '').upper()}"
        if value == "None":  # reward_range=None is --reward-range none
            return f"{option} none"
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
    """Print the library's warnings as ``warning: ...`` lines on stderr (each message once),
    their Python hints written as options (:func:`cli_message`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                msg = cli_message(str(w.message))
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


OneRunOpt = Annotated[str | None, typer.Option("--run", help="Run to take from a multi-run file.")]

# The loader options every command that reads run files takes: name -> (annotation, default).
_LOAD_PARAMS: dict[str, tuple[Any, Any]] = {
    "compute": (ComputeOpt, None),
    "reward": (RewardOpt, None),
    "compute_per_step": (PerStepOpt, None),
    "step": (StepOpt, None),
    "tokens": (TokensOpt, None),
    "flops_per_token": (PerTokenOpt, None),
    "run": (RunsOpt, None),
    "nan_policy": (NanPolicyOpt, "raise"),
    "duplicates": (DuplicatesOpt, None),
    "file_format": (FormatOpt, None),
}


class LoadOptions:
    """The loader options of one command line, given to a command as ``load``.

    ``load(files)`` reads the files with them (``load_runs``; ``load_run`` for a command that
    takes one run), so a command states neither the ten options nor the call.
    """

    def __init__(self, one: bool = False, **options: Any) -> None:
        self.one = one
        fmt = options.pop("file_format", None)
        self.options = {**options, "format": fmt}

    def __call__(self, files: list[str]) -> list[Run]:
        return _load(files, one=self.one, **self.options)


def with_load_options(*, one: bool = False) -> Callable[[F], F]:
    """Add the loader options (``--compute``, ``--reward``, ... ``--format``) to a command.

    The decorated command takes a keyword ``load`` (a :class:`LoadOptions`) instead of the ten
    options; typer sees them in its signature after the command's own, so ``--help`` lists
    them and a user types them as before. ``one=True`` makes ``--run`` take one name (a
    command that reads one run).
    """

    def decorate(func: F) -> F:
        # Evaluated annotations: typer reads a __signature__ as it is (no string evaluation).
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "load"]
        added = dict(_LOAD_PARAMS)
        if one:
            added["run"] = (OneRunOpt, None)
        extra = [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
            for k, (a, d) in added.items()
        ]
        # Keyword-only parameters go last; typer reads them as options in this order.
        own_pos = [p for p in own if p.kind != inspect.Parameter.KEYWORD_ONLY]
        own_kw = [p for p in own if p.kind == inspect.Parameter.KEYWORD_ONLY]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            opts = {k: kwargs.pop(k, d) for k, (_, d) in added.items()}
            return func(*args, load=LoadOptions(one=one, **opts), **kwargs)

        wrapper.__signature__ = sig.replace(parameters=own_pos + own_kw + extra)  # type: ignore[attr-defined]
        # typer resolves annotations with get_type_hints: the added ones are objects already.
        wrapper.__annotations__ = {p.name: p.annotation for p in own} | {
            k: a for k, (a, _) in added.items()
        }
        return wrapper  # type: ignore[return-value]

    return decorate


def _load(files: list[str], one: bool = False, **options: Any) -> list[Run]:
    """``load_runs`` (``load_run`` with ``one``) with the command's loader options; a file
    that cannot be decompressed or ends early is named (the decompressor's message does not
    say which)."""
    from rlscaling.io.inputs import LEFT_OUT_WORDS
    from rlscaling.io.loaders import load_run, load_runs

    try:
        runs = [load_run(files[0], **options)] if one else load_runs(files, **options)
    except (EOFError, zlib.error) as exc:
        raise InputError(
            f"{' '.join(files)}: a compressed file could not be read to its end ({exc}); "
            "is it truncated? Decompress it to check, or pass the uncompressed file"
        ) from None
    if options.get("reward") is None:
        for line in _reward_notes(runs):
            typer.echo(line, err=True)
    for run in runs:  # rows a loader option dropped are said, not only kept in metadata
        left = {k: int(n) for k, n in run.metadata.get("omitted", {}).items() if n}
        if left:
            parts = ", ".join(
                f"{n} {LEFT_OUT_WORDS.get(k, k.replace('_', ' '))}" for k, n in left.items()
            )
            typer.echo(f"note: {run.name}: rows left out in reading: {parts}", err=True)
    return runs


def _reward_notes(runs: Sequence[Run]) -> list[str]:
    """Which column each run's reward was read from, when the command was not told: a log
    holds several reward-like columns (a training batch's, an evaluation's), and the one
    fitted should be seen. One line per column, naming the runs when they differ."""
    by_column: dict[str, list[str]] = {}
    for run in runs:
        column = run.metadata.get("columns", {}).get("reward")
        if column is not None:
            by_column.setdefault(str(column), []).append(run.name)
    lines = []
    for column, names in by_column.items():
        if len(by_column) == 1:
            who = names[0] if len(names) == 1 else f"all {len(names)} runs"
        else:
            who = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        lines.append(
            f"note: {who}: reward read from column {column!r} (--reward COLUMN for another)"
        )
    return lines


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


def _write_figure(path: Path | None, draw: Callable[[], Any]) -> None:
    if path is not None:
        from rlscaling.plot import save_figure  # numpy and matplotlib: only when drawing

        save_figure(draw(), path)
        console.print(f"wrote {path}")


def _ci(v: float, lo: float, hi: float, fmt: str = ".3f") -> str:
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


# ---------------------------------------------------------------------------- fit


def fits_table(fits: list[Any], title: str) -> Table:
    """The fits as one table, a row per run: :func:`rlscaling.fit.result.fits_frame` (each
    fit's ``to_frame()``) through :func:`frame_table`."""
    from rlscaling.fit.result import fits_frame

    return frame_table(
        fits_frame(fits), title, columns=FIT_COLUMNS, formats=FIT_FORMATS,
        left=("identified", "identification_issues"),
    )  # fmt: skip


# The columns of the fits table (frame column -> header) and their number formats.
FIT_COLUMNS = {
    "run": "run", "A": "A", "A_stderr": "± A", "B": "B", "B_stderr": "± B", "C_mid": "C_mid",
    "R0": "R0", "n": "n", "r2": "R^2", "identified": "identified",
    "identification_issues": "why not",
}  # fmt: skip
FIT_FORMATS = {"A": ".3f", "A_stderr": ".3f", "B": ".2f", "B_stderr": ".2f", "R0": ".3f",
               "n": "d", "r2": ".3f"}  # fmt: skip


def error_columns(levels: Sequence[float], width_level: float, *, counts: bool) -> dict[str, Any]:
    """``columns``, ``formats`` and ``left`` for :func:`frame_table` of a backtest's
    ``summary_table()``: fraction, method, (with ``counts``) runs and refused, the median,
    mean (and with ``counts`` p90) error, coverage at ``levels`` and the width at
    ``width_level``; errors and widths as percentages of each run's reward range."""
    columns = {"fraction": "fraction", "method": "method"}
    if counts:
        columns |= {"refused": "refused", "runs": "runs"}
    columns |= {"median_rel_error": "median error", "mean_rel_error": "mean error"}
    if counts:
        columns["p90_rel_error"] = "p90 error"
    columns |= {f"coverage_{v:g}": f"cover {v:g}" for v in levels}
    columns[f"rel_width_{width_level:g}"] = f"width {width_level:g}"
    formats = {c: ".1%" for c in columns if "rel_" in c}
    formats |= {"fraction": ".2f", "refused": "d", "runs": "d"}
    formats |= {c: ".2f" for c in columns if c.startswith("coverage_")}
    return {"columns": columns, "formats": formats, "left": ("method",)}


def frame_table(
    df: pd.DataFrame,
    title: str,
    fmt: str = ".4g",
    *,
    columns: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
    left: Collection[str] = (),
    caption: str | None = None,
) -> Table:
    """A rich table of a result's ``to_frame()`` (or another of its frames).

    One column per frame column, or per key of ``columns`` (frame column -> header, in the
    order shown); numbers in ``formats[column]``, else ``fmt`` (a ``"%"`` format shows a share
    as a percentage); the first column and those in ``left`` left-aligned (names), the rest
    right-aligned (numbers). Booleans read yes/no; missing or infinite numbers "-".
    """
    shown = dict(columns) if columns is not None else {str(c): str(c) for c in df.columns}
    missing = [c for c in shown if c not in df.columns]
    if missing:  # a programming error of a command, not a user's: say which columns
        raise KeyError(f"frame_table: columns {missing} not in the frame {list(df.columns)}")
    formats = formats or {}
    table = Table(title=title, caption=caption)
    for k, (col, header) in enumerate(shown.items()):
        table.add_column(header, justify="left" if k == 0 or col in left else "right")
    for _, row in df[list(shown)].iterrows():
        table.add_row(*(_cell(row[c], formats.get(c, fmt)) for c in shown))
    return table


def _cell(v: Any, fmt: str) -> str:
    if isinstance(v, bool) or v is None or (hasattr(v, "dtype") and v.dtype == bool):
        return "-" if v is None else ("yes" if v else "no")
    if isinstance(v, int | float) or hasattr(v, "dtype"):
        try:
            f = float(v)
        except (TypeError, ValueError):
            return escape(str(v))
        if not (f == f and abs(f) != float("inf")):
            return "-"
        return f"{int(f):{fmt}}" if fmt.endswith("d") else f"{f:{fmt}}"
    # A name is text, not markup: rich read "forecast[auto]" as a style tag and showed
    # "forecast", while the JSON and CSV said "forecast[auto]".
    return escape(str(v))


RewardRangeOpt = Annotated[
    str | None,
    typer.Option(
        "--reward-range",
        help="LOW,HIGH: the range a bounded reward can take, e.g. 0,100 for a percentage "
        "(forecast as a pass rate on that range); 'auto' (default): rewards in [0, 1] are a "
        "pass rate, rewards in [0, 100] that pass 10 a percentage; 'none': no range.",
    ),
]


def _reward_range(text: str | None) -> tuple[float, float] | str | None:
    """``--reward-range LOW,HIGH`` as two floats (checked further by ``forecast``), or
    ``auto`` / ``none`` as the library's ``"auto"`` / ``None``."""
    if text is None or text.strip().lower() == "auto":
        return "auto"
    if text.strip().lower() == "none":
        return None
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(
            f"expected LOW,HIGH (two numbers, e.g. 0,100), auto or none, got {text!r}",
            param_hint="--reward-range",
        ) from None
    return lo, hi


def read_prior(value: str | None) -> ForecastPrior | str | None:
    """``--prior``: a kind of curve's bundled settings (``pass_rate-flat``, ...) or a JSON file
    written by ``rlscaling prior`` (read as JSON only, never unpickled)."""
    from rlscaling.forecasting.prior import KINDS, ForecastPrior

    if value is None or value in KINDS:
        return value
    path = Path(value)
    if not path.is_file():
        raise InputError(
            f"--prior {value!r} is neither a file nor a kind of curve ({', '.join(KINDS)}); "
            "write one with `rlscaling prior RUNS --out prior.json`"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"--prior {value!r} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"--prior {value!r} holds {type(data).__name__}, not a prior's fields")
    return ForecastPrior.from_dict(data)
