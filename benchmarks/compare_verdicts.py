"""How often ``compare`` names a leader, between identical recipes and between different ones.

Pairs of single-seed simulated runs (30 evaluations from 100 to 20,000 compute, noise sd
0.015, R0 0.1, C_mid 2,000): identical recipes (A 0.6, B 1.5), an asymptote higher by 0.05,
and a B of 2.5 against 1.5. For each pair the probabilities behind the verdicts (P_A, P_B,
P_reward at the budget, P_forecast) are read, and the share of pairs in which each would name
a leader is printed for thresholds 0.8, 0.9 and 0.95 (``compare.CLEAR``): the first block is
the false-leader rate, the others the power.

    python benchmarks/compare_verdicts.py [--pairs 30]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from rlscaling import Run, compare, sigmoid

SETTINGS = {"identical": (0.6, 1.5), "A + 0.05": (0.65, 1.5), "B 2.5 vs 1.5": (0.6, 2.5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=30)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    c = np.geomspace(100, 20000, 30)

    def run(name: str, a: float = 0.6, b: float = 1.5) -> Run:
        y = sigmoid(c, A=a, B=b, C_mid=2000.0, R0=0.1) + rng.normal(0, 0.015, c.size)
        return Run(compute=c, reward=y, name=name)

    t0 = time.perf_counter()
    print("setting        threshold  P_A    P_B    P_reward  P_forecast  (share naming a leader)")
    for label, (a2, b2) in SETTINGS.items():
        probs = []
        for i in range(args.pairs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cmp = compare([run("a"), run("b", a2, b2)], n=300, seed=i, progress=False)
            p = cmp.pairwise.iloc[0]
            probs.append([p["P_A"], p["P_B"], p["P_reward"], p["P_forecast"]])
        pr = np.array(probs)
        for thr in (0.8, 0.9, 0.95):
            named = ((pr >= thr) | (pr <= 1 - thr)).mean(axis=0)
            print(f"{label:<15}{thr:<11}" + "".join(f"{v:<7.2f}" for v in named))
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
