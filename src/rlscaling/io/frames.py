"""From a table of logged values to a :class:`~rlscaling.io.runs.Run`.

Shared by the loaders: which columns hold compute, reward and eval size (given or inferred from
common names), how steps or tokens become compute, and what happens to NaN and repeated rows.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.io.checks import InputError
from rlscaling.io.runs import Run

FORMATS: tuple[str, ...] = (
    "csv",
    "jsonl",
    "parquet",
    "tensorboard",
    "wandb",
    "rundir",
    "trainer_state",
)

# Candidate column names, normalised (lower case, "-" and " " -> "_"), in order of preference.
# A name matches a column whose whole name or last "/"- or "."-separated part equals it.
COMPUTE_NAMES: dict[str, str | None] = {
    "compute": None,
    "flops": "FLOPs",
    "total_flops": "FLOPs",
    "cumulative_flops": "FLOPs",
    "train_flops": "FLOPs",
    "gpu_hours": "GPU-hours",
    "gpu_hrs": "GPU-hours",
    "device_hours": "device-hours",
    "gpu_seconds": "device-seconds",
    "device_seconds": "device-seconds",
}
TOKEN_NAMES = ("tokens", "total_tokens", "num_tokens", "train_tokens", "cumulative_tokens")
STEP_NAMES = ("step", "global_step", "_step", "steps", "train_step", "trainer_step", "iteration")
REWARD_NAMES = (
    "reward",
    "val_reward",
    "eval_reward",
    "validation_reward",
    "test_reward",
    "mean_reward",
    "accuracy",
    "acc",
    "val_acc",
    "eval_acc",
    "pass_rate",
    "pass@1",
    "pass_at_1",
    "score",
    "success_rate",
)
EVAL_SIZE_NAMES = ("eval_size", "n_eval", "num_eval_samples")
# A plain two-column table ``x,y`` (a plot's data) is read as compute, reward when no column
# has a more telling name.
PLAIN_COMPUTE, PLAIN_REWARD = "x", "y"
_EVALISH = re.compile(r"(^|[/._])(eval|val|valid|validation|test)([/._]|$)")


class LoaderWarning(UserWarning):
    """A file was read, but something in it needs the user's attention (e.g. a torn line)."""


# The messages already issued while one table is read (None: outside any table). A table of
# several runs that share a column layout would otherwise repeat the same warning per run.
_ISSUED: ContextVar[set[str] | None] = ContextVar("_ISSUED", default=None)


@contextmanager
def once_per_table() -> Iterator[None]:
    """Within this block, :func:`warn` issues each distinct message once. Nested blocks share
    the outermost one's record, so a table read in parts still warns once."""
    if _ISSUED.get() is not None:
        yield
        return
    token = _ISSUED.set(set())
    try:
        yield
    finally:
        _ISSUED.reset(token)


def warn(message: str) -> None:
    """Issue a :class:`LoaderWarning` attributed to the first caller's line outside rlscaling
    (once per message inside :func:`once_per_table`)."""
    issued = _ISSUED.get()
    if issued is not None:
        if message in issued:
            return
        issued.add(message)
    # the first frame outside the package: the user's line, also when a fitting function
    # reads a DataFrame through the loaders
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, LoaderWarning, stacklevel=level)


