"""Read runs from files: CSV, JSONL, Parquet, TensorBoard, W&B chart CSVs, Hugging Face
Trainer states and run directories.

:func:`load_run` returns one :class:`~rlscaling.io.runs.Run`, :func:`load_runs` all runs found in
files, directories or a glob. Columns are given or inferred from common names; a log that has
steps or tokens but no compute is converted by a documented rule (``compute_per_step=`` or
``flops_per_token=``), and the conversion is recorded in ``run.metadata``. Points come back
sorted by compute. Nothing is dropped silently: every omitted point is counted in
``run.metadata["omitted"]``, and a torn last line of a JSONL log is skipped with a warning.

Formats are chosen by name and content (``format=`` overrides):

- a directory with ``run.json`` or ``eval.jsonl``: the trainer's run directory;
- a directory with ``*tfevents*`` files, or such a file: TensorBoard (one run per directory);
- ``.csv``/``.tsv`` (optionally ``.gz``): CSV, or the CSV that Weights & Biases exports from a
  chart (columns ``Step``, ``<run> - <metric>``, ``<run> - <metric>__MIN``/``__MAX``);
- ``.jsonl``/``.ndjson``: one JSON object per line; ``.parquet``/``.pq``: Parquet (pyarrow);
- ``trainer_state.json`` (or a ``.json`` with a ``log_history``), or a directory holding one
  or ``checkpoint-<step>/trainer_state.json`` (the latest is read): a Hugging Face ``Trainer``'s
  log, as TRL's GRPO and PPO trainers write it; the evaluation reward is preferred.
"""

from __future__ import annotations

import glob as _glob
import gzip
import io
import lzma
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from rlscaling.io.errors import InputError, LoadError
from rlscaling.io.frames import (
    LoaderWarning,
    LoadOptions,
    frame_run,
    norm_name,
    once_per_table,
    warn,
)
from rlscaling.io.inputs import RUN_COLUMNS, NanPolicy, resolve_xy
from rlscaling.io.readers.base import FRAME_SOURCE, _choose, _stem, source_words
from rlscaling.io.readers.jsonl import _read_jsonl_frame
from rlscaling.io.readers.parquet import _read_parquet
from rlscaling.io.readers.run_directory import _is_rundir, _read_rundir, _rundir_name
from rlscaling.io.readers.tensorboard import _event_files, _read_tensorboard
from rlscaling.io.readers.text import _read_text, _split_torn_csv
from rlscaling.io.readers.trainer_state import _read_trainer_state, looks_like_trainer_state
from rlscaling.io.readers.wandb import _looks_wandb, _read_wandb
from rlscaling.io.runs import Run

__all__ = ["LoadError", "LoaderWarning", "load_run", "load_runs"]

Format = Literal["csv", "jsonl", "parquet", "tensorboard", "wandb", "rundir", "trainer_state"]
Duplicates = Literal["raise", "last", "mean"]


