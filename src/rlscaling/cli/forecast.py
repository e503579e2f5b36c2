"""``rlscaling forecast``: forecast a run's reward at budgets, or the compute to reach a target."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rlscaling.cli.common import (
    CsvOpt,
    FigureOpt,
    JsonOpt,
    LoadOptions,
    RewardRangeOpt,
    SeedOpt,
    _reward_range,
    _write_figure,
    check_count,
    clean_errors,
    console,
    frame_table,
    read_prior,
    reported_warnings,
    with_load_options,
    write_csv,
    write_json,
)

if TYPE_CHECKING:
    from rlscaling.io.runs import Run


@clean_errors
@with_load_options(one=True)
def forecast_command(
    file: Annotated[str, typer.Argument(help="One run (file or run directory).")],
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            help="Compute budget (default: the planned end a Trainer log records, else 2x "
            "observed).",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="auto, sigmoid, plateau or mcmc.")
    ] = "auto",
    target_reward: Annotated[
        float | None,
        typer.Option("--target-reward", help="Also: compute needed to reach this reward."),
    ] = None,
    n_samples: Annotated[int, typer.Option("--n-samples", help="Predictive draws.")] = 2000,
    reward_range: RewardRangeOpt = "auto",
    prior: Annotated[
        str | None,
        typer.Option(
            "--prior",
            help="A prior learned from your own runs (the JSON `rlscaling prior` writes), or a "
            "kind of curve whose bundled settings to use (e.g. pass_rate-flat); default: the "
            "bundled prior, for the kind the run looks like.",
        ),
    ] = None,
    seed: SeedOpt = 0,
    json_path: JsonOpt = None,
    csv_path: CsvOpt = None,
    figure: FigureOpt = None,
    *,
    load: LoadOptions,
) -> None:
    """Forecast the reward of a (partial) run at a compute budget, with intervals."""
    from rlscaling.forecasting.forecast import compute_to_reach, forecast

    check_count(n_samples, "--n-samples")
    rr = _reward_range(reward_range)
    # what the forecast, the compute to reach the target and the figure's path share
    how: dict[str, Any] = dict(
        method=method, n_samples=n_samples, seed=seed, reward_range=rr, prior=read_prior(prior)
    )
    with reported_warnings():
        (r,) = load([file])
        fc = forecast(r, budget, **how)
        tf = None
        if target_reward is not None:
            tf = compute_to_reach(r, target_reward, **how)
    frame = fc.to_frame(target_reward)
    columns = {"budget": "budget", "x_observed": "x observed", "median": "median"}
    for lv in fc.levels:
        columns |= {
            f"lower_{lv:g}": f"{lv * 100:g}% lower",
            f"upper_{lv:g}": f"{lv * 100:g}% upper",
        }
    formats = {c: ".4f" for c in columns} | {"budget": ".4g", "x_observed": ".2g"}
    if target_reward is not None:
        columns[f"prob_at_least_{target_reward:g}"] = f"P(reward >= {target_reward:g})"
        formats[f"prob_at_least_{target_reward:g}"] = ".2f"
    title = f"Forecast for {fc.name} ({fc.method})"
    console.print(frame_table(frame, title, columns=columns, formats=formats))
    c_obs = float(fc.observed_compute.max())
    console.print(f"observed up to compute {c_obs:.4g}, last reward {fc.observed_reward[-1]:.4f}")
    if fc.prior:
        console.print(f"prior: {fc.prior}", highlight=False, markup=False)
    for lw, wt in fc.weights.items():
        console.print(f"model weight {lw}: {wt:.2f}")
    if tf is not None:
        console.print(tf.summary())
    out: dict[str, Any] = {"forecast": fc.to_dict()}
    if target_reward is not None:  # the table's P column, in the JSON as in the CSV
        col = f"prob_at_least_{target_reward:g}"
        out["prob_at_least"] = {"reward": target_reward, "by_budget": frame[col].tolist()}
    if tf is not None:
        out["compute_to_reach"] = tf.to_dict()
    write_json(json_path, out)
    write_csv(csv_path, frame)
    if figure is not None:
        from rlscaling.plot import plot_forecast

        # The figure shows the path up to the largest budget, not only its end.
        path = _forecast_path(r, fc, how)
        _write_figure(figure, lambda: plot_forecast(path))


def _forecast_path(run: Run, fc: Any, how: dict[str, Any]) -> Any:
    """The forecast of ``run`` on 16 budgets from its last observation to ``fc``'s largest,
    made as ``fc`` was (``how``: method, draws, seed, reward range)."""
    import numpy as np

    from rlscaling.forecasting.forecast import forecast

    c_obs, c_max = float(run.compute.max()), float(np.max(fc.budget))
    if c_max <= c_obs:
        return fc
    grid = np.geomspace(c_obs, c_max, 17)[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # already reported for the forecast itself
        return forecast(run, grid, **how)
