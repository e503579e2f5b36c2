"""``rlscaling prior``: learn the forecaster's prior from finished runs of one's own."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlscaling.cli.common import (
    FilesArg,
    FractionsOpt,
    LoadOptions,
    ProgressOpt,
    RewardRangeOpt,
    _floats,
    _reward_range,
    clean_errors,
    console,
    reported_warnings,
    with_load_options,
    write_json,
)

if TYPE_CHECKING:
    from rlscaling.forecasting.prior import ForecastPrior


@clean_errors
@with_load_options()
def prior_command(
    files: FilesArg,
    out: Annotated[
        Path,
        typer.Option("--out", help="Write the learned prior here (JSON), for forecast --prior."),
    ],
    fractions: FractionsOpt = "0.25,0.5,0.75",
    by_horizon: Annotated[
        bool,
        typer.Option(
            "--by-horizon/--one-scale",
            help="Size intervals per horizon (one multiplier per fraction; for runs of one "
            "kind) or with one scale (for runs of unlike kinds).",
        ),
    ] = True,
    reward_range: RewardRangeOpt = "auto",
    progress: ProgressOpt = None,
    *,
    load: LoadOptions,
) -> None:
    """Learn the forecaster's prior from finished runs (backtested at each fraction)."""
    from rlscaling.forecasting.prior import fit_prior

    fr = _floats(fractions, "--fractions")
    with reported_warnings():
        runs = load(files)
        prior = fit_prior(
            runs, fr, progress=progress, reward_range=_reward_range(reward_range),
            by_horizon=by_horizon,
        )  # fmt: skip
    console.print(describe(prior), highlight=False, markup=False)
    write_json(out, prior.to_dict())


def _few_point_line(prior: ForecastPrior) -> str:
    """How runs of 2-4 evaluations are forecast, or that there were too few to learn it."""
    from rlscaling.forecasting.prior import MIN_FEW_POINT_CASES

    n = prior.scores.get("cases_by_kind", {}).get("few_points", 0)
    settings = f"trend share {prior.few_point_weight}, interval scale {prior.few_point_scale:.3f}"
    if n < MIN_FEW_POINT_CASES:
        return (
            f"  runs of 2-4 evaluations: {n} backtest cases, fewer than the "
            f"{MIN_FEW_POINT_CASES} needed to learn from; kept: {settings}"
        )
    skew = prior.few_point_skew
    sides = f" x {skew:.2f} above the point and / {skew:.2f} below" if skew != 1 else ", symmetric"
    return f"  runs of 2-4 evaluations ({n} backtest cases): {settings}{sides}"


def describe(prior: ForecastPrior) -> str:
    """What a learned prior holds and how it scored on the runs it was learned from."""
    s = prior.scores
    lines = [
        f"Prior learned from {prior.learned_from}",
        f"  backtest cases {s['cases']} (by kind: "
        + ", ".join(f"{k} {n}" for k, n in s["cases_by_kind"].items())
        + (f"); refused {s['refused']}" if s["refused"] else ")"),
        f"  error relative to each run's range: median {s['median_rel_error']:.3f}, "
        f"mean {s['mean_rel_error']:.3f}",
        "  coverage on these runs: "
        + ", ".join(
            f"{float(k.removeprefix('coverage_')):.0%} intervals {v:.2f}"
            for k, v in s.items()
            if k.startswith("coverage_")
        ),
        f"  pooled: sigmoid weight {prior.prior_weight}, strength {prior.prior_strength}, "
        f"interval scale {prior.interval_scale:.3f}, lag shift {prior.lag_shift:.3f} sds x "
        "horizon^4 along the recent slope",
        _few_point_line(prior),
    ]
    for kind, over in prior.kinds.items():
        if "interval_scale" in over:
            lines.append(
                f"  {kind}: sigmoid weight {over['prior_weight']}, strength "
                f"{over['prior_strength']}, interval scale {over['interval_scale']:.3f}"
            )
    if prior.horizon_anchors:
        lines.append(
            "  interval multipliers by horizon (e-folds of compute ahead): "
            + ", ".join(
                f"{m:.2f} at {h:.2f}"
                for h, m in zip(prior.horizon_anchors, prior.horizon_scales, strict=True)
            )
        )
    else:
        lines.append("  one interval scale for every horizon")
    return "\n".join(lines)