@dataclass(frozen=True)
class LoadOptions:
    compute: str | None = None
    reward: str | None = None
    step: str | None = None
    tokens: str | None = None
    eval_size: str | float | None = None
    compute_per_step: float | None = None
    flops_per_token: float | None = None
    compute_unit: str | None = None
    run: str | Sequence[str] | None = None
    group: str | None = None
    format: str | None = None
    nan_policy: str = "raise"
    duplicates: str = "raise"
    one: bool = False  # load_run: a source with several runs needs run= (checked before reading)

    def check(self) -> None:
        if self.nan_policy not in ("raise", "omit"):
            raise InputError(f"nan_policy must be 'raise' or 'omit', got {self.nan_policy!r}")
        if self.duplicates not in ("raise", "last", "mean"):
            raise InputError(
                f"duplicates must be 'raise', 'last' or 'mean', got {self.duplicates!r}"
            )
        if self.format is not None and self.format not in FORMATS:
            raise InputError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        for arg in ("compute_per_step", "flops_per_token"):
            val = getattr(self, arg)
            ok = isinstance(val, numbers.Real) and not isinstance(val, bool) and 0 < val < math.inf
            if val is not None and not ok:
                raise InputError(f"{arg} must be a finite number > 0, got {val!r}")
        if self.compute_per_step is not None and self.flops_per_token is not None:
            raise InputError(
                "give compute_per_step= (compute = step * compute_per_step) or flops_per_token= "
                "(compute = tokens * flops_per_token), not both"
            )
        if self.compute is not None and (self.compute_per_step or self.flops_per_token):
            conv = "compute_per_step" if self.compute_per_step else "flops_per_token"
            raise InputError(
                f"compute={self.compute!r} names a compute column, and {conv}= converts steps "
                f"or tokens when there is none; pass one of them"
            )


# ---------------------------------------------------------------------------- columns


def norm_name(col: Any) -> str:
    return str(col).strip().lower().replace("-", "_").replace(" ", "_")


def _last(col: Any) -> str:
    return re.split(r"[/.]", norm_name(col))[-1]


def _pick(
    cols: list[str], given: str | None, names: Sequence[str], arg: str, source: Path
) -> str | None:
    """The column ``given`` names (checked), or the best match for ``names``, or None."""
    if given is not None:
        if given in cols:
            return given
        folded = [c for c in cols if norm_name(c) == norm_name(given)]
        if len(folded) == 1:
            return folded[0]
        raise InputError(
            f"{arg}={given!r} is not a column of {source}; columns found: {cols}. "
            f"Pass {arg}='<column name>'."
        )
    for cand in names:
        hits = [c for c in cols if norm_name(c) == cand] or [c for c in cols if _last(c) == cand]
        if len(hits) > 1:
            evalish = [c for c in hits if _EVALISH.search(norm_name(c))]
            hits = evalish if len(evalish) == 1 else hits
        if len(hits) > 1:
            raise InputError(
                f"{source}: several columns could be the {arg}: {hits}; pass {arg}='<column>'"
            )
        if hits:
            return hits[0]
    return None


_REWARDISH = re.compile(r"(reward|score|acc|pass)")
# A spread of the reward, not the reward itself (verl logs val-aux/<source>/reward/std@4 beside
# the mean): never taken for the reward without being named.
_SPREAD = re.compile(r"(^|[/._@])(std|stdev|var|variance|sem|stderr|min|max)([/._@0-9]|$)")


def is_held_out(col: Any) -> bool:
    """Whether a column's name says it was measured on held-out data (eval/, val/, test/...)."""
    return bool(_EVALISH.search(norm_name(col)))


@dataclass(frozen=True)
class RewardChoice:
    """The reward column inferred from a table's columns, and the training-batch reward
    column passed over for it (None: there was none, or the chosen one is the training
    reward)."""

    column: str | None
    passed_over: str | None = None


def infer_reward(cols: list[str], source: Path) -> RewardChoice:
    """The reward column of a table whose reward was not named.

    A held-out metric is what a reward curve is fitted to, and a training batch's reward is
    another curve (it rises with overfitting, and is measured on fresh prompts each step), so
    a held-out column wins over a training one whatever their names: first a held-out column
    matching a common reward name (``eval/accuracy``, ``val_acc``, ``eval_reward``), then the
    one held-out metric path with a reward, score, accuracy or pass rate in it (verl's
    ``val-core/<source>/reward/mean@1``); each taken over a training reward with a warning
    that names both. Without a held-out column: a training reward by common name, else a plain
    ``y``. Several equally good candidates are refused with the list to choose from.
    """
    held = [c for c in cols if is_held_out(c)]
    by_name = _pick(held, None, REWARD_NAMES, "reward", source) if held else None
    try:
        train = _pick([c for c in cols if c not in held], None, REWARD_NAMES, "reward", source)
    except InputError:
        if by_name is None:
            raise
        # several training rewards (train/reward, rollout/reward): none is taken anyway
        warn(
            f"{source}: using the evaluation reward {by_name!r} (pass reward='<column>' for "
            "another)"
        )
        return RewardChoice(by_name)
    if by_name is not None:
        if train is not None:
            _warn_passed_over(by_name, train, source)
        return RewardChoice(by_name, train)
    if train is None:
        plain = [c for c in cols if norm_name(c) == PLAIN_REWARD]
        if len(plain) == 1:
            return RewardChoice(plain[0])
    paths = [c for c in held if _REWARDISH.search(_path(c)) and not _SPREAD.search(_path(c))]
    if len(paths) > 1:
        also = f" (and the training reward {train!r})" if train is not None else ""
        raise InputError(
            f"{source}: several columns could be the reward: {paths}{also}; pass reward='<column>'"
        )
    if paths:
        if train is not None:
            _warn_passed_over(paths[0], train, source)
        else:
            warn(f"{source}: using {paths[0]!r} as the reward (pass reward='<column>' for another)")
        return RewardChoice(paths[0], train)
    return RewardChoice(train)


