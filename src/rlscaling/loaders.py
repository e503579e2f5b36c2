"""Read runs from files: CSV, JSONL, Parquet, TensorBoard, W&B chart CSVs and run directories.

:func:`load_run` returns one :class:`~rlscaling.runs.Run`, :func:`load_runs` all runs found in
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
- ``.jsonl``/``.ndjson``: one JSON object per line; ``.parquet``/``.pq``: Parquet (pyarrow).
"""

from __future__ import annotations

import bz2
import csv
import glob as _glob
import gzip
import io
import json
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

from rlscaling import rundir
from rlscaling.frames import (
    GROUP_NAMES,
    LoaderWarning,
    LoadOptions,
    frame_run,
    norm_name,
    warn,
)
from rlscaling.inputs import InputError, NanPolicy
from rlscaling.runs import Run

__all__ = ["LoadError", "LoaderWarning", "load_run", "load_runs"]

Format = Literal["csv", "jsonl", "parquet", "tensorboard", "wandb", "rundir"]
Duplicates = Literal["raise", "last", "mean"]
WANDB_COL = re.compile(r"^(?P<run>.+) - (?P<metric>.+?)(?P<agg>__MIN|__MAX)?$")
IO_EXTRA = 'pip install "rlscaling[io]"'
# Characters a number written to a CSV cannot end with: a last line ending in one of them
# (``9e18,0.``) was cut off mid-write.
NUMBER_CUT = (".", "e", "E", "+", "-")


class LoadError(InputError):
    """A file could not be read as a run; ``path`` names it and the message says what is wrong.

    A subclass of :class:`~rlscaling.InputError` (and so of ``ValueError``): code catching
    either keeps working.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:  # survives pickling (e.g. a process pool)
        return (type(self), (self.path, self.reason))


def load_run(
    path: str | os.PathLike[str],
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
    path : str or path-like
        A CSV/TSV, JSONL, Parquet or TensorBoard event file, a W&B chart CSV, a directory of
        TensorBoard event files, or a trainer run directory (``run.json`` + ``eval.jsonl``).
    compute, reward, step, tokens : str, optional
        Column names (TensorBoard: tag names; step is ``"step"``). Inferred when omitted: compute
        from ``compute``, ``flops``, ``gpu_hours``/``gpu-hours``, ``device_seconds``...; reward
        from ``reward``, ``val_reward``, ``accuracy``, ``acc``, ``pass_rate``, ``pass@1``,
        ``score``...; a name also matches the last part of ``eval/reward`` or ``eval.reward``,
        and among equal matches an eval/val/test one wins. If nothing fits, the error lists the
        columns found.
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
    format : {"csv", "jsonl", "parquet", "tensorboard", "wandb", "rundir"}, optional
        Overrides detection by file name and content.
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
        ``compute_unit``, ``conversion``, ``omitted`` (counts by reason), and for run
        directories ``recipe``, ``seed``, ``model``, ``task`` from ``run.json``.

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
    (TensorBoard tags, W&B chart columns): there a step at which the reward was not logged is
    not a point of the curve.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from rlscaling.loaders import load_run
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = path.write_text("global_step,eval/reward\\n200,0.31\\n100,0.25\\n")
    >>> run = load_run(path, compute_per_step=2e15, compute_unit="FLOPs")
    >>> run.compute.tolist(), run.reward.tolist()
    ([2e+17, 4e+17], [0.25, 0.31])
    >>> run.metadata["conversion"]
    'compute = global_step * 2e+15 (compute_per_step)'
    """
    opts = replace(_options(locals()), one=True)
    runs = _read_checked(Path(path), opts)
    if len(runs) != 1:
        names = [r.name for r in runs]
        raise InputError(
            f"path={str(path)!r} holds {len(runs)} runs: {names}. Pick one with run='<name>', "
            "or use load_runs() to get them all."
        )
    return _renamed(runs[0], name)


