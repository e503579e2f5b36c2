"""Compare two recipes, each run with three seeds, by their fitted scaling curves.

The runs are simulated: recipe "fast" rises early but saturates at a lower reward, recipe
"scalable" starts slower and ends higher, so their curves cross. Runs of one recipe carry the
same ``metadata["recipe"]`` and are pooled, so the spread between seeds is in the intervals.
Writes a figure and a JSON to the folder given as the first argument (default ``out/``):

    python examples/compare_recipes.py out/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rlscaling import compare
from rlscaling.model.simulate import simulate_curve

RECIPES = {  # A, B, C_mid (GPU-hours), R0
    "fast": (0.52, 2.4, 600.0, 0.2),
    "scalable": (0.62, 1.4, 2500.0, 0.2),
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    compute = np.geomspace(100, 8000, 30)
    runs = [
        simulate_curve(
            *params,
            compute=compute,
            noise=0.008,
            ar1=0.3,
            seed=100 * k + seed,
            name=f"{recipe}-seed{seed}",
            metadata={"recipe": recipe, "seed": seed},
        )
        for k, (recipe, params) in enumerate(RECIPES.items())
        for seed in range(3)
    ]
    cmp = compare(runs, budget=32000, n=500, seed=0)
    print(cmp.summary())

    ax = cmp.plot()
    ax.figure.savefig(out / "compare_recipes.png", dpi=120)
    (out / "compare_recipes.json").write_text(json.dumps(cmp.to_dict(), indent=2) + "\n")
    print(f"wrote {out / 'compare_recipes.png'} and {out / 'compare_recipes.json'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out"))
