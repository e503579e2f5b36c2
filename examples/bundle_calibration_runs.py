"""Copy a finished calibration sweep into the package as the bundled dataset (kilobytes).

Per run it keeps ``run.json`` (config, versions, parameter counts), ``eval.jsonl`` (the curve)
and ``train_summary.jsonl``: train.jsonl averaged over each evaluation interval for a few
columns (reward, kept/filtered prompts, truncation, length, staleness, entropy, clipping,
sampler-trainer log-prob gap, step seconds). Checkpoints and base models are not copied.

Run after the sweep has finished::

    rlscaling sweep --config examples/configs/calibration_sweep.yaml \\
        --recipes scalerl,grpo,dapo,scalerl_no_zvf
    python examples/bundle_calibration_runs.py runs/calibration
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

DEST = Path(__file__).resolve().parents[1] / "src" / "rlscaling" / "data" / "calibration_runs"
SUMMARY = (
    "reward", "kept_prompts", "filtered_prompts", "active_prompts", "truncated_frac",
    "interrupted_frac", "mean_response_len", "staleness_mean", "staleness_max", "entropy",
    "clip_frac", "ratio_mean", "logprob_gap", "grad_norm", "step_seconds", "tokens_per_second",
)  # fmt: skip


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarise(train: list[dict], eval_steps: list[int]) -> list[dict]:
    """Mean of each column over the steps since the previous evaluation."""
    out, prev = [], 0
    for step in eval_steps[1:]:
        window = [r for r in train if prev < r["step"] <= step]
        prev = step
        if not window:
            continue
        row = {"step": step, "steps": len(window), "compute": window[-1]["compute"]}
        row["device_seconds"] = window[-1]["device_seconds"]
        for key in SUMMARY:
            vals = [r[key] for r in window if r.get(key) is not None]
            if vals:
                row[key] = round(float(np.mean(vals)), 6)
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", type=Path, help="out_dir of the sweep (holds sweep.json)")
    ap.add_argument("--dest", type=Path, default=DEST, help="where to write (default: package)")
    args = ap.parse_args()
    manifest = json.loads((args.sweep_dir / "sweep.json").read_text())
    dest: Path = args.dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    runs = []
    for row in manifest["runs"]:
        src = Path(row["out_dir"])
        if not src.is_absolute() and not src.exists():
            src = args.sweep_dir / row["recipe"] / f"seed{row['seed']}"
        evals = read_jsonl(src / "eval.jsonl")
        info = json.loads((src / "run.json").read_text())
        steps = info["config"]["steps"]
        if not evals or evals[-1]["step"] < steps:
            raise SystemExit(f"{src} has not finished ({evals[-1]['step'] if evals else 0} steps)")
        dst = dest / row["recipe"] / f"seed{row['seed']}"
        dst.mkdir(parents=True)
        shutil.copy(src / "run.json", dst / "run.json")
        shutil.copy(src / "eval.jsonl", dst / "eval.jsonl")
        summary = summarise(read_jsonl(src / "train.jsonl"), [e["step"] for e in evals])
        (dst / "train_summary.jsonl").write_text("".join(json.dumps(r) + "\n" for r in summary))
        runs.append({**row, "out_dir": f"{row['recipe']}/seed{row['seed']}"})
    doc = {k: v for k, v in manifest.items() if k != "runs"}
    doc["runs"] = runs
    (dest / "manifest.json").write_text(json.dumps(doc, indent=2) + "\n")
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"wrote {len(runs)} runs to {dest} ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
