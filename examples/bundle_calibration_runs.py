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

from rlscaling.trainer.runlog import read_jsonl

DEST = Path(__file__).resolve().parents[1] / "src" / "rlscaling" / "data" / "calibration_runs"
SUMMARY = (
    "reward", "kept_prompts", "filtered_prompts", "active_prompts", "truncated_frac",
    "interrupted_frac", "mean_response_len", "staleness_mean", "staleness_max", "entropy",
    "clip_frac", "ratio_mean", "logprob_gap", "grad_norm", "step_seconds", "tokens_per_second",
)  # fmt: skip


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


def readme(doc: dict, sweep_dir: Path, dest_name: str = "calibration_runs") -> str:
    """The dataset's documentation: configs, versions, machine, wall time, how to regenerate."""
    import yaml

    sw = doc["sweep"]
    loader = "calibration_runs" if dest_name == "calibration_runs" else dest_name
    title = (
        "Calibration runs"
        if loader == "calibration_runs"
        else dest_name.replace("_", " ").capitalize()
    )
    base = sw["base"]
    if isinstance(base, str):
        base = yaml.safe_load(Path(base).read_text())
    rows = doc["runs"]
    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    secs = [r["seconds"] for r in rows if r.get("seconds")]
    task = base.get("task", {})
    n_val, n_samples = task.get("n_val", 128), base.get("eval_samples", 4)
    base_path = sw["base"] if isinstance(sw["base"], str) else "the sweep's base"
    sweep_file = sw.get("config_path") or f"examples/configs/{sw['name']}_sweep.yaml"
    lines = [
        f"# {title} (real training runs of the reference trainer)",
        "",
        f"{len(rows)} runs: recipes {', '.join(recipes)} x seeds {', '.join(map(str, seeds))}, "
        "each a full RL run of the bundled reference trainer to its plateau. Compute is "
        "training FLOPs (see `rlscaling.trainer.compute`); the reward is the pass rate on "
        f"{n_val} held-out {task.get('name', '')} prompts x {n_samples} samples. Load them with "
        f"`rlscaling.io.datasets.{loader}()`.",
        "",
        "Per run (`<recipe>/seed<k>/`): `run.json` (the full resolved config, package versions, "
        "parameter counts, tags), `eval.jsonl` (the curve: one line per evaluation), "
        "`train_summary.jsonl` (train.jsonl averaged over each evaluation interval). "
        "`manifest.json` holds the sweep config, versions, machine and per-run wall time.",
        "",
        "## Setting",
        "",
        f"Shared config (`{base_path}`):",
        "",
        "```yaml",
        yaml.safe_dump(base, sort_keys=False).strip(),
        "```",
        "",
        f"Recipes (preset + overrides, `{sweep_file}`):",
        "",
    ]
    lines += [f"- `{name}`: `{json.dumps(sw['recipes'][name])}`" for name in recipes]
    v, m = doc["versions"], doc["machine"]
    lines += [
        "",
        "## Where and how long",
        "",
        f"- Package versions: rlscaling {v.get('rlscaling')}, torch {v.get('torch')}, "
        f"transformers {v.get('transformers')}, Python {v.get('python')}.",
        f"- Machine: {m.get('platform')}, {m.get('cpu_count')} CPU cores, no GPU; "
        "two runs at a time (one per core, one torch thread each), sharing the machine with "
        "other jobs, so wall times are upper bounds.",
        f"- Wall time per run (recorded for {len(secs)} of {len(rows)} runs; a run trained by "
        "another invocation of the sweep keeps no time in the manifest): median "
        f"{np.median(secs) / 60:.1f} min (range {min(secs) / 60:.1f}-{max(secs) / 60:.1f}), "
        f"{sum(secs) / 3600:.2f} run-hours in all.",
        "",
        "## Regenerate",
        "",
        "```bash",
        f"rlscaling sweep --config {sweep_file} \\",
        f"    --recipes {','.join(recipes)}",
        f"python examples/bundle_calibration_runs.py {sweep_dir}"
        + ("" if loader == "calibration_runs" else f" --dest src/rlscaling/data/{dest_name}"),
        "```",
        "",
        "Runs are deterministic given the seed on one machine and library versions (the "
        "inline loop with the torch engine); other hardware or versions give curves that differ "
        "within seed noise.",
    ]
    return "\n".join(lines) + "\n"


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
    (dest / "README.md").write_text(readme(doc, args.sweep_dir, dest.name))
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"wrote {len(runs)} runs to {dest} ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