def _warn_passed_over(held: str, train: str, source: Path) -> None:
    warn(
        f"{source}: using the evaluation reward {held!r}, not the training batches' {train!r} "
        f"(pass reward={train!r} for that one)"
    )


def _path(col: Any) -> str:
    """A column's name without its evaluation prefix, for what kind of metric it is."""
    return _EVALISH.sub("/", norm_name(col))


def _unit_of(col: str, default: str | None = None) -> str | None:
    """Unit suggested by a column name; ``default`` for a plain ``compute`` column."""
    n = norm_name(col)
    if _last(col) == "compute":
        return default
    for key, unit in COMPUTE_NAMES.items():
        if unit and (n == key or _last(col) == key or key in n):
            return unit
    if "token" in n:
        return "tokens"
    if _last(col) in STEP_NAMES:
        return "steps"
    return None


def _numeric(df: pd.DataFrame, col: str, source: Path) -> np.ndarray:
    s = df[col]
    try:
        return s.to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError):
        bad = next(v for v in s if _not_number(v))
        raise InputError(
            f"{source}: column {col!r} must be numeric, but holds {bad!r}; pass another column"
        ) from None


def _num(x: float) -> str:
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def _not_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return True
    return False


def _compute_axis(
    df: pd.DataFrame, cols: list[str], opts: LoadOptions, source: Path, default: str | None
) -> tuple[np.ndarray, dict[str, Any], str | None]:
    """Compute values, metadata (columns, unit, conversion) and a warning message or None."""
    hint = (
        "pass compute='<column>', or step='<column>' with compute_per_step=<compute per step>, "
        "or tokens='<column>' with flops_per_token=<FLOPs per token>"
    )

    def need(given: str | None, names: Sequence[str], arg: str, why: str) -> str:
        col = _pick(cols, given, names, arg, source)
        if col is None:
            raise InputError(
                f"{source}: {why}, but no {arg} column was found among {cols}; "
                f"pass {arg}='<column>'"
            )
        return col

    if opts.compute_per_step is not None:
        col = need(opts.step, STEP_NAMES, "step", "compute_per_step= converts steps")
        conv = f"compute = {col} * {_num(opts.compute_per_step)} (compute_per_step)"
        values = _numeric(df, col, source) * opts.compute_per_step
        return values, {"step": col, "unit": opts.compute_unit, "conversion": conv}, None
    if opts.flops_per_token is not None:
        col = need(opts.tokens, TOKEN_NAMES, "tokens", "flops_per_token= converts tokens")
        conv = f"compute = {col} * {_num(opts.flops_per_token)} (flops_per_token)"
        values = _numeric(df, col, source) * opts.flops_per_token
        return (
            values,
            {"tokens": col, "unit": opts.compute_unit or "FLOPs", "conversion": conv},
            None,
        )
    for given, arg in ((opts.compute, "compute"), (opts.tokens, "tokens"), (opts.step, "step")):
        if given is not None:
            col = _pick(cols, given, (), arg, source)
            assert col is not None
            unit = opts.compute_unit or _unit_of(col, default)
            return _numeric(df, col, source), {arg: col, "unit": unit, "conversion": None}, None
    col = _pick(cols, None, tuple(COMPUTE_NAMES), "compute", source)
    if col is not None:
        unit = opts.compute_unit or _unit_of(col, default)
        return _numeric(df, col, source), {"compute": col, "unit": unit, "conversion": None}, None
    for names, arg, unit in ((TOKEN_NAMES, "tokens", "tokens"), (STEP_NAMES, "step", "steps")):
        col = _pick(cols, None, names, arg, source)
        if col is not None:
            msg = (
                f"{source}: no compute column among {cols}; using the {arg} column {col!r} as "
                f"compute (compute_unit={unit!r}). That holds only if compute grows in "
                f"proportion to {unit}, and C_mid is then in {unit}. To convert, {hint}."
            )
            meta = {arg: col, "unit": opts.compute_unit or unit, "conversion": None}
            return _numeric(df, col, source), meta, msg
    plain = [c for c in cols if norm_name(c) == PLAIN_COMPUTE]
    if len(plain) == 1:
        unit = opts.compute_unit
        return (
            _numeric(df, plain[0], source),
            {"compute": plain[0], "unit": unit, "conversion": None},
            None,
        )
    raise InputError(f"{source}: could not infer the compute column from columns {cols}; {hint}.")


