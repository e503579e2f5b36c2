"""Regenerate the bundled SYNTHETIC example curves (src/rlscaling/data/example_*).

Parameters are modelled on Table 1 of Khatri et al. (2025), arXiv 2510.13786 (A, B and C_mid in
GB200 GPU-hours as fitted there); R0 and the noise settings are our own choices, picked to look
like a pass rate measured on 1,000 prompts x 16 samples every 100 steps. Run from the repo root:

    python examples/make_example_data.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rlscaling.model.simulate import simulate_curve

# name, A, B, C_mid (GPU-hours), max compute, source row in the paper's Table 1
CURVES = [
    ("scalerl_like", 0.610, 1.92, 2542.0, 16000.0, "ScaleRL 8B, bs768, 14k gen"),
    ("long_gen_like", 0.645, 1.89, 11272.0, 50000.0, "32k generation length"),
    ("moe_like", 0.710, 1.65, 4242.0, 16000.0, "Scout 17Bx16 MoE"),
    ("code_like", 0.615, 1.09, 1675.0, 16000.0, "math+code: code curve"),
    ("bs512_like", 0.605, 1.77, 2818.0, 16000.0, "batch size 512"),
]
R0 = 0.25
NOISE = 0.008  # run-level wobble on top of binomial noise
AR1 = 0.3
EVAL_SIZE = 16000  # 1,000 prompts x 16 samples
N_POINTS = 60


def main(out: Path = Path("src/rlscaling/data")) -> None:
    rng = np.random.default_rng(20251013)
    frames, meta = [], []
    for name, a, b, c_mid, c_max, source in CURVES:
        compute = np.linspace(c_max / N_POINTS, c_max, N_POINTS)
        run = simulate_curve(
            a,
            b,
            c_mid,
            R0,
            compute=compute,
            noise=NOISE,
            ar1=AR1,
            eval_size=EVAL_SIZE,
            seed=rng,
            name=name,
        )
        frames.append(run.to_frame().assign(curve=name))
        meta.append(
            {
                "name": name,
                "A": a,
                "B": b,
                "C_mid": c_mid,
                "R0": R0,
                "noise": NOISE,
                "ar1": AR1,
                "eval_size": EVAL_SIZE,
                "modelled_on": source,
            }
        )
    df = pd.concat(frames)[["curve", "compute", "reward", "eval_size"]]
    df["compute"] = df["compute"].round(3)
    df.to_csv(out / "example_curves.csv", index=False, float_format="%.6g")
    doc = {
        "synthetic": True,
        "description": __doc__.strip().splitlines()[0],
        "paper": "Khatri et al. 2025, arXiv 2510.13786, Table 1",
        "curves": meta,
    }
    (out / "example_params.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
