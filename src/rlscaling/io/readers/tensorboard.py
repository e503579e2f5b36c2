"""TensorBoard event files (tbparse, or TensorBoard's event accumulator), one run per directory."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.io.errors import InputError
from rlscaling.io.frames import (
    LoadOptions,
    frame_run,
)
from rlscaling.io.readers.base import IO_EXTRA, _choose
from rlscaling.io.runs import Run


def _event_files(p: Path) -> list[Path]:
    return sorted(f for f in p.rglob("*tfevents*") if f.is_file())


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
