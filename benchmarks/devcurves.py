"""Read the development curves (a long CSV: source, curve, x, y, direction, ...) as Runs.

Loss curves (direction "down") are negated so that higher is better everywhere; points at
x = 0 (an untrained checkpoint) are dropped, since compute must be > 0 on a log axis. Both
are counted and printed by the scripts that use this.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rlscaling import Run

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev-curves" / "curves.csv"


def load_dev_curves(path: Path | str = DEFAULT) -> tuple[list[Run], dict[str, int]]:
    """Runs with metadata source (the curve id prefix) and direction; plus what was dropped."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"dev curves not found at {path}; pass --curves PATH")
    df = pd.read_csv(path)
    runs, dropped = [], {"x<=0 points": 0, "down curves negated": 0}
    for cid, g in df.groupby("curve", sort=False):
        x, y = g["x"].to_numpy(float), g["y"].to_numpy(float)
        direction = g["direction"].iloc[0]
        if direction == "down":
            y = -y
            dropped["down curves negated"] += 1
        keep = x > 0
        dropped["x<=0 points"] += int((~keep).sum())
        runs.append(
            Run(
                x[keep],
                y[keep],
                name=str(cid),
                metadata={"source": str(cid).split("/")[0], "direction": direction},
            )
        )
    return runs, dropped


def sources(runs: list[Run]) -> list[str]:
    return sorted({r.metadata["source"] for r in runs})


def by_source(runs: list[Run], src: str, keep: bool) -> list[Run]:
    return [r for r in runs if (r.metadata["source"] == src) == keep]


def geometric_tail(run: Run, k: int = 3) -> tuple[float, float]:
    """(compute, reward) of the forecast target: geometric-mean compute and mean reward of the
    last ``k`` evaluations."""
    return float(np.exp(np.mean(np.log(run.compute[-k:])))), float(run.reward[-k:].mean())
