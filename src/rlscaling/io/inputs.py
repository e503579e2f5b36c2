"""Turn what a user passes (arrays, Series, a DataFrame, a Run) into checked curve data.

Every check names the argument, the offending value and the fix. Nothing is dropped unless the
user asked for it (``nan_policy="omit"``, a compute window), and what is dropped is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from rlscaling.io.checks import (
    InputError,
    _masked,
    as_1d_float,
    check_real,
)
from rlscaling.io.runs import Run

NanPolicy = Literal["raise", "omit"]

# Rewards beyond this magnitude are refused: squared residuals and curvature terms of such
# values overflow float64 (1e308), so fit statistics would come back inf/NaN. Rewards are pass
# rates, scores or returns; nothing measured that way is near 1e100.
MAX_ABS_REWARD = 1e100


@dataclass(frozen=True)
class CurveData:
    """Checked reward-vs-compute points, sorted by compute, all finite, compute > 0."""

    compute: NDArray[np.float64]
    reward: NDArray[np.float64]
    eval_size: NDArray[np.float64] | None = None
    weights: NDArray[np.float64] | None = None
    omitted: dict[str, int] = field(default_factory=dict)
    name: str | None = None

    @property
    def n(self) -> int:
        return int(self.compute.size)

    @property
    def n_omitted(self) -> int:
        return int(sum(self.omitted.values()))

    @property
    def log_compute(self) -> NDArray[np.float64]:
        return np.log(self.compute)


def _show(values: NDArray, idx: NDArray, limit: int = 3) -> str:
    shown = ", ".join(f"[{int(i)}]={float(values[i])!r}" for i in idx[:limit])
    more = f" and {idx.size - limit} more" if idx.size > limit else ""
    return shown + more


def resolve_xy(
    data: Any,
    reward: Any = None,
    compute: str | None = None,
) -> tuple[Any, Any, Any, str | None]:
    """Return ``(compute, reward, eval_size, name)`` from any supported input form.

    ``data`` may be compute values (with ``reward`` the rewards), a DataFrame (``compute`` and
    ``reward`` then name its columns; defaults ``"compute"`` and ``"reward"``; see
    :func:`rlscaling.io.loaders.resolve_columns` for a table without them), or a
    :class:`rlscaling.io.runs.Run`.
    """
    if isinstance(data, Run):
        if reward is not None:
            raise InputError("reward must not be given when the first argument is a Run")
        return data.compute, data.reward, data.eval_size, data.name
    if isinstance(data, pd.Series) and reward is None and compute is None:
        # A Series of rewards indexed by compute (e.g. df.set_index("flops")["reward"]): the
        # index is the compute, so the points are paired by label, never by position.
        index = data.index
        if not (pd.api.types.is_numeric_dtype(index.dtype) and index.nlevels == 1):
            raise InputError(
                "a Series passed alone is read as rewards indexed by compute, but its index is "
                f"{index.dtype} ({list(index[:3])}...); pass fit_sigmoid(compute, reward) or "
                "set a numeric compute index (series.index = compute)"
            )
        name = data.name if isinstance(data.name, str) else None
        return index.to_numpy(dtype=float), data.to_numpy(), None, name
    if isinstance(data, pd.DataFrame):
        if reward is not None and not isinstance(reward, str):
            raise InputError(
                f"with a DataFrame, reward must be a column name (str), got {type(reward).__name__}"
            )
        c_col, r_col = compute or "compute", reward or "reward"
        cols = set(map(str, data.columns))
        for arg, col in (("compute", c_col), ("reward", r_col)):
            if col not in cols:
                raise InputError(
                    f"{arg}={col!r} is not a column of the DataFrame; columns found: "
                    f"{list(map(str, data.columns))}. Pass {arg}='<column name>'."
                )
        name = _one_run_name(data)
        size = None
        for cand in ("eval_size", "n_eval"):
            if cand in data.columns:
                size = data[cand].to_numpy()
        return data[c_col].to_numpy(), data[r_col].to_numpy(), size, name
    if compute is not None:
        raise InputError(
            "compute= names a DataFrame column; with arrays pass compute values first "
            "and rewards second: fit_sigmoid(compute, reward)"
        )
    if reward is None:
        raise InputError(
            "reward is missing: call fit_sigmoid(compute, reward), fit_sigmoid(df, "
            "compute='col', reward='col') or fit_sigmoid(run)"
        )
    if (
        isinstance(data, pd.Series)
        and isinstance(reward, pd.Series)
        and not data.index.equals(reward.index)
    ):
        # pandas would align two Series by label, numpy pairs them by position: refuse to
        # guess which one the user meant.
        raise InputError(
            "compute and reward are Series with different indexes (first labels "
            f"{list(data.index[:3])} and {list(reward.index[:3])}), so pairing them by position "
            "could mix up points. Align them first (reward = reward.reindex(compute.index)) or "
            "pass .to_numpy() of each to pair them by position."
        )
    name = getattr(reward, "name", None)
    return data, reward, None, name if isinstance(name, str) else None


# What each reason a point was left out (the keys of ``omitted`` counts) says in a message.
LEFT_OUT_WORDS = {
    "nan_or_inf": "with a missing, NaN or inf value",
    "masked": "masked as missing",
    "duplicate_rows": "repeating an identical row",
    "duplicate_compute": "at a compute logged again",
    "torn_last_line": "on a torn last line",
    "not_logged": "at a step where the run logged no value (a blank cell)",
}


def add_counts(*counts: dict[str, int]) -> dict[str, int]:
    """Counts of points left out, by reason, added over the steps that left them out."""
    out: dict[str, int] = {}
    for part in counts:
        for key, n in part.items():
            out[key] = out.get(key, 0) + int(n)
    return out


def split_zero_compute(c: Any, r: Any, size: Any) -> tuple[Any, Any, Any, NDArray[np.float64]]:
    """Split the points at compute exactly 0 (the untrained model's evaluation, the first row
    of many eval logs) off raw inputs: the rest, and the rewards at compute 0 (empty: none).

    Only when the compute values are numbers, none negative, in one row as long as the
    rewards: otherwise the inputs pass unchanged and :func:`check_curve` names the problem. A
    masked reward keeps its mask; a masked reward at compute 0 is returned as NaN.
    """
    none = np.array([], dtype=float)
    try:
        c_num = np.asarray(c, dtype=float)
        r_arr = r if np.ma.isMaskedArray(r) else np.asarray(r)
    except (TypeError, ValueError):
        return c, r, size, none
    if c_num.ndim != 1 or np.shape(r_arr) != c_num.shape or np.any(c_num < 0):
        return c, r, size, none
    keep = c_num != 0
    if keep.all():
        return c, r, size, none
    if size is not None and np.ndim(size) == 1 and np.size(size) == c_num.size:
        size = np.asarray(size)[keep]
    try:
        at_zero = np.ma.filled(np.ma.asarray(r_arr[~keep], dtype=float), np.nan)
    except (TypeError, ValueError):
        at_zero = np.full(int((~keep).sum()), np.nan)
    return c_num[keep], r_arr[keep], size, np.asarray(at_zero, dtype=float)


# columns that name the run a row belongs to (as the file loaders read them)
RUN_COLUMNS = ("run", "run_name", "run_id", "curve")


def _one_run_name(df: pd.DataFrame) -> str | None:
    """The run a table's rows belong to (its name where a column says), refusing a table that
    holds several runs: read as one curve, their rows would interleave."""
    for col in RUN_COLUMNS:
        if col in df.columns:
            names = pd.unique(df[col])
            if len(names) > 1:
                shown = ", ".join(repr(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
                raise InputError(
                    f"the DataFrame holds {len(names)} runs (column {col!r}: {shown}); pass one, "
                    f"e.g. df[df[{col!r}] == {names[0]!r}], or load each as a Run: load_runs(df)"
                )
            if len(names) == 1 and isinstance(names[0], str):
                return names[0]
    return None


def check_curve(
    compute: Any,
    reward: Any,
    *,
    eval_size: Any = None,
    weights: Any = None,
    nan_policy: NanPolicy = "raise",
    min_compute: float | None = None,
    max_compute: float | None = None,
    name: str | None = None,
) -> CurveData:
    """Validate and window a curve. See :func:`rlscaling.fit_sigmoid` for the rules."""
    if nan_policy not in ("raise", "omit"):
        raise InputError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    masks = [m for m in (_masked(compute), _masked(reward)) if m is not None]
    c = as_1d_float(compute, "compute")
    r = as_1d_float(reward, "reward")
    if c.size != r.size:
        raise InputError(f"compute and reward must have the same length, got {c.size} and {r.size}")
    if c.size == 0:
        raise InputError(
            "compute and reward are empty: pass at least a few (compute, reward) points"
        )
    masked = np.zeros(c.size, dtype=bool)
    for m in masks:
        if m.size == c.size:
            masked |= m
    extras: dict[str, NDArray] = {}
    for arg, val in (("eval_size", eval_size), ("weights", weights)):
        if val is None:
            continue
        arr = as_1d_float(val, arg)
        if arr.size == 1 and c.size != 1:
            arr = np.full(c.size, arr[0])
        if arr.size != c.size:
            raise InputError(
                f"{arg} must have one value per point ({c.size}), got {arr.size} values"
            )
        extras[arg] = arr

    omitted: dict[str, int] = {}
    bad = ~np.isfinite(c) | ~np.isfinite(r)
    for arr in extras.values():
        bad |= ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        if nan_policy == "raise" and masked.any():
            m_idx = np.flatnonzero(masked)
            shown = ", ".join(str(int(i)) for i in m_idx[:5]) + (", ..." if m_idx.size > 5 else "")
            raise InputError(
                f"compute/reward is a masked array with {m_idx.size} masked (missing) value(s) "
                f"at positions {shown}; masked values are never fitted. Pass nan_policy='omit' "
                "to drop them (the count is reported in the result), or fill them."
            )
        if nan_policy == "raise":
            which = "compute" if (~np.isfinite(c[idx])).any() else "reward"
            vals = c if which == "compute" else r
            raise InputError(
                f"{which} has {idx.size} NaN/inf value(s): {_show(vals, idx)}. Remove them, "
                "or pass nan_policy='omit' to drop them (the count is reported in the result)."
            )
        if masked.any():
            omitted["masked"] = int(masked.sum())
        if (bad & ~masked).any():
            omitted["nan_or_inf"] = int((bad & ~masked).sum())
        if bad.all():
            raise InputError(
                f"all {c.size} points have a NaN/inf or masked compute or reward: nothing is "
                "left to fit. Check the columns you passed."
            )
        keep = ~bad
        c, r = c[keep], r[keep]
        extras = {k: v[keep] for k, v in extras.items()}

    huge = np.flatnonzero(np.abs(r) > MAX_ABS_REWARD)
    if huge.size:
        raise InputError(
            f"reward has value(s) beyond +-{MAX_ABS_REWARD:g}: {_show(r, huge)}. The fit's "
            "squared residuals would overflow; divide the rewards by a power of 10 first."
        )
    nonpos = np.flatnonzero(c <= 0)
    if nonpos.size:
        raise InputError(
            f"compute must be > 0 (the curve is defined on log-compute), got {_show(c, nonpos)}. "
            "A zero-compute evaluation is the starting reward: drop it and pass it as "
            "r0=<value>."
        )
    steps = np.diff(c)
    if (steps < 0).any():
        i = int(np.flatnonzero(steps < 0)[0])
        raise InputError(
            f"compute must be increasing, but compute[{i}]={float(c[i])!r} > compute[{i + 1}]="
            f"{float(c[i + 1])!r}. Sort the points by compute first "
            "(e.g. df.sort_values('compute'))."
        )
    if (steps == 0).any():
        i = int(np.flatnonzero(steps == 0)[0])
        raise InputError(
            f"compute has duplicated values: compute[{i}] == compute[{i + 1}] == {float(c[i])!r}. "
            "Average repeated evaluations at the same compute (and add their eval sizes)."
        )
    if "eval_size" in extras and (extras["eval_size"] <= 0).any():
        idx = np.flatnonzero(extras["eval_size"] <= 0)
        raise InputError(
            f"eval_size must be > 0 (prompts x samples per prompt), got "
            f"{_show(extras['eval_size'], idx)}"
        )
    if "weights" in extras and (extras["weights"] <= 0).any():
        idx = np.flatnonzero(extras["weights"] <= 0)
        raise InputError(
            f"weights must be > 0, got {_show(extras['weights'], idx)}; drop a point with "
            "max_compute/min_compute instead of giving it zero weight."
        )

    min_compute = check_real(min_compute, "min_compute", positive=True, allow_none=True)
    max_compute = check_real(max_compute, "max_compute", positive=True, allow_none=True)
    if min_compute is not None and max_compute is not None and min_compute >= max_compute:
        raise InputError(
            f"min_compute ({min_compute!r}) must be below max_compute ({max_compute!r})"
        )
    window = np.ones(c.size, dtype=bool)
    if min_compute is not None:
        below = c < min_compute
        if below.any():
            omitted["below_min_compute"] = int(below.sum())
        window &= ~below
    if max_compute is not None:
        above = c > max_compute
        if above.any():
            omitted["above_max_compute"] = int(above.sum())
        window &= ~above
    c, r = c[window], r[window]
    extras = {k: v[window] for k, v in extras.items()}
    return CurveData(
        compute=c,
        reward=r,
        eval_size=extras.get("eval_size"),
        weights=extras.get("weights"),
        omitted=omitted,
        name=name,
    )
