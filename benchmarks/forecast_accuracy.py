"""Forecast accuracy on real learning curves, per family and density, leave-one-source-out.

Curves: ``curves.csv`` (Pythia evaluations, (Mis)Fitting losses, GRPO teaching runs, RL Zoo
agents), ``curves_rl.csv`` (public RL post-training runs of language models) and the bundled
calibration runs, each at its own density and, when it has more than 20 evaluations, also
thinned to 12-20 evenly spaced evaluations (``benchmarks/devcurves.py``). Loss curves are
negated so that higher is better.

Protocol, for every curve of ``n`` evaluations and fraction f in (0.25, 0.5, 0.75): observe the
evaluations up to f of the final compute, among the first ``n - 3``; forecast the mean of the
last three evaluations with ``forecast(x, reward=y, budget=x[-2], average_of=3)``. Errors are
absolute, divided by the curve's range (max - min over the whole curve), so accuracies, losses
and returns are comparable. A case needs 2 observed evaluations (fewer is an error by design).

Methods, scored on the same cases:

- rlscaling: ``forecast(..., method="auto")`` with a prior learned by the prior module on the
  OTHER sources only (leave-one-source-out): no curve is scored by a prior that saw its source;
- last: carry the last observed value forward;
- smooth: an exponentially weighted level of the observed values, its weight chosen on the
  run's own past (the one minimising the one-step-ahead squared error; weight 1 is the last
  value, so it is a "smoothed carry-last" that adapts to the noise of the run;
  ``rlscaling.forecasting.ensemble.smoothed_level``);
- local: a local-linear (Holt) level, its level and slope weights chosen the same way
  (``rlscaling.forecasting.ensemble.local_level``, the forecaster's level step alone);
- last3: the mean of the last 3 observed values.

Printed per family (rl_reward, rl_train_batch, pretrain_eval, loss, rl_returns; see
``benchmarks/devcurves.py``), per density (dense, thin)
and overall at each fraction: median and mean error, their ratios to ``last``, ``smooth``
and ``local`` (below 1 is better), and the coverage of the truth by the 80% and 90% intervals.
Then, for the RL reward family, the thinned curves and all curves, each headline value with a
90% bootstrap interval over curves (``--bootstrap``): how far it would move on another draw of
curves like these.

    python benchmarks/forecast_accuracy.py [--quick] [--fractions 0.25,0.5,0.75] [--by-horizon]
        [--no-lag]

``--quick`` keeps at most 8 curves per source and density (about a fifth of the cases), for
development; the table in ``docs/forecasting.md`` is from the full run. Results are cached in
``benchmarks/.cache`` keyed by the library's source, the data and the arguments, so a rerun
of unchanged code only prints.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from devcurves import DEFAULT, DEFAULT_RL, all_dev_curves, family_of, thinned

import rlscaling
from rlscaling import forecast
from rlscaling.forecasting.ensemble import local_level, smoothed_level
from rlscaling.forecasting.prior import ForecastPrior, corpus_cases, prior_from_cases
from rlscaling.io.errors import InputError

CACHE = Path(__file__).parent / ".cache"
FAMILIES = ("rl_reward", "rl_train_batch", "pretrain_eval", "loss", "rl_returns")


def protocol_part(run, fraction: float):
    """Observed part: evaluations up to ``fraction`` of the final compute, never the last 3."""
    n = len(run)
    keep = (run.compute <= fraction * run.compute[-1] * (1 + 1e-12)) & (np.arange(n) < n - 3)
    return run.select(keep)


def quick_subset(runs: list, per_group: int) -> list:
    """At most ``per_group`` curves per (source, density), evenly spread over each group."""
    groups: dict[tuple[str, str], list] = {}
    for r in runs:
        groups.setdefault((r.metadata["source"], r.metadata["density"]), []).append(r)
    out = []
    for members in groups.values():
        idx = np.unique(np.linspace(0, len(members) - 1, min(per_group, len(members))).round())
        out += [members[int(i)] for i in idx]
    return out


def code_key(args: argparse.Namespace) -> str:
    h = hashlib.sha256()
    src = Path(rlscaling.__file__).parent
    # every module of the package (the forecaster lives in subpackages), and the bundled data
    for p in sorted(src.rglob("*.py")) + sorted((src / "data").glob("*.json")):
        h.update(p.read_bytes())
    for p in (Path(__file__), Path(__file__).with_name("devcurves.py"), args.curves, args.rl):
        h.update(Path(p).read_bytes())
    h.update(
        repr((args.quick, args.fractions, args.samples, args.by_horizon, args.no_lag)).encode()
    )
    return h.hexdigest()[:16]


def run_cases(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, int]]:
    fractions = tuple(float(v) for v in args.fractions.split(","))
    runs, dropped = all_dev_curves(args.curves, args.rl, thin=False)
    if args.quick:
        runs = quick_subset(runs, 8)
    runs = runs + thinned(runs)
    print(f"{len(runs)} curves (with thinned copies); loading: {dropped}")
    src_of = {r.name: r.metadata["source"] for r in runs}

    # Leave-one-source-out priors, learned on the backtest cases of the other sources.
    base = ForecastPrior()
    t0 = time.time()
    cases, refused = corpus_cases(runs, fractions, base, progress=True)
    print(f"prior cases: {len(cases)} in {time.time() - t0:.0f} s; refused {refused}")
    priors = {}
    for src in sorted(set(src_of.values())):
        train = [c for c in cases if src_of[c.name] != src]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # as the bundled prior is learned: without multipliers per horizon, which across
            # unlike sources trade one source's coverage for another's (--by-horizon: with),
            # and with a symmetric few-point interval (learn_default_prior.py says why)
            priors[src] = prior_from_cases(
                train,
                {},
                base,
                label=f"without {src}",
                by_horizon=args.by_horizon,
                lag=not args.no_lag,
                two_sided_few_point=False,
            )
        p = priors[src]
        learned = {
            k: tuple(v if v is None else round(v, 2) for v in o.values())
            for k, o in p.kinds.items()
        }
        print(
            f"prior without {src}: (weight, strength, gain horizon, trend share, scale) "
            f"pooled ({p.prior_weight}, {p.prior_strength}, {p.gain_horizon}, "
            f"{p.trend_weight}, {p.interval_scale:.2f}), by kind "
            f"{learned}, few-point (weight, scale, skew) "
            f"({p.few_point_weight}, {p.few_point_scale:.2f}, {p.few_point_skew:.2f}), "
            f"lag shift {p.lag_shift:.3f}"
        )

    from tqdm.auto import tqdm

    rows, n_notes = [], 0
    for run in tqdm(runs, desc="forecast", unit="run"):
        scale = float(np.ptp(run.reward)) or 1.0
        truth = float(run.reward[-3:].mean())
        budget = float(run.compute[-2])
        for f in fractions:
            part = protocol_part(run, f)
            row = {
                "curve": run.name,
                "source": run.metadata["source"],
                "family": run.metadata["family"],
                "density": run.metadata["density"],
                "fraction": f,
                "observed": len(part),
            }
            if len(part) < 2:
                row["skip"] = "fewer than 2 observed evaluations"
                rows.append(row)
                continue
            y = part.reward
            row["last"] = abs(y[-1] - truth) / scale
            row["smooth"] = abs(smoothed_level(y)[0] - truth) / scale
            row["local"] = abs(local_level(y)[0] - truth) / scale
            row["last3"] = abs(y[-3:].mean() - truth) / scale
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    fc = forecast(
                        part.compute,
                        reward=y,
                        budget=budget,
                        average_of=3,
                        prior=priors[run.metadata["source"]],
                        n_samples=args.samples,
                        seed=0,
                    )
            except (InputError, ValueError) as exc:
                row["refused"] = str(exc).split(":")[0][:60]
                rows.append(row)
                continue
            n_notes += len(caught)
            row["rlscaling"] = abs(fc.median[0] - truth) / scale
            row["kind"] = getattr(fc, "kind", "")
            for lv in (0.8, 0.9):
                lo, hi = fc.interval(lv)
                row[f"cover{lv:g}"] = float(lo[0] <= truth <= hi[0])
                row[f"width{lv:g}"] = float(hi[0] - lo[0]) / scale
            rows.append(row)
    print(f"forecast caveats raised (ForecastWarning): {n_notes}")
    return pd.DataFrame(rows), refused


def model_methods(args: argparse.Namespace) -> None:
    """Error and coverage of ``method="sigmoid"`` and ``"mcmc"`` beside ``"auto"``.

    On ``--model-methods`` curves per family (evenly spread, dense and thinned alike) at half
    of their compute: these methods trust the sigmoid's shape and are not calibrated on real
    curves; this measures how far their intervals are from nominal.
    """
    runs, _ = all_dev_curves(args.curves, args.rl)
    rows = []
    for fam in FAMILIES:
        members = [
            r for r in runs if r.metadata["family"] == fam and len(protocol_part(r, 0.5)) >= 5
        ]
        idx = np.unique(np.linspace(0, len(members) - 1, args.model_methods).round())
        for i in idx:
            run = members[int(i)]
            part = protocol_part(run, 0.5)
            scale = float(np.ptp(run.reward)) or 1.0
            truth = float(run.reward[-3:].mean())
            for method in ("auto", "sigmoid", "mcmc"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        fc = forecast(
                            part.compute,
                            reward=part.reward,
                            budget=run.compute[-2],
                            average_of=3,
                            method=method,
                            n_samples=args.samples,
                        )
                    except (InputError, ValueError):
                        continue
                row = {"family": fam, "method": method, "error": abs(fc.median[0] - truth) / scale}
                for lv in (0.8, 0.9):
                    lo, hi = fc.interval(lv)
                    row[f"cov{lv:g}"] = float(lo[0] <= truth <= hi[0])
                rows.append(row)
    df = pd.DataFrame(rows)
    print(
        "\nModel-only methods at 50% of compute (bundled prior for auto; error relative to range)"
    )
    out = df.groupby(["method", "family"]).agg(
        cases=("error", "size"),
        median=("error", "median"),
        mean=("error", "mean"),
        cov80=("cov0.8", "mean"),
        cov90=("cov0.9", "mean"),
    )
    print(out.round(3).to_string())
    print(df.groupby("method")[["error", "cov0.8", "cov0.9"]].mean().round(3).to_string())


def summarise(g: pd.DataFrame) -> dict:
    ans = g.dropna(subset=["rlscaling"])
    out = {"cases": len(g.dropna(subset=["last"])), "refused": int(g["refused"].notna().sum())}
    if ans.empty:
        return out
    e, last, smooth = ans["rlscaling"], ans["last"], ans["smooth"]
    # results saved before the local-linear baseline existed have no "local" column
    local = ans["local"] if "local" in ans else pd.Series(np.nan, index=ans.index)
    out.update(
        median=e.median(),
        med_vs_last=e.median() / max(last.median(), 1e-12),
        med_vs_smooth=e.median() / max(smooth.median(), 1e-12),
        mean=e.mean(),
        mean_vs_last=e.mean() / max(last.mean(), 1e-12),
        mean_vs_smooth=e.mean() / max(smooth.mean(), 1e-12),
        med_vs_local=e.median() / max(local.median(), 1e-12),
        mean_vs_local=e.mean() / max(local.mean(), 1e-12),
        smooth_vs_last=smooth.median() / max(last.median(), 1e-12),
        cov80=ans["cover0.8"].mean(),
        cov90=ans["cover0.9"].mean(),
        width90=ans["width0.9"].median(),
    )
    return out


def report(df: pd.DataFrame) -> pd.DataFrame:
    if "refused" not in df:
        df["refused"] = np.nan
    lines = []
    groups = [("all", "all", df)]
    groups += [("all", d, g) for d, g in df.groupby("density")]
    for fam in FAMILIES:
        g = df[df["family"] == fam]
        groups.append((fam, "all", g))
        groups += [(fam, d, gg) for d, gg in g.groupby("density")]
    for fam, dens, g in groups:
        for f, gf in g.groupby("fraction"):
            lines.append({"family": fam, "density": dens, "at": f, **summarise(gf)})
    table = pd.DataFrame(lines)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 200)
    print(
        "\nAbsolute error of the forecast of the mean of the last 3 evaluations, relative to each "
        "curve's range;\nratios are rlscaling's median (mean) error over the baseline's, on the "
        "same cases (below 1 is better)"
    )
    print(table.round(3).to_string(index=False))
    skipped = df["skip"].notna().sum() if "skip" in df else 0
    print(f"\ncases skipped (fewer than 2 observed evaluations, all methods): {skipped}")
    return table


# the cells: the RL reward family, the thinned curves and everything, at each fraction
RESOLUTION_CELLS = (("all", "all"), ("all", "thin"), ("rl_reward", "all"))


def resolution(df: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """90% bootstrap intervals of the headline ratios and coverages of :data:`RESOLUTION_CELLS`.

    A cell holds 100-700 cases from a few dozen curves, so its median ratio moves by a tenth
    when a handful of curves change: a bar like "0.85x carry-last" can be met or missed by the
    draw of curves alone. Curves are resampled with replacement (a dense curve and its thinned
    copy together, as one unit: they are not independent), so the interval says how far the
    cell would move on another set of curves like these.
    """
    rng = np.random.default_rng(seed)
    ans = df.dropna(subset=["rlscaling"]).copy()
    ans["unit"] = ans["curve"].str.split("#").str[0]
    rows = []
    for fam, dens in RESOLUTION_CELLS:
        g = ans if fam == "all" else ans[ans["family"] == fam]
        g = g if dens == "all" else g[g["density"] == dens]
        for f, gf in g.groupby("fraction"):
            cols = gf[["rlscaling", "last", "cover0.8", "cover0.9"]].to_numpy(float)
            rows_of = [np.flatnonzero(gf["unit"].to_numpy() == u) for u in gf["unit"].unique()]
            stats = []
            for _ in range(n_boot):
                pick = rng.integers(len(rows_of), size=len(rows_of))
                v = cols[np.concatenate([rows_of[i] for i in pick])]
                med, mean = np.median(v[:, :2], axis=0), v.mean(axis=0)
                stats.append(
                    (med[0] / max(med[1], 1e-12), mean[0] / max(mean[1], 1e-12), *mean[2:])
                )
            lo, hi = np.quantile(np.array(stats), [0.05, 0.95], axis=0)
            point = summarise(gf)
            row = {"family": fam, "density": dens, "at": f, "curves": len(rows_of)}
            for i, key in enumerate(("med_vs_last", "mean_vs_last", "cov80", "cov90")):
                row[key] = f"{point[key]:.2f} [{lo[i]:.2f}, {hi[i]:.2f}]"
            rows.append(row)
    table = pd.DataFrame(rows)
    print(
        "\nSampling resolution: each value with its 90% bootstrap interval over curves "
        f"({n_boot} resamples)"
    )
    print(table.to_string(index=False))
    return table


def markdown(table: pd.DataFrame) -> str:
    """The table as markdown rows (the layout of docs/forecasting.md)."""
    head = (
        "| family | density | at | cases | refused | median | x last | x smooth | x local | mean "
        "| x last | x smooth | x local | cov80 | cov90 |"
    )
    lines = [head, "|" + " --- |" * 15]
    for r in table.itertuples():
        lines.append(
            f"| {r.family} | {r.density} | {r.at:g} | {r.cases} | {r.refused} | {r.median:.3f} "
            f"| {r.med_vs_last:.2f} | {r.med_vs_smooth:.2f} | {r.med_vs_local:.2f} | {r.mean:.3f} "
            f"| {r.mean_vs_last:.2f} | {r.mean_vs_smooth:.2f} | {r.mean_vs_local:.2f} "
            f"| {r.cov80:.2f} | {r.cov90:.2f} |"
        )
    return "\n".join(lines)


def print_tables(df: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """The report's tables of a results frame: per family and density, as markdown
    (``--markdown``), and the sampling resolution (``--bootstrap``)."""
    table = report(df)
    if args.markdown:
        print(markdown(table))
    if args.bootstrap:
        resolution(df, args.bootstrap)
    return table


def main(args: argparse.Namespace) -> pd.DataFrame:
    t0 = time.time()
    if args.report:
        # the tables of a saved results file (e.g. an earlier version's), families relabelled
        # by the current rules of devcurves.family_of
        df = pd.read_csv(args.report)
        down = df["source"].eq("misfit") | df["curve"].str.contains("val_loss")
        df["family"] = [
            family_of(c.split("#")[0], "down" if d else "up")
            for c, d in zip(df["curve"], down, strict=True)
        ]
        return print_tables(df, args)
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"forecast_accuracy-{code_key(args)}.csv"
    if cached.is_file() and not args.no_cache:
        print(f"cached results {cached.name} (same code, data and arguments)")
        df = pd.read_csv(cached)
    else:
        df, _ = run_cases(args)
        df.to_csv(cached, index=False)
    table = print_tables(df, args)
    if args.model_methods:
        model_methods(args)
    print(f"wall time {time.time() - t0:.0f} s")
    return table


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--curves", type=Path, default=DEFAULT)
    ap.add_argument("--rl", type=Path, default=DEFAULT_RL)
    ap.add_argument("--fractions", default="0.25,0.5,0.75")
    ap.add_argument("--quick", action="store_true", help="at most 8 curves per source and density")
    ap.add_argument("--samples", type=int, default=1000, help="predictive draws per forecast")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument(
        "--by-horizon",
        action="store_true",
        help="folds' priors learn interval multipliers per horizon (fit_prior's default)",
    )
    ap.add_argument(
        "--no-lag",
        action="store_true",
        help="folds' priors learn no lag shift (fit_prior lag=False)",
    )
    ap.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    ap.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        help="resamples of curves for the sampling-resolution table (0: none)",
    )
    ap.add_argument("--report", type=Path, help="only print the tables of a saved results CSV")
    ap.add_argument(
        "--model-methods",
        type=int,
        default=0,
        help="also score method='sigmoid' and 'mcmc' on this many curves per family at 50%%",
    )
    main(ap.parse_args())
