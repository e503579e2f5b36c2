"""Argument checks every layer uses: the library's :class:`InputError` and small validators.

Each check names the argument, the offending value and what is expected. This is the bottom of
the library (numpy and pandas only), so that the data model, the fit, the samplers and the
forecasts all check their arguments the same way without importing each other.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rlscaling.io.errors import InputError


def is_pass_rate(reward: ArrayLike) -> bool:
    """Whether every reward lies in [0, 1]: the project's one rule for a pass rate (it bounds
    A in ``fit_sigmoid``, keeps forecasts in [0, 1] and sets the margin of ``compare``)."""
    y = np.asarray(reward, dtype=float)
    return bool(np.all((y >= 0) & (y <= 1)))


PERCENT_MIN_PEAK = 10.0  # a reward read as a percentage must exceed this somewhere


def looks_like_percent(reward: ArrayLike) -> bool:
    """Whether a reward reads as a percentage: every value in [0, 100], the largest above 10.

    The rule ``reward_range="auto"`` uses. Above 10, not above 1: a score on a 0-10 scale (a
    judge's grade) or a raw loss of 3-6 is not a percentage, and a percentage that never
    passed 10 sits so close to its floor that reading it as a pass rate changes little.
    """
    y = np.asarray(reward, dtype=float)
    return bool(np.all((y >= 0) & (y <= 100)) and y.size and float(y.max()) > PERCENT_MIN_PEAK)


def check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; bools, floats and strings are refused by name."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    allow_none: bool = False,
    what: str = "a finite number",
) -> float | None:
    """``value`` as a finite float (``> 0`` when ``positive``); strings and bools are refused."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = bool(np.isfinite(value)) and (not positive or value > 0)
    if not ok:
        need = f"{what} > 0" if positive else what
        raise InputError(f"{name} must be {need}, got {value!r} ({type(value).__name__})")
    return float(value)


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """A seed for ``numpy.random.default_rng``: None or an integer >= 0."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(
            f"{name} must be None or an integer >= 0 (the same seed gives the same numbers), "
            f"got {seed!r}"
        )
    return int(seed)


def check_levels(levels: Any, name: str = "levels") -> tuple[float, ...]:
    """Interval levels: a non-empty sequence of numbers in (0, 1)."""
    if isinstance(levels, numbers.Real) and not isinstance(levels, bool):
        levels = (levels,)
    if isinstance(levels, str) or not hasattr(levels, "__iter__"):
        raise InputError(
            f"{name} must be a tuple of numbers in (0, 1) like (0.8, 0.9), got {levels!r}"
        )
    out = []
    for lv in levels:
        ok = isinstance(lv, numbers.Real) and not isinstance(lv, bool) and 0 < lv < 1
        if not ok:
            raise InputError(
                f"{name} must hold numbers in (0, 1), e.g. 0.9 for a 90% interval, got {lv!r} "
                f"({type(lv).__name__}) in {levels!r}"
            )
        out.append(float(lv))
    if not out:
        raise InputError(f"{name} must hold at least one level in (0, 1), got {levels!r}")
    return tuple(out)


def _masked(value: Any) -> NDArray[np.bool_] | None:
    """The mask of a numpy masked array (True where masked), or None when nothing is masked."""
    if not np.ma.isMaskedArray(value):
        return None
    mask = np.ma.getmaskarray(value)
    return mask if mask.ndim == 1 and mask.any() else None


def as_1d_float(value: Any, name: str) -> NDArray[np.float64]:
    """Convert ``value`` to a 1-D float array or raise an error naming ``name``.

    Masked entries of a numpy masked array become NaN: they are missing values, never data
    (``numpy.asarray`` would hand back whatever lies under the mask).
    """
    if np.ma.isMaskedArray(value):
        try:
            value = np.ma.asarray(value, dtype=float).filled(np.nan)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be numeric, got a masked array: {exc}") from None
    # pandas is not imported here (the command line checks its options without loading it): a
    # DataFrame can only exist once pandas is loaded, so look it up only then.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        raise InputError(
            f"{name} must be 1-D (array, list or Series), got a DataFrame with columns "
            f"{list(value.columns)}; pass the DataFrame as the first argument and name the "
            f"columns with compute=... and reward=..."
        )
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(value).__name__}: {exc}") from None
    if arr.ndim == 0:
        raise InputError(f"{name} must be a 1-D sequence of numbers, got the scalar {value!r}")
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    return arr


def as_positive_compute(compute: ArrayLike, name: str = "compute") -> NDArray[np.float64]:
    c = np.atleast_1d(np.asarray(compute, dtype=float))
    if c.size == 0:
        raise InputError(f"{name} is empty: give at least one compute value > 0")
    if np.any(~np.isfinite(c)) or np.any(c <= 0):
        bad = c[~(np.isfinite(c) & (c > 0))][:3]
        raise InputError(f"{name} must be finite and > 0, got {bad.tolist()}")
    return c


def check_level(level: float) -> float:
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), e.g. 0.9 for a 90% interval, got {level!r}")
    return float(level)


def check_reward_range(reward_range: Any, y: NDArray[np.float64]) -> tuple[float, float]:
    """``reward_range`` as two finite floats ``lo < hi`` that hold every observed reward."""
    try:
        lo, hi = (float(v) for v in reward_range)
    except (TypeError, ValueError):
        raise InputError(
            f"reward_range must be two numbers (lowest, highest), e.g. (0, 100) for a "
            f"percentage, got {reward_range!r}"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise InputError(
            f"reward_range must be two finite numbers with lowest < highest, got {reward_range!r}"
        )
    out = np.flatnonzero((y < lo) | (y > hi))
    if out.size:
        raise InputError(
            f"reward_range={reward_range!r} does not hold {out.size} observed reward(s), e.g. "
            f"reward[{out[0]}] = {y[out[0]]:g}: give the range the reward can take"
        )
    return lo, hi