def load_runs(
    paths_or_glob: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
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
        run directories (``run.json``/``eval.jsonl``), then for TensorBoard event files.
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
    >>> from rlscaling.loaders import load_runs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for seed in (1, 2):
    ...     text = f"flops,reward\\n1e18,0.2\\n2e18,0.{seed + 2}\\n"
    ...     _ = (d / f"seed{seed}.csv").write_text(text)
    >>> [(r.name, r.final_reward) for r in load_runs(str(d / "*.csv"))]
    [('seed1', 0.3), ('seed2', 0.4)]
    """
    opts = _options(locals())
    paths = _expand(paths_or_glob)
    runs = [r for p in paths for r in _read_checked(p, opts)]
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


def _is_rundir(p: Path) -> bool:
    return (p / "run.json").is_file() or (p / "eval.jsonl").is_file()


def _event_files(p: Path) -> list[Path]:
    return sorted(f for f in p.rglob("*tfevents*") if f.is_file())


def _detect(p: Path) -> str:
    if p.is_dir():
        if _is_rundir(p):
            return "rundir"
        if _event_files(p):
            return "tensorboard"
        found = sorted(x.name for x in p.iterdir())[:20]
        raise InputError(
            f"path={str(p)!r} is a directory without run.json, eval.jsonl or TensorBoard event "
            f"files (it holds {found}); pass a file, a run directory or format=..."
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


def _read_text(p: Path) -> str:
    """The decompressed text of ``p``: UTF-8 (a BOM is dropped) or UTF-16 with a BOM."""
    name = p.name.lower()
    if name.endswith(".gz"):
        with gzip.open(p, "rb") as fh:
            raw = fh.read()
    elif name.endswith(".bz2"):
        raw = bz2.decompress(p.read_bytes())
    elif name.endswith(".xz"):
        raw = lzma.decompress(p.read_bytes())
    elif name.endswith(".zip"):
        with zipfile.ZipFile(p) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise LoadError(p, f"a zip file must hold exactly one table, found {members}")
            raw = zf.read(members[0])
    else:
        raw = p.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16, as spreadsheet programs save it
        return raw.decode("utf-16")
    if b"\x00" in raw[:4096]:
        raise LoadError(
            p,
            "is binary, not a text table (it holds NUL bytes); pass format='parquet' or "
            "format='tensorboard' if it is one of those, or export it as CSV",
        )
    return raw.decode("utf-8-sig")


def _split_torn_csv(text: str, sep: str) -> tuple[str, str | None]:
    """Split off a last CSV line that a cut-off write left incomplete: (rest, torn line or None).

    Only a last line without its newline can be torn. It counts as torn when it has fewer
    fields than the header, an empty field, or a field that stops where a number cannot end
    (``9e18,0.``): read as it stands it would be a wrong point, e.g. reward 0.
    """
    if not text or text.endswith(("\n", "\r")):
        return text, None
    head, _, last = text.rpartition("\n")
    if not head.strip() or not last.strip():
        return text, None
    header = next(csv.reader([head.splitlines()[0]], delimiter=sep), [])
    fields = next(csv.reader([last], delimiter=sep), [])
    torn = (
        len(fields) < len(header)
        or any(not f.strip() for f in fields)
        or any(f.strip().endswith(NUMBER_CUT) for f in fields)
    )
    return (head + "\n", last) if torn else (text, None)


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
    elif fmt == "jsonl":
        records, torn = _read_jsonl(p)
        runs = _table_runs(_records_frame(records, p), p, "jsonl", opts, torn=torn)
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


def _choose(names: list[str], opts: LoadOptions, p: Path) -> list[str]:
    """Which of the runs a source holds to read: those named by run=, checked before reading."""
    if opts.run is not None:
        wanted = [opts.run] if isinstance(opts.run, str) else list(opts.run)
        kept = [n for n in names if n in wanted]
        if not kept and opts.one:
            raise InputError(f"run={opts.run!r} is not among the runs in {str(p)!r}: {names}")
        return kept
    if opts.one and len(names) > 1:
        raise InputError(
            f"path={str(p)!r} holds {len(names)} runs: {names}. Pick one with run='<name>', "
            "or use load_runs() to get them all."
        )
    return names


def _read_jsonl(p: Path) -> tuple[list[dict[str, Any]], int]:
    """Records of a JSONL file; a last line that does not parse is torn: skipped and counted."""
    lines = [(i, ln) for i, ln in enumerate(_read_text(p).splitlines(), 1)]
    lines = [(i, ln) for i, ln in lines if ln.strip()]
    records: list[dict[str, Any]] = []
    torn = 0
    for k, (i, line) in enumerate(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if k == len(lines) - 1:
                torn = 1
                warn(
                    f"{p}: the last line ({i}) is incomplete (a write was cut off) and was "
                    "skipped; it is counted in metadata['omitted']['torn_last_line']"
                )
                break
            raise InputError(
                f"{p}: line {i} is not valid JSON ({exc.msg}); only a torn last line is "
                "skipped. Fix or remove the line."
            ) from None
        if not isinstance(rec, dict):
            raise InputError(f"{p}: line {i} is a JSON {type(rec).__name__}, not an object")
        records.append(rec)
    return records, torn


def _records_frame(records: list[dict[str, Any]], p: Path) -> pd.DataFrame:
    if not records:
        raise InputError(f"{p} holds no complete records")
    return pd.json_normalize(records)


def _read_parquet(p: Path) -> pd.DataFrame:
    try:
        import pyarrow
    except ImportError:
        raise ImportError(f"reading Parquet needs pyarrow: {IO_EXTRA}") from None
    try:
        return pd.read_parquet(p)
    except pyarrow.ArrowException as exc:
        raise LoadError(
            p, f"is not a readable Parquet file ({exc}); it may be truncated or another format"
        ) from None


def _read_rundir(d: Path, opts: LoadOptions, name: str | None = None) -> Run:
    meta_path, eval_path = d / rundir.RUN_FILE, d / rundir.EVAL_FILE
    info: dict[str, Any] = {}
    if meta_path.is_file():
        try:
            info = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise LoadError(meta_path, f"is not valid JSON: {exc}") from None
        if not isinstance(info, dict):
            raise LoadError(
                meta_path,
                f"must hold a JSON object (name, config, compute_unit, ...), got a JSON "
                f"{type(info).__name__}; fix or remove the file (eval.jsonl holds the points)",
            )
    if not eval_path.is_file():
        raise InputError(f"{d} has no eval.jsonl: the run has not been evaluated yet")
    try:  # the trainer's own reader: the writer and this loader share one contract
        note = "; it is counted in metadata['omitted']['torn_last_line']"
        records, torn = rundir.read_jsonl(eval_path, on_torn=lambda msg: warn(msg + note))
    except rundir.LogLineError as exc:
        raise InputError(str(exc)) from None
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    meta: dict[str, Any] = {}
    for key in ("recipe", "seed", "model", "task"):
        if key in info or key in config:
            meta[key] = info.get(key, config.get(key))
    if "recipe" in meta:
        meta["preset"] = meta["recipe"]
    # A sweep's labels (its recipe name, e.g. an ablation of a preset) win over the preset.
    tags = info.get("tags") or config.get("tags") or {}
    if isinstance(tags, dict):
        meta.update(tags)
    unit = info.get("compute_unit", "FLOPs")
    df = _records_frame(records, eval_path)
    # A multi-task run's per-task curve (reward="reward_<task>") is evaluated on that task's
    # prompts: its eval size is n_prompts_<task> x n_samples, not the whole split's.
    tasks = info.get("tasks") if isinstance(info.get("tasks"), list) else []
    if tasks:
        meta["tasks"] = list(tasks)
    if isinstance(opts.reward, str) and opts.reward.startswith(rundir.TASK_REWARD_PREFIX):
        label = opts.reward[len(rundir.TASK_REWARD_PREFIX) :]
        if opts.reward not in df.columns:
            known = [rundir.task_reward_key(t) for t in tasks] or "none (a single-task run)"
            raise InputError(
                f"reward={opts.reward!r} is not a curve of {d}; its per-task curves: {known}"
            )
        prompts_col = rundir.task_prompts_key(label)
        if prompts_col in df.columns and opts.eval_size is None:
            df = df.assign(n_prompts=df[prompts_col])
        meta["task_curve"] = label
    name = name or _rundir_name(d, info)
    return frame_run(
        df, opts, name=name, source=d, fmt="rundir", meta=meta, torn=torn, default_unit=unit
    )


def _rundir_name(d: Path, info: dict[str, Any] | None = None) -> str:
    if info is None:
        try:
            info = json.loads((d / "run.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            info = {}
    if not isinstance(info, dict):
        info = {}  # reading the run says what is wrong with run.json; a name is only a label
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    return str(info.get("name") or info.get("run_name") or config.get("run_name") or d.name)


def _looks_wandb(cols: list[str]) -> bool:
    series = [c for c in cols if " - " in c]
    if not series:
        return False
    if any(c.endswith(("__MIN", "__MAX")) for c in series):
        return True
    return cols[0] in ("Step", "_step") and len(series) == len(cols) - 1


def _read_wandb(raw: pd.DataFrame, p: Path, opts: LoadOptions, torn: int = 0) -> list[Run]:
    axis = [c for c in raw.columns if " - " not in c]
    series: dict[str, dict[str, str]] = {}
    for col in raw.columns:
        m = WANDB_COL.match(col) if " - " in col else None
        if m and not m["agg"]:  # __MIN/__MAX are the range within a sampled bucket
            series.setdefault(m["run"], {})[m["metric"]] = col
    runs = []
    for run_name in _choose(list(series), opts, p):
        metrics = series[run_name]
        df = raw[axis + list(metrics.values())].rename(columns={v: k for k, v in metrics.items()})
        present = df != ""
        meta = {"wandb_run": run_name}
        df = df.replace("", np.nan)
        runs.append(
            frame_run(
                df,
                opts,
                name=run_name,
                source=p,
                fmt="wandb",
                meta=meta,
                present=present,
                torn=torn,
            )
        )
    return runs


def _import_tbparse() -> Any:
    try:
        from tbparse import SummaryReader
    except ImportError:
        return None
    return SummaryReader


def _import_event_accumulator() -> Any:
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        return None
    return event_accumulator


def _tb_scalars(files: list[Path]) -> pd.DataFrame:
    """Long frame (step, tag, value) of all scalars in ``files``, in file order."""
    reader = _import_tbparse()
    frames = []
    if reader is not None:
        for f in files:
            with warnings.catch_warnings():  # the reader's own pandas deprecations
                warnings.filterwarnings("ignore", module="tbparse")
                scalars = reader(str(f)).scalars
            if not scalars.empty:
                frames.append(scalars[["step", "tag", "value"]])
    else:
        ea_mod = _import_event_accumulator()
        if ea_mod is None:
            raise ImportError(
                f"reading TensorBoard event files needs tbparse or tensorboard: {IO_EXTRA}"
            )
        for f in files:
            ea = ea_mod.EventAccumulator(str(f), size_guidance={"scalars": 0, "tensors": 0})
            ea.Reload()
            rows = [(e.step, t, e.value) for t in ea.Tags()["scalars"] for e in ea.Scalars(t)]
            for t in ea.Tags().get("tensors", []):
                for e in ea.Tensors(t):
                    arr = np.asarray(_tensor_value(e.tensor_proto))
                    if arr.size == 1 and arr.dtype.kind in "fiu":
                        rows.append((e.step, t, float(arr.reshape(-1)[0])))
            frames.append(pd.DataFrame(rows, columns=["step", "tag", "value"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _tensor_value(proto: Any) -> Any:
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(proto)


def _tb_order(f: Path) -> tuple[int, str]:
    parts = f.name.split(".")
    i = parts.index("tfevents") if "tfevents" in parts else -1
    stamp = parts[i + 1] if 0 <= i < len(parts) - 1 else ""
    return (int(stamp) if stamp.isdigit() else 0, f.name)


def _read_tensorboard(p: Path, opts: LoadOptions) -> list[Run]:
    files = [p] if p.is_file() else _event_files(p)
    root = p.parent if p.is_file() else p
    groups: dict[Path, list[Path]] = {}
    for f in files:
        groups.setdefault(f.parent, []).append(f)
    names = {}
    for d in groups:
        rel = d.relative_to(root).as_posix()
        names[root.name if rel == "." else rel] = d
    runs = []
    for name in _choose(list(names), opts, p):
        d = names[name]
        long = _tb_scalars(sorted(groups[d], key=_tb_order))
        if long.empty:
            raise InputError(f"{d} has TensorBoard event files but no scalars")
        long["occurrence"] = long.groupby(["tag", "step"]).cumcount()
        wide = long.pivot(index=["step", "occurrence"], columns="tag", values="value")
        present = long.assign(v=True).pivot(index=["step", "occurrence"], columns="tag", values="v")
        wide = wide.reset_index().drop(columns="occurrence")
        present = present.notna().reset_index(drop=True)
        runs.append(frame_run(wide, opts, name=name, source=d, fmt="tensorboard", present=present))
    return runs


def _table_runs(df: pd.DataFrame, p: Path, fmt: str, opts: LoadOptions, torn: int = 0) -> list[Run]:
    if df.empty:
        raise InputError(f"{p} has no rows (columns found: {list(map(str, df.columns))})")
    group = opts.group
    if group is not None and group not in df.columns:
        raise InputError(
            f"group={group!r} is not a column of {p}; columns found: {list(map(str, df.columns))}"
        )
    if group is None:
        group = next((c for c in df.columns if norm_name(c) in GROUP_NAMES), None)
    if group is None:
        if not _choose([_stem(p)], opts, p):
            return []
        return [frame_run(df, opts, name=_stem(p), source=p, fmt=fmt, torn=torn)]
    parts = {str(k): g.drop(columns=group) for k, g in df.groupby(group, sort=False, dropna=False)}
    return [
        frame_run(
            parts[k], opts, name=k, source=p, fmt=fmt, torn=torn, meta={"group": f"{group}={k}"}
        )
        for k in _choose(list(parts), opts, p)
    ]


def _stem(p: Path) -> str:
    name = p.name
    for s in reversed(p.suffixes):
        name = name.removesuffix(s)
    return name or p.name
