"""Loading a long log: ``load_run`` on 1e6 rows as JSONL, CSV and Parquet.

Each format is loaded in a fresh Python process (so peak memory is its own): best wall time
of ``--repeat`` loads and the peak resident memory the loads added above the process after its
imports (Linux: the peak is reset through /proc/self/clear_refs, read as VmHWM). JSONL is
loaded by the fast reader (pyarrow's JSON reader, with the torn last line
still skipped, warned and counted) and, once, by the exact line-by-line reader it falls back
to (the path every JSONL file took before), for the before/after. Ratios are against CSV in
the same run. Another run's load on the machine shifts absolute times; the ratios hold better.

    python benchmarks/load_speed.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

CHILD = r"""
import json, sys, time, warnings
import pyarrow, pandas  # imported before the baseline: every format pays them
import rlscaling.io.readers.jsonl as J
from rlscaling.io.loaders import load_run
path, repeat, exact = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "exact"
if exact:
    J._jsonl_frame_fast = lambda p: None
def rss_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
base = rss_kb("VmRSS:")
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
    fh.write("5")
best = float("inf")
for _ in range(repeat):
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = load_run(path)
    best = min(best, time.perf_counter() - t)
peak = rss_kb("VmHWM:") - base
print(json.dumps({"s": best, "mb": peak / 1024, "n": len(run),
                  "torn": run.metadata["omitted"].get("torn_last_line", 0),
                  "warned": len(caught), "reward_sum": float(run.reward.sum())}))
"""


def write_files(d: Path, rows: int) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    step = np.arange(1, rows + 1)
    df = pd.DataFrame(
        {
            "step": step,
            "compute": step * 3.7e15,
            "reward": np.clip(
                0.1 + 0.5 * step / (step + rows / 3) + rng.normal(0, 0.02, rows), 0, 1
            ),
            "n_prompts": 512,
            "n_samples": 4,
        }
    )
    paths = {"csv": d / "log.csv", "jsonl": d / "log.jsonl", "parquet": d / "log.parquet"}
    df.to_csv(paths["csv"], index=False)
    df.to_parquet(paths["parquet"])
    with open(paths["jsonl"], "w") as fh:
        for rec in df.to_dict("records"):
            fh.write(json.dumps(rec) + "\n")
        fh.write('{"step": 0, "compute": 1e18, "rew')  # a write cut off mid-line
    return paths


def load(path: Path, repeat: int, exact: bool = False) -> dict:
    cmd = [sys.executable, "-c", CHILD, str(path), str(repeat), "exact" if exact else "fast"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(rows: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), rows)
        res = {fmt: load(p, repeat) for fmt, p in paths.items()}
        res["jsonl, exact reader"] = load(paths["jsonl"], 1, exact=True)
    csv = res["csv"]
    print(f"load_run on {rows:,} rows (best of {repeat}; exact reader once), this machine")
    print(f"{'format':<22}{'time s':>8}{'x CSV':>7}{'peak MB':>9}{'x CSV':>7}  rows  torn/warned")
    for fmt, r in res.items():
        print(
            f"{fmt:<22}{r['s']:8.2f}{r['s'] / csv['s']:7.1f}{r['mb']:9.0f}"
            f"{r['mb'] / max(csv['mb'], 1):7.1f}  {r['n']}  {r['torn']}/{r['warned']}"
        )
    fast, exact = res["jsonl"], res["jsonl, exact reader"]
    same = fast["n"] == exact["n"] and abs(fast["reward_sum"] - exact["reward_sum"]) < 1e-9
    print(
        f"JSONL fast reader vs exact reader: {exact['s'] / fast['s']:.1f}x faster, "
        f"{exact['mb'] / max(fast['mb'], 1):.1f}x less memory, same points: {same}"
    )
    print("goal: JSONL within 3x of CSV in time and memory")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    main(args.rows, args.repeat)
