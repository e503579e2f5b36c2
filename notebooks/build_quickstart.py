"""Write notebooks/quickstart.ipynb (without outputs) from the cells below.

    python notebooks/build_quickstart.py            # write the notebook
    python notebooks/build_quickstart.py --execute  # write it, then run it to check it works

The committed notebook carries no outputs; tests/test_notebook_and_examples.py executes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

CELLS = [
    ("md", """# rlscaling quickstart

Validation reward of an RL run on a language model, plotted against training compute, follows a
saturating curve. rlscaling fits

$$R(C) = R_0 + \\frac{A - R_0}{1 + (C_{mid} / C)^B}$$

- **A**: the asymptote, the reward the recipe reaches with unlimited compute;
- **B**: how sharply the recipe turns compute into reward (efficiency);
- **C_mid**: the compute at which half of the gain A - R0 is reached;
- **R0**: the reward before training.

This notebook goes from loading a run to a fit, its uncertainty, a forecast from half a run,
the compute needed for a target, and a comparison of two recipes. The bundled example runs are
**synthetic** curves with parameters modelled on the ScaleRL paper (Khatri et al. 2025,
arXiv 2510.13786), so we know the truth they were drawn from."""),
    ("code", """%matplotlib inline
import tempfile
from pathlib import Path

from rlscaling import (
    compare,
    compute_to_reach,
    fit_sigmoid,
    forecast,
    load_example,
    load_run,
)

run = load_example("scalerl_like")
run"""),
    ("md", """## Load a run from a file

Your own runs come from CSV, JSONL, Parquet, TensorBoard logs, a Weights & Biases chart export
or the trainer's run directories. Here we write the example to a CSV with typical column names
and read it back: `load_run` infers the compute and reward columns (pass `compute=` and
`reward=` when it cannot) and records what it did in `metadata`."""),
    ("code", """folder = Path(tempfile.mkdtemp())
frame = run.to_frame().rename(columns={"compute": "gpu_hours", "reward": "val_reward"})
frame.to_csv(folder / "my_run.csv", index=False)

my_run = load_run(folder / "my_run.csv")
print(my_run)
my_run.metadata["columns"], my_run.metadata["compute_unit"]"""),
    ("md", """A log already in pandas goes the same way: `fit_sigmoid(df)` and `forecast(df)` find
its columns as `load_run` finds a file's. A training log that records the evaluation only every
few steps has empty cells between: `nan_policy="omit"` leaves those rows out and says how many.
An accuracy logged in percent is a pass rate on another scale: a reward whose values all lie
in [0, 100], some above 10, is read as one and forecast as a pass rate (kept below 100, with
the settings learned on pass rates), and a note says so; `reward_range=None` forecasts it as
an open-ended score, `reward_range=(low, high)` gives other bounds."""),
    ("code", """import pandas as pd

