"""CSV files that Weights & Biases exports from a chart (``Step``, ``<run> - <metric>``...)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from rlscaling.io.frames import (
    LoadOptions,
    frame_run,
)
from rlscaling.io.readers.base import _choose
from rlscaling.io.runs import Run

WANDB_COL = re.compile(r"^(?P<run>.+) - (?P<metric>.+?)(?P<agg>__MIN|__MAX)?$")


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
                count_absent=True,  # the chart's rows are the file's: a blank is told, counted
                torn=torn,
            )
        )
    return runs
