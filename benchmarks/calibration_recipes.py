"""The bundled calibration runs per recipe: A and B with intervals, beside the paper's axes.

For every run, ``fit_sigmoid`` (is A identified?); per recipe, the mean and between-seed sd of
the fitted A and B over its seeds and the final reward (mean of the last three evaluations);
then ``compare`` (seeds pooled, block bootstrap) for A and B with 90% intervals and
P(A_i > A_j) against the base recipe. Prints markdown tables (docs/calibration.md).

    python benchmarks/calibration_recipes.py                 # the bundled runs
    python benchmarks/calibration_recipes.py "runs/countdown/*/seed*"
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from rlscaling import compare, fit_sigmoid, load_runs
from rlscaling.io.datasets import calibration_runs


def per_run(runs: list) -> pd.DataFrame:
    rows = []
    for r in runs:
        f = fit_sigmoid(r, warn=False)
        rows.append(
            {
                "recipe": r.metadata.get("recipe", r.recipe_key()),
                "seed": r.metadata.get("seed"),
                "A": f.A,
                "B": f.B,
                "C_mid": f.C_mid,
                "identified": bool(f.identified),
                "final": r.last_mean(3),
                "compute": float(r.compute.max()),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="run directories or globs (default: bundled runs)")
    ap.add_argument("--base", default="scalerl", help="recipe the others are compared with")
    ap.add_argument("--n", type=int, default=1000, help="bootstrap draws per recipe")
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = load_runs(args.runs) if args.runs else calibration_runs()
        tab = per_run(runs)
        cmp = compare(runs, n=args.n, seed=0, budget=float(tab["compute"].max()))
    g = tab.groupby("recipe", sort=False)
    pooled_sd = float(np.sqrt(g["A"].var(ddof=1).mean()))
    ident = int(tab["identified"].sum())
    print(f"{len(tab)} runs, A identified in {ident} ({ident / len(tab):.0%}); pooled between-seed")
    print(f"sd of A {pooled_sd:.4f} (2x = {2 * pooled_sd:.4f})\n")
    frame = cmp.to_frame().set_index(["recipe", "param"])
    pairs = cmp.pairwise
    print(
        "| recipe | seeds | identified | final reward | A (seed mean +- sd) | A pooled [90%] "
        "| B pooled [90%] | C_mid pooled | P(A > A_base) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for recipe, s in g:
        a = frame.loc[(recipe, "A")]
        b = frame.loc[(recipe, "B")]
        cm = frame.loc[(recipe, "C_mid")]
        p = ""
        if recipe != args.base:
            row = pairs[(pairs["recipe_i"] == recipe) & (pairs["recipe_j"] == args.base)]
            if len(row):
                p = f"{row['P_A'].iloc[0]:.2f}"
            else:
                row = pairs[(pairs["recipe_i"] == args.base) & (pairs["recipe_j"] == recipe)]
                p = f"{1 - row['P_A'].iloc[0]:.2f}" if len(row) else ""
        print(
            f"| {recipe} | {len(s)} | {int(s['identified'].sum())}/{len(s)} "
            f"| {s['final'].mean():.3f} +- {s['final'].std(ddof=1):.3f} "
            f"| {s['A'].mean():.3f} +- {s['A'].std(ddof=1):.3f} "
            f"| {a['estimate']:.3f} [{a['lower']:.3f}, {a['upper']:.3f}] "
            f"| {b['estimate']:.2f} [{b['lower']:.2f}, {b['upper']:.2f}] "
            f"| {cm['estimate']:.3g} | {p} |"
        )
    means = g["A"].mean()
    gap = means.max() - means.min()
    print(
        f"\nlargest gap in seed-mean A: {gap:.3f} ({means.idxmax()} vs {means.idxmin()}), "
        f"{gap / pooled_sd:.1f}x the pooled between-seed sd"
    )


if __name__ == "__main__":
    main()
