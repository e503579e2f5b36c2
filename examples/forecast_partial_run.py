"""Forecast where a half-finished run ends, and how much compute it needs for a target.

Uses a bundled synthetic run (its true curve is known), keeps the first half of its compute
and forecasts the reward at the full budget and at twice it. Writes a figure and a JSON of the
forecast to the folder given as the first argument (default ``out/``):

    python examples/forecast_partial_run.py out/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rlscaling import compute_to_reach, forecast, load_example


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    full = load_example("long_gen_like")
    half = full.truncate(0.5)
    budget = float(full.compute.max())

    fc = forecast(half, budget=[budget, 2 * budget], seed=0)
    print(fc.summary())
    truth = full.reward[-3:].mean()
    print(f"held-out truth at {budget:.4g}: mean of the last 3 evaluations {truth:.4f}")

    target = compute_to_reach(half, fraction_of_asymptote=0.9, seed=0)
    print(target.summary())

    ax = fc.plot()
    ax.scatter(
        full.compute[len(half) :], full.reward[len(half) :], s=8, color="0.6", label="held out"
    )
    ax.legend(fontsize=8)
    ax.figure.savefig(out / "forecast_partial_run.png", dpi=120)
    doc = {"forecast": fc.to_dict(), "compute_to_90pct_of_A": target.to_dict()}
    (out / "forecast_partial_run.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out / 'forecast_partial_run.png'} and {out / 'forecast_partial_run.json'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out"))