def load_run(
    path: str | os.PathLike[str] | pd.DataFrame,
    *,
    compute: str | None = None,
    reward: str | None = None,
    step: str | None = None,
    tokens: str | None = None,
    eval_size: str | float | None = None,
    compute_per_step: float | None = None,
    flops_per_token: float | None = None,
    compute_unit: str | None = None,
    name: str | None = None,
    run: str | None = None,
    group: str | None = None,
    format: Format | None = None,
    nan_policy: NanPolicy = "raise",
    duplicates: Duplicates | None = None,
) -> Run:
    """Load one run from a file or directory.

    Parameters
    ----------
    path : str, path-like or pandas.DataFrame
        A CSV/TSV, JSONL, Parquet or TensorBoard event file, a W&B chart CSV, a directory of
        TensorBoard event files, or a trainer run directory (``run.json`` + ``eval.jsonl``);
        or a table already in memory (an eval log read with pandas), read as a CSV is.
    compute, reward, step, tokens : str, optional
        Column names (TensorBoard: tag names; step is ``"step"``). Inferred when omitted: compute
        from ``compute``, ``flops``, ``gpu_hours``/``gpu-hours``, ``device_seconds``...; reward
        from ``reward``, ``val_reward``, ``accuracy``, ``acc``, ``pass_rate``, ``pass@1``,
        ``score``...; a name also matches the last part of ``eval/reward`` or ``eval.reward``.
        A held-out column (``eval/``, ``val/``, ``test/``, ``eval_``... in its name) is taken
        over a training batch's reward whatever their names (``eval/accuracy`` over
        ``train/reward``), with a warning naming both; among held-out columns, one of those
        names first, then the one metric path with a reward, score, accuracy or pass rate in
        it (verl's ``val-core/<source>/reward/mean@1``), with a warning. The column used is
        ``metadata["columns"]["reward"]``. If nothing fits, the error lists the columns found;
        several equally good candidates are refused with the list.
    eval_size : str or float, optional
        Column of evaluation sizes (prompts x samples), or one size for all points. Inferred from
        ``eval_size``/``n_eval``, or ``n_prompts * n_samples`` when both columns exist.
    compute_per_step : float, optional
        Converts steps to compute: ``compute = step * compute_per_step`` (use when every step
        costs the same).
    flops_per_token : float, optional
        Converts a cumulative token count to FLOPs: ``compute = tokens * flops_per_token``
        (e.g. ``6 * n_params`` for training).
    compute_unit : str, optional
        Unit recorded in ``metadata["compute_unit"]``; otherwise taken from ``run.json``, from
        the conversion (``"FLOPs"`` for ``flops_per_token``) or from the column name.
    name : str, optional
        Label of the run; defaults to the W&B run name, the group value, ``run.json``'s
        ``name``/``run_name`` or the file or directory name.
    run : str, optional
        Which run to take when the source holds several (a W&B CSV with several runs, a
        TensorBoard root with one directory per run, a CSV with a run column).
    group : str, optional
        Column that splits a long table into runs; inferred from ``run``, ``run_name``,
        ``run_id`` or ``curve``.
    format : str, optional
        One of "csv", "jsonl", "parquet", "tensorboard", "wandb", "rundir", "trainer_state";
        overrides detection by file name and content.
    nan_policy : {"raise", "omit"}
        What to do with rows whose compute, reward or eval size is missing, NaN or inf:
        raise, or drop them and count them in ``metadata["omitted"]["nan_or_inf"]``.
    duplicates : {"raise", "last", "mean"}, optional
        Rows with the same compute but different values (e.g. a resumed run that logged a step
        twice): raise, keep the one logged last, or average the rewards (summing eval sizes).
        Defaults to ``"raise"`` under ``nan_policy="raise"`` and ``"last"`` under ``"omit"``.
        Identical repeated rows are always collapsed, counted and warned about.

    Returns
    -------
    Run
        Sorted by compute. ``metadata`` holds ``source``, ``format``, ``columns``,
        ``compute_unit``, ``conversion``, ``n_rows``, ``omitted`` (counts by reason), and for
        run directories ``recipe``, ``seed``, ``model``, ``task`` from ``run.json``. A table's
        column that holds one value on every row of the run (a ``recipe``, a ``seed``), other
        than those the points were read from, is kept under its name (the keys above win
        over a column of the same name): ``compare`` and ``backtest`` group runs by
        ``metadata["recipe"]``.

    Raises
    ------
    LoadError
        The file cannot be read as a table (binary, not UTF-8/UTF-16, empty, rows of unequal
        length, a truncated compressed file, a ``run.json`` that is not a JSON object); the
        error's ``path`` names the file. A subclass of :class:`~rlscaling.InputError`.
    InputError
        The table holds no usable run (columns not found, NaN under ``nan_policy="raise"``,
        clashing duplicates); the message names the file and the fix.

    Notes
    -----
    Without a compute column and without a conversion, a token column and then a step column is
    used as compute, with ``compute_unit`` ``"tokens"`` or ``"steps"`` and a
    :class:`LoaderWarning`. The fitted ``A`` and ``B`` do not depend on the unit of compute,
    but only while compute is proportional to what is used: RL steps grow more expensive as
    responses lengthen, so a step axis can bend the curve, and ``C_mid`` is then in steps. Naming
    the column yourself (``compute="step"``) uses it without a warning.

    A row whose reward is missing counts as NaN, except in sources holding several series
    (TensorBoard tags, W&B chart columns, a Trainer's log entries): there a step at which the
    reward was not logged is not a point of the curve. In a W&B chart export such a row is
    still a row of the file, counted in ``omitted["not_logged"]``.

    A warning that would be the same for every run of a file or table (a step column taken
    as compute) is issued once for it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from rlscaling.io.loaders import load_run
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = path.write_text("global_step,eval/reward\\n200,0.31\\n100,0.25\\n")
    >>> run = load_run(path, compute_per_step=2e15, compute_unit="FLOPs")
    >>> run.compute.tolist(), run.reward.tolist()
    ([2e+17, 4e+17], [0.25, 0.31])
    >>> run.metadata["conversion"]
    'compute = global_step * 2e+15 (compute_per_step)'
    """
    opts = replace(_options(locals()), one=True)
    if isinstance(path, pd.DataFrame):
        runs, where = _frame_runs(path, opts), FRAME_SOURCE
    else:
        runs, where = _read_checked(Path(path), opts), Path(path)
    if len(runs) != 1:
        names = [r.name for r in runs]
        raise InputError(
            f"{source_words(where)} holds {len(runs)} runs: {names}. Pick one with run='<name>', "
            "or use load_runs() to get them all."
        )
    return _renamed(runs[0], name)