def _eval_sizes(
    df: pd.DataFrame, cols: list[str], opts: LoadOptions, source: Path
) -> tuple[np.ndarray | None, str | None]:
    if isinstance(opts.eval_size, int | float) and not isinstance(opts.eval_size, bool):
        if not 0 < opts.eval_size < math.inf:
            raise InputError(f"eval_size must be > 0 (prompts x samples), got {opts.eval_size!r}")
        return np.full(len(df), float(opts.eval_size)), f"{opts.eval_size!r} for every point"
    col = _pick(cols, opts.eval_size, EVAL_SIZE_NAMES, "eval_size", source)
    if col is not None:
        return _numeric(df, col, source), col
    if "n_prompts" in cols and "n_samples" in cols:
        size = _numeric(df, "n_prompts", source) * _numeric(df, "n_samples", source)
        return size, "n_prompts * n_samples"
    return None, None


# ---------------------------------------------------------------------------- rows -> Run


def frame_run(
    df: pd.DataFrame,
    opts: LoadOptions,
    *,
    name: str,
    source: Path,
    fmt: str,
    meta: dict[str, Any] | None = None,
    present: pd.DataFrame | None = None,
    count_absent: bool = False,
    torn: int = 0,
    default_unit: str | None = None,
) -> Run:
    """Pick the columns of ``df``, convert compute, apply nan/duplicate policies, sort.

    ``present`` marks the cells that were logged, for sources holding several series: a row
    without the chosen reward is then not a point. With ``count_absent`` such rows are rows
    of the user's file (a W&B chart export's steps at which this run logged nothing) and are
    counted in ``omitted["not_logged"]``; without it they are entries of another kind (a
    Trainer's training-step entries beside its evaluations), which the reader builds its
    table from, and are not."""
    cols = [str(c) for c in df.columns]
    df = df.set_axis(cols, axis=1).reset_index(drop=True)
    if opts.reward is not None:
        choice = RewardChoice(_pick(cols, opts.reward, (), "reward", source))
    else:
        choice = infer_reward(cols, source)
    r_col = choice.column
    if r_col is None:
        raise InputError(
            f"{source}: could not infer the reward column from columns {cols}; "
            "pass reward='<column>'"
        )
    omitted: dict[str, int] = {}
    if torn:
        omitted["torn_last_line"] = torn
    n_rows = len(df)
    if present is not None:  # several series in one table: rows without this reward are not points
        keep = present.rename(columns=str)[r_col].to_numpy(dtype=bool)
        df = df[keep].reset_index(drop=True)
        if count_absent and not keep.all():
            omitted["not_logged"] = int((~keep).sum())
        else:
            n_rows = len(df)
    c, axis_meta, warn_msg = _compute_axis(df, cols, opts, source, default_unit)
    r = _numeric(df, r_col, source)
    s, s_desc = _eval_sizes(df, cols, opts, source)
    if warn_msg:
        warn(warn_msg)

    bad = ~np.isfinite(c) | ~np.isfinite(r)
    if s is not None:
        bad |= ~np.isfinite(s)
    if bad.any():
        if opts.nan_policy == "raise":
            idx = np.flatnonzero(bad)
            i = int(idx[0])
            size = "" if s is None else f", eval_size={float(s[i])!r}"
            other = (
                ""
                if choice.passed_over is None
                else f" The evaluation reward was chosen over the training batches' "
                f"{choice.passed_over!r}; pass reward={choice.passed_over!r} for that one."
            )
            raise InputError(
                f"{source}: {idx.size} of {len(df)} rows have a missing, NaN or inf compute, "
                f"reward ({r_col!r}) or eval size, the first: compute={float(c[i])!r}, "
                f"reward={float(r[i])!r}{size}. Pass "
                "nan_policy='omit' to drop them (they are counted in metadata['omitted']); "
                f"a log that records the reward only every few steps needs it.{other}"
            )
        omitted["nan_or_inf"] = int(bad.sum())
        c, r = c[~bad], r[~bad]
        s = None if s is None else s[~bad]
    if (c < 0).any():
        i = int(np.flatnonzero(c < 0)[0])
        raise InputError(
            f"{source}: compute must be >= 0, got {float(c[i])!r}; check compute= and any scaling"
        )
    order = np.argsort(c, kind="stable")
    c, r = c[order], r[order]
    s = None if s is None else s[order]
    c, r, s, merged = _dedupe(c, r, s, opts.duplicates, omitted, source)
    if c.size == 0:
        raise InputError(f"{source}: no points left (omitted: {omitted})")

    metadata: dict[str, Any] = {
        "source": str(source),
        "format": fmt,
        **(meta or {}),
        "columns": {
            "reward": r_col,
            **{k: v for k, v in axis_meta.items() if k in ("compute", "step", "tokens")},
            "eval_size": s_desc,
        },
        "compute_unit": axis_meta["unit"],
        "conversion": axis_meta["conversion"],
        "n_rows": n_rows,
        "omitted": omitted,
    }
    if torn:
        metadata["torn_lines"] = torn
    if merged:
        metadata["merged_duplicates"] = merged
    return Run(c, r, s, name=name, metadata=metadata)