df = pd.read_csv(folder / "my_run.csv")
print(f"A from the DataFrame: {fit_sigmoid(df).A:.4f}")
# a training step logged between each two evaluations: no val_reward on those rows
hours = df["gpu_hours"].to_numpy()
between = pd.DataFrame({"gpu_hours": (hours[:-1] + hours[1:]) / 2})
train_log = pd.concat([df, between]).sort_values("gpu_hours")
first_half = train_log[train_log["gpu_hours"] <= df["gpu_hours"].median()]
print(forecast(first_half, nan_policy="omit", seed=0).notes)
in_percent = df.assign(val_reward=100 * df["val_reward"]).iloc[: len(df) // 2]
print(forecast(in_percent, seed=0).summary())  # its last note says how it was read"""),
    ("md", """## Fit the curve

`fit_sigmoid` returns a `SigmoidFit` with the parameters, their standard errors and a flag that
says whether the data actually pin them down (a run that stops before `C_mid` cannot tell you
its asymptote)."""),
    ("code", """fit = fit_sigmoid(my_run)
print(fit.summary())
print("true values:", {k: run.metadata[k] for k in ("A", "B", "C_mid")})"""),
    ("code", """ax = fit.plot(extend=3)
ax.figure"""),
    ("md", """## Uncertainty: bootstrap intervals

Consecutive evaluations of one run share its history, so their noise is correlated; the block
bootstrap resamples runs of neighbouring residuals and keeps that correlation."""),
    ("code", """boot = fit.bootstrap(300, method="block", seed=0)
lo, hi = boot.interval("A", 0.9)
print(f"A = {fit.A:.3f}, 90% interval [{lo:.3f}, {hi:.3f}]")
print(boot.summary())"""),
    ("md", """## Forecast the end of a run from its first half

Pretend the run is half done: keep the points up to half of its final compute, and forecast the
reward at the full budget. The interval is what to plan with; the held-out end of the run
shows how it did."""),
    ("code", """half = my_run.truncate(0.5)
budget = float(my_run.compute.max())
fc = forecast(half, budget=budget, seed=0)
print(fc.summary())
print(f"actual mean of the last 3 evaluations: {my_run.reward[-3:].mean():.4f}")
print(f"P(reward at budget >= 0.6) = {fc.prob_at_least(0.6):.2f}")"""),
    ("code", """ax = fc.plot()
ax.scatter(my_run.compute[my_run.compute > half.compute.max()],
           my_run.reward[my_run.compute > half.compute.max()],
           s=8, color="0.6", label="held out")
ax.legend(fontsize=8)
ax.figure"""),
    ("md", """## How much compute to reach a target?

`compute_to_reach` answers with a distribution: a median, an interval, and the probability that
the target lies above the run's plausible asymptote."""),
    ("code", """target = compute_to_reach(half, 0.58, seed=0)
print(target.summary())"""),
    ("md", """## Compare two recipes

`compare` fits each run, draws bootstrap samples and reports A, B and C_mid with intervals, the
probability that one recipe's asymptote (and its reward at a budget) beats the other's, and the
compute where their curves cross: a recipe that leads early can lose at scale. When two
asymptotes agree within 0.02, the comparison moves to B, as in the ScaleRL paper."""),
    ("code", """cmp = compare([load_example("scalerl_like"), load_example("moe_like")], n=300, seed=0)
print(cmp.summary())
cmp.table[["recipe", "A", "A_lower", "A_upper", "B", "C_mid"]]"""),
    ("code", """ax = cmp.plot()
ax.figure"""),
    ("md", """## Real runs: the calibration sweep

The package also ships real RL runs of its reference trainer: a sweep of recipes x seeds on a
countdown task with a tiny model, each run to its plateau (a pass rate near 0.2-0.3 that depends
on the recipe), with compute in training FLOPs. A run that is a third done: where does it end,
and how sure are we?"""),
    ("code", """from rlscaling.io.datasets import calibration_runs
from rlscaling.decide.seeds import seed_spread

runs = calibration_runs()
print(len(runs), "runs:", sorted({r.metadata["recipe"] for r in runs}))
real = next(r for r in runs if r.metadata["recipe"] == "scalerl" and r.metadata["seed"] == 0)
third = real.truncate(1 / 3)
fc_real = forecast(third, budget=float(real.compute.max()), average_of=3, seed=0)
print(fc_real.summary())
print(f"actual mean of the last 3 evaluations: {real.reward[-3:].mean():.4f}")"""),
    ("md", """Asked at several budgets at once, the forecast draws the run's likely path as a fan:
each budget gets the forecast it gets alone. The grey points are the rest of the run, which the
forecast did not see."""),
    ("code", """import numpy as np

path = np.geomspace(1.1 * third.compute.max(), real.compute.max(), 12)
ax = forecast(third, budget=path, average_of=3, seed=0).plot()
later = real.compute > third.compute.max()
ax.scatter(real.compute[later], real.reward[later], s=8, color="0.6", label="held out")
ax.legend(fontsize=8)
ax.figure"""),
    ("md", """Which recipe should get the big budget? `compare` pools the seeds of each recipe, so the
spread between seeds is inside its intervals. A forecast is about one run; the next run of a
recipe has its own seed, and `seed_spread(...).inflate(forecast)` widens a forecast by the
spread measured between seeds."""),
    ("code", """cmp_real = compare(runs, n=300, seed=0)
print(cmp_real.table[["recipe", "n_runs", "A", "A_lower", "A_upper", "B"]].round(3))
spread = seed_spread(runs)
print(spread.summary())
print(spread.inflate(fc_real).summary())"""),
    ("md", """## Next steps

- `rlscaling.backtest(runs)` checks forecasts made from 25/50/75% of finished runs against their
  ends, beside naive baselines; `rlscaling.decide.report.early_fit_report(runs).write("report")` (or
  `rlscaling report calibration --out report`) lays the evidence out as an HTML page.
- Several seeds of one recipe (same `metadata["recipe"]`) are pooled by `compare`, so the spread
  between seeds shows in the intervals.
- The same is available from the shell: `rlscaling fit`, `forecast`, `compare`, `backtest` and
  `demo`, each with `--json`, `--csv` and `--figure`."""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(argv: list[str]) -> None:
    nb = build()
    path = HERE / "quickstart.ipynb"
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"wrote {path}")
    if "--execute" in argv:
        from nbclient import NotebookClient

        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
        print("executed without errors")


if __name__ == "__main__":
    main(sys.argv[1:])