def load_runs(
    paths_or_glob: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pd.DataFrame,
    *,
    compute: str | None = None,
    reward: str | None = None,
    step: str | None = None,
    tokens: str | None = None,
    eval_size: str | float | None = None,
    compute_per_step: float | None = None,
    flops_per_token: float | None = None,
    compute_unit: str | None = None,
    name: str | None = None,
    run: str | Sequence[str] | None = None,
    group: str | None = None,
    format: Format | None = None,
    nan_policy: NanPolicy = "raise",
    duplicates: Duplicates | None = None,
) -> list[Run]:
    """Load every run in files, directories or a glob pattern.

    Parameters
    ----------
    paths_or_glob : str, path-like or sequence of them
        Files or directories, or glob patterns (``"runs/*/"``, ``"logs/**/*.csv"``). A
        directory that is not itself a run directory or a TensorBoard log is searched for
        run directories (``run.json``/``eval.jsonl``), then for TensorBoard event files. Or
        a DataFrame, whose run column (``run``, ``run_name``, ``run_id``, ``curve`` or
        ``group=``) splits it into runs.
    run : str or sequence of str, optional
        Keep only runs with these names.
    name : str, optional
        Label, allowed only when exactly one run is found.
    **others
        As in :func:`load_run`.

    Returns
    -------
    list of Run
        In the order of the paths (glob matches sorted), runs within a file in file order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from rlscaling.io.loaders import load_runs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for seed in (1, 2):
    ...     text = f"flops,reward\\n1e18,0.2\\n2e18,0.{seed + 2}\\n"
    ...     _ = (d / f"seed{seed}.csv").write_text(text)
    >>> [(r.name, r.final_reward) for r in load_runs(str(d / "*.csv"))]
    [('seed1', 0.3), ('seed2', 0.4)]
    """
    opts = _options(locals())
    if isinstance(paths_or_glob, pd.DataFrame):
        runs = _frame_runs(paths_or_glob, opts)
        paths_or_glob = FRAME_SOURCE
    else:
        runs = [r for p in _expand(paths_or_glob) for r in _read_checked(p, opts)]
    if not runs:
        which = "" if run is None else f" named {run!r}"
        raise InputError(f"no runs{which} found in {paths_or_glob!r}")
    if name is not None:
        if len(runs) != 1:
            raise InputError(
                f"name={name!r} labels one run, but {len(runs)} were found: "
                f"{[r.name for r in runs]}; drop name= or select one with run='<name>'"
            )
        runs = [_renamed(runs[0], name)]
    return runs