def _dedupe(
    c: np.ndarray,
    r: np.ndarray,
    s: np.ndarray | None,
    policy: str,
    omitted: dict[str, int],
    source: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    if c.size < 2 or not (np.diff(c) == 0).any():
        return c, r, s, 0
    df = pd.DataFrame({"c": c, "r": r, "s": s if s is not None else 0.0})
    exact = df.duplicated(keep="last")
    if exact.any():
        omitted["duplicate_rows"] = int(exact.sum())
        warn(
            f"{source}: {int(exact.sum())} repeated row(s) (same compute, reward and eval size) "
            "were collapsed; counted in metadata['omitted']['duplicate_rows']"
        )
        df = df[~exact]
    clash = df["c"].duplicated(keep=False)
    merged = 0
    if clash.any():
        if policy == "raise":
            shown = df[clash].head(4)
            pairs = ", ".join(
                f"compute={a!r}: reward={b!r}" for a, b in zip(shown.c, shown.r, strict=True)
            )
            raise InputError(
                f"{source}: {int(clash.sum())} rows share a compute value with different "
                f"rewards ({pairs}). Pass duplicates='last' to keep the one logged last "
                "(e.g. after a resume) or duplicates='mean' to average them."
            )
        n = int(df["c"].duplicated().sum())
        if policy == "last":
            df = df.drop_duplicates("c", keep="last")
            omitted["duplicate_compute"] = n
        else:
            df = df.groupby("c", as_index=False, sort=True).agg(r=("r", "mean"), s=("s", "sum"))
            merged = n
    s_out = None if s is None else df["s"].to_numpy(dtype=float)
    return df["c"].to_numpy(dtype=float), df["r"].to_numpy(dtype=float), s_out, merged