# ---------------------------------------------------------------------------- sources


def _options(args: dict[str, Any]) -> LoadOptions:
    keys = LoadOptions.__dataclass_fields__
    kw = {k: v for k, v in args.items() if k in keys}
    if kw.get("duplicates") is None:
        kw["duplicates"] = "last" if args.get("nan_policy") == "omit" else "raise"
    opts = LoadOptions(**kw)
    opts.check()
    return opts


def _renamed(run: Run, name: str | None) -> Run:
    if name is None:
        return run
    return Run(run.compute, run.reward, run.eval_size, name=str(name), metadata=run.metadata)


def _expand(spec: Any) -> list[Path]:
    items = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    out: list[Path] = []
    for item in items:
        text = os.fspath(item)
        if isinstance(item, str) and any(ch in text for ch in "*?[") and not Path(text).exists():
            matches = sorted(_glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"no files match the pattern {text!r}")
            out.extend(Path(m) for m in matches)
        else:
            out.append(Path(text))
    return out


def _detect(p: Path) -> str:
    if p.is_dir():
        if _is_rundir(p):
            return "rundir"
        if _event_files(p):
            return "tensorboard"
        if looks_like_trainer_state(p):
            return "trainer_state"
        found = sorted(x.name for x in p.iterdir())[:20]
        raise InputError(
            f"path={str(p)!r} is a directory without run.json, eval.jsonl, TensorBoard event "
            f"files or a trainer_state.json (it holds {found}); pass a file, a run directory or "
            "format=..."
        )
    if "tfevents" in p.name:
        return "tensorboard"
    if p.name == "eval.jsonl" and (p.parent / "run.json").is_file():
        return "rundir"
    suffixes = [s.lower() for s in p.suffixes if s.lower() not in (".gz", ".bz2", ".zip", ".xz")]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext == ".json" and looks_like_trainer_state(p):
        return "trainer_state"
    if ext in (".csv", ".tsv", ".txt"):
        return "csv"
    with open(p, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    return "jsonl" if head.lstrip()[:1] == b"{" else "csv"


def _read_checked(p: Path, opts: LoadOptions) -> list[Run]:
    """:func:`_read_source`, with the errors of the parsers it uses turned into a
    :class:`LoadError` that names the file and what is wrong with it."""
    try:
        with once_per_table():
            return _read_source(p, opts)
    except InputError as exc:
        if str(p) in str(exc):
            raise
        raise LoadError(p, str(exc)) from None
    except UnicodeDecodeError as exc:
        raise LoadError(
            p,
            f"is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at offset "
            f"{exc.start}): it looks binary or uses another encoding. Save it as UTF-8 "
            "(UTF-16 with a byte-order mark is read too), or pass format= if it is Parquet or "
            "a TensorBoard file.",
        ) from None
    except pd.errors.EmptyDataError:
        raise LoadError(
            p, "is empty: a CSV needs a header line (e.g. 'compute,reward') and one row per point"
        ) from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise LoadError(
            p,
            f"is not a well-formed table ({detail}); every row needs as many fields as the "
            "header. Fix the rows named, or quote fields that contain the separator.",
        ) from None
    except (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise LoadError(
            p,
            f"is a truncated or corrupt compressed file ({type(exc).__name__}: {exc}); copy it "
            "again or decompress it to see how much is intact",
        ) from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise LoadError(p, f"cannot be opened ({exc.strerror or exc})") from None
        raise LoadError(p, f"cannot be read ({type(exc).__name__}: {exc})") from None


def _read_source(p: Path, opts: LoadOptions) -> list[Run]:
    if not p.exists():
        raise InputError(f"path={str(p)!r} does not exist")
    if p.is_dir() and opts.format is None and not _is_rundir(p):
        subdirs = sorted({f.parent for f in p.rglob("*") if f.name in ("run.json", "eval.jsonl")})
        if subdirs:
            named = {_rundir_name(d): d for d in subdirs}
            if len(named) < len(subdirs):  # repeated names: tell the runs apart by their paths
                named = {d.relative_to(p).as_posix(): d for d in subdirs}
            return [_read_rundir(named[n], opts, n) for n in _choose(list(named), opts, p)]
    fmt = opts.format or _detect(p)
    if fmt == "rundir":
        d = p if p.is_dir() else p.parent
        runs = [_read_rundir(d, opts)] if _choose([_rundir_name(d)], opts, p) else []
    elif fmt == "tensorboard":
        runs = _read_tensorboard(p, opts)
    elif fmt == "trainer_state":
        runs = _read_trainer_state(p, opts)
    elif fmt == "jsonl":
        frame, torn = _read_jsonl_frame(p)
        runs = _table_runs(frame, p, "jsonl", opts, torn=torn)
    elif fmt == "parquet":
        runs = _table_runs(_read_parquet(p), p, "parquet", opts)
    else:
        sep = "\t" if ".tsv" in [s.lower() for s in p.suffixes] else ","
        text, torn_line = _split_torn_csv(_read_text(p), sep)
        torn = int(torn_line is not None)
        if torn:
            warn(
                f"{p}: the last line ({torn_line!r}) is incomplete (a write was cut off) and "
                "was skipped; it is counted in metadata['omitted']['torn_last_line']"
            )
        header = list(pd.read_csv(io.StringIO(text), sep=sep, nrows=0).columns)
        if fmt == "wandb" or _looks_wandb(header):
            # blank cells are steps a run did not log; "NaN" is a logged NaN
            raw = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
            runs = _read_wandb(raw, p, opts, torn=torn)
        else:
            runs = _table_runs(pd.read_csv(io.StringIO(text), sep=sep), p, "csv", opts, torn=torn)
    return runs


def resolve_columns(
    data: Any, reward: Any = None, compute: str | None = None, nan_policy: NanPolicy = "raise"
) -> tuple[Any, Any, Any, str | None, dict[str, int]]:
    """:func:`rlscaling.io.inputs.resolve_xy`, except that a DataFrame column left unnamed
    whose default name (``"compute"``, ``"reward"``) is absent is found as :func:`load_run`
    finds a file's (an eval log read with pandas: ``global_step``, ``eval/accuracy``), with
    the loader's warning when a step column stands in for compute. The last item counts the
    rows that reading left out (``nan_policy="omit"``: rows of a log that records the reward
    only every few steps); arrays are returned as given, for the caller's checks to count."""
    if isinstance(data, pd.DataFrame) and (reward is None or isinstance(reward, str)):
        cols = set(map(str, data.columns))
        if (compute is None and "compute" not in cols) or (reward is None and "reward" not in cols):
            failed: InputError | None = None
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", LoaderWarning)
                try:
                    run = load_run(data, compute=compute, reward=reward, nan_policy=nan_policy)
                except InputError as exc:
                    runs_in = [str(c) for c in data.columns if norm_name(c) in RUN_COLUMNS]
                    failed = InputError(_with_load_run_advice(str(exc), next(iter(runs_in), None)))
            # said also before a refusal: which column was taken for the reward explains it
            for w in caught:
                if issubclass(w.category, LoaderWarning):
                    warn(_with_load_run_advice(str(w.message)))
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if failed is not None:
                raise failed
            name = None if run.name == "run" else run.name
            left_out = dict(run.metadata.get("omitted", {}))
            return run.compute, run.reward, run.eval_size, name, left_out
    return (*resolve_xy(data, reward, compute), {})


def runs_of_table(
    df: pd.DataFrame,
    group_by: str | None = None,
    nan_policy: NanPolicy = "raise",
    name: str | None = None,
) -> list[Run]:
    """The runs of a table, read as a file of runs is (a ``run`` column names each); a run
    that no column names takes ``name``. With a ``group_by`` column (a recipe), each run's
    ``metadata[group_by]`` is that column's value, and an unnamed run takes it as its name."""
    if group_by is None or group_by not in df.columns:
        return _unnamed_as(load_runs(df, nan_policy=nan_policy), name)
    runs = []
    with once_per_table():  # one table read recipe by recipe: its warnings said once
        for recipe, part in df.groupby(group_by, sort=False):
            part_runs = load_runs(part.drop(columns=group_by), nan_policy=nan_policy)
            for r in _unnamed_as(part_runs, recipe):
                runs.append(replace(r, metadata={**r.metadata, group_by: str(recipe)}))
    return runs


def _unnamed_as(runs: list[Run], name: Any) -> list[Run]:
    """``runs`` with those that no column named (``"run"``) called ``name`` (None: as they are)."""
    if name is None:
        return runs
    return [_renamed(r, str(name)) if r.name == "run" else r for r in runs]


def as_runs(runs: Any, empty: str, group_by: str | None = "recipe") -> list[Run]:
    """``runs`` as a list of Runs: a Run, a sequence of Runs, or a DataFrame of runs (read by
    :func:`runs_of_table`, its ``group_by`` column naming each run's recipe). ``empty`` says
    what to give when there are none."""
    if isinstance(runs, pd.DataFrame):
        runs = runs_of_table(runs, group_by)
    elif isinstance(runs, Run):
        runs = [runs]
    elif isinstance(runs, str | Path):
        raise InputError(f"runs={str(runs)!r} is a path: read it first, runs = load_runs(path)")
    else:
        try:
            runs = list(runs)
        except TypeError:
            raise InputError(
                f"runs must be Runs or a DataFrame of runs (see load_runs), got "
                f"{type(runs).__name__}"
            ) from None
    if not runs:
        raise InputError(f"runs is empty: {empty}")
    for r in runs:
        if not isinstance(r, Run):
            raise InputError(
                "runs must be Runs or a DataFrame of runs (see load_runs), got an item of type "
                f"{type(r).__name__}"
            )
    return runs


# Options a loader's message may advise that only the loaders take.
LOAD_ONLY_OPTIONS = (
    "step=", "compute_per_step=", "tokens=", "flops_per_token=", "duplicates=", "run=",
)  # fmt: skip


def _with_load_run_advice(message: str, run_column: str | None = None) -> str:
    """A loader's message, met while a fitting function reads a DataFrame, with where the
    options it advises go (they are :func:`load_run`'s, not the fitting function's);
    ``run_column`` is the table's column naming its runs, for the pandas way to pick one."""
    named = [o.rstrip("=") for o in LOAD_ONLY_OPTIONS if re.search(rf"(?<![\w]){o}", message)]
    if not named:
        return message
    if "run" in named:  # a table of several runs: one of them is what a curve is fitted to
        options = ", ".join(f"{o}=" for o in named)
        are = "is an option" if len(named) == 1 else "are options"
        rows = f"df[df[{run_column!r}] == '<name>']" if run_column else "its rows"
        return (
            f"{message} ({options} {are} of load_run, not of this function: read one run with "
            f"run = rlscaling.load_run(df, run='<name>'), or pick its rows in pandas, {rows}, "
            "and pass that.)"
        )
    return (
        f"{message} ({', '.join(named)}: options of load_run; read the table with "
        "run = rlscaling.load_run(df, ...) and pass run.)"
    )


def _frame_runs(df: pd.DataFrame, opts: LoadOptions) -> list[Run]:
    """The runs of a table in memory, read as a CSV file's would be; a run that no column
    names is called ``"run"``."""
    with once_per_table():
        runs = _table_runs(df.copy(), FRAME_SOURCE, "frame", opts)
    return [_renamed(r, "run") if r.name == FRAME_SOURCE.name else r for r in runs]


def _table_runs(df: pd.DataFrame, p: Path, fmt: str, opts: LoadOptions, torn: int = 0) -> list[Run]:
    if df.empty:
        raise InputError(f"{p} has no rows (columns found: {list(map(str, df.columns))})")
    group = opts.group
    if group is not None and group not in df.columns:
        raise InputError(
            f"group={group!r} is not a column of {p}; columns found: {list(map(str, df.columns))}"
        )
    if group is None:
        group = next((c for c in df.columns if norm_name(c) in RUN_COLUMNS), None)
    if group is None:
        if not _choose([_stem(p)], opts, p):
            return []
        run = frame_run(df, opts, name=_stem(p), source=p, fmt=fmt, torn=torn)
        return [_with_attributes(run, _run_attributes(df, run))]
    parts = {str(k): g.drop(columns=group) for k, g in df.groupby(group, sort=False, dropna=False)}
    runs, attributes = [], []
    for k in _choose(list(parts), opts, p):
        meta = {"group": f"{group}={k}"}
        runs.append(frame_run(parts[k], opts, name=k, source=p, fmt=fmt, torn=torn, meta=meta))
        attributes.append(_run_attributes(parts[k], runs[-1]))
    _warn_uneven_labels(runs, attributes, parts, p)
    return [_with_attributes(r, a) for r, a in zip(runs, attributes, strict=True)]


def _run_attributes(df: pd.DataFrame, run: Run) -> dict[str, Any]:
    """The columns of a run's rows that hold one value on every row (its recipe, seed,
    model, learning rate), other than those its points were read from: what the run is, kept
    in its metadata under the column's name, as a run directory's ``run.json`` is (this is
    how ``compare`` and ``backtest`` find a table's recipes in its runs)."""
    columns = run.metadata["columns"]
    used = {v for v in columns.values() if v}
    if columns.get("eval_size") == "n_prompts * n_samples":
        used |= {"n_prompts", "n_samples"}
    out: dict[str, Any] = {}
    for col in df.columns:
        if str(col) in used:
            continue
        value = _one_value(df[col])
        if value is not None:
            out[str(col)] = value
    return out


def _one_value(s: pd.Series) -> Any:
    """The value every cell of ``s`` holds (as a plain Python value), or None: cells differ,
    one is missing, or they hold lists or records."""
    if s.empty:
        return None
    first = s.iloc[0]
    if not pd.api.types.is_scalar(first) or pd.isna(first):
        return None
    try:  # the last cell first: a column that changes usually differs there
        if not (s.iloc[-1] == first and bool((s == first).all())):
            return None
    except (TypeError, ValueError):  # cells that do not compare with the first
        return None
    value = first.item() if isinstance(first, np.generic) else first
    return value if isinstance(value, str | bool | int | float) else str(value)


def _with_attributes(run: Run, attributes: dict[str, Any]) -> Run:
    """``run`` with ``attributes`` added to its metadata; the loader's own keys (``source``,
    ``columns``, ...) win over a column of the same name."""
    extra = {k: v for k, v in attributes.items() if k not in run.metadata}
    return replace(run, metadata={**run.metadata, **extra}) if extra else run


def _warn_uneven_labels(
    runs: list[Run], attributes: list[dict[str, Any]], parts: dict[str, pd.DataFrame], p: Path
) -> None:
    """Warn about a text column (a recipe) with one value in most runs and several (or a blank)
    in the others: it reaches only the former's metadata, and grouping by it would fail."""
    recorded = {k for a in attributes for k in a}
    for key in sorted(recorded):
        if not all(isinstance(a.get(key, ""), str) for a in attributes):
            continue  # a number constant in some runs (a loss at 0) is not a label
        uneven = [r.name for r, a in zip(runs, attributes, strict=True) if key not in a]
        uneven = [n for n in uneven if key in parts[n].columns]
        # a label is one value in most runs; a text column that is constant only in a few
        # short runs (a timestamp in a one-row run) is not one
        if uneven and 2 * len(uneven) < len(runs):
            warn(
                f"{p}: column {key!r} holds one value on every row of some runs but several "
                f"values or a blank in {uneven}; it is kept in metadata[{key!r}] of the "
                "others only. Fix those rows to group the runs by it."
            )
