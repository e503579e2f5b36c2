"""What earlier runs teach about new ones: the forecaster's prior, learned from a corpus.

:class:`ForecastPrior` holds the settings of the ``"auto"`` forecaster that are learned from
real learning curves rather than fixed by hand: how much to trust a sigmoid's extrapolation by
default (``prior_weight``) and against the run's own evidence (``prior_strength``), how fast
a plateau's level drifts with horizon, and how much to widen intervals so that they cover what
they say. :func:`fit_prior` learns them from a user's own past runs; :func:`default_forecast_config`
returns the bundled one, learned from public development curves (see ``docs/forecasting.md``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from rlscaling.forecasting.ensemble import auto_components, auto_point_sd, stacking_weight
from rlscaling.io.checks import InputError

if TYPE_CHECKING:
    from rlscaling.io.runs import Run


@dataclass(frozen=True)
class ForecastPrior:
    """Learned settings of the ``"auto"`` forecaster (see the module docstring)."""

    r0: str = "free"
    plateau_k: int | None = None
    plateau_drift: float = 2.0
    lfo_fractions: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
    prior_weight: float = 1.0
    prior_strength: float = 2.0
    decline_max_weight: float = 0.1
    gain_clip: float = 0.5
    disagreement_scale: float = 0.5
    trend_scale: float = 0.3
    interval_scale: float = 1.0
    tail_dof: float = 4.0
    noise_floor_from_fit: bool = False
    learned_from: str = "hand-set defaults"
    scores: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lfo_fractions"] = list(self.lfo_fractions)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForecastPrior:
        d = dict(d)
        if "lfo_fractions" in d:
            d["lfo_fractions"] = tuple(d["lfo_fractions"])
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown ForecastPrior fields {sorted(unknown)}")
        return cls(**d)


def default_forecast_config() -> ForecastPrior:
    """The bundled prior (learned from the development curves), or hand-set defaults."""
    path = resources.files("rlscaling") / "data" / "forecast_prior.json"
    if path.is_file():
        return ForecastPrior.from_dict(json.loads(path.read_text()))
    return ForecastPrior()


@dataclass(frozen=True)
class _Case:
    name: str
    fraction: float
    target: float
    scale: float
    comp: dict[str, Any]


def corpus_cases(
    runs: Sequence[Run],
    fractions: Sequence[float] = (0.25, 0.5, 0.75),
    cfg: ForecastPrior | None = None,
    *,
    progress: bool | None = None,
) -> tuple[list[_Case], dict[str, int]]:
    """Backtest cases from full runs: truncate each at ``fractions`` of its compute, keep what
    the ``"auto"`` forecaster computes there, and the truth (mean of the last 3 evaluations).

    Returns the cases and a count of refusals by reason.
    """
    from tqdm.auto import tqdm

    cfg = cfg or ForecastPrior()
    cases: list[_Case] = []
    refused: dict[str, int] = {}
    show = progress if progress is not None else len(runs) > 50
    for run in tqdm(runs, disable=not show, desc="corpus", unit="run"):
        run, _ = run.without_zero_compute()
        if len(run) < 8:
            refused["run has fewer than 8 evaluations"] = (
                refused.get("run has fewer than 8 evaluations", 0) + 1
            )
            continue
        k = 3
        target = float(run.reward[-k:].mean())
        c_t = np.array([float(np.exp(np.mean(np.log(run.compute[-k:]))))])
        scale = float(np.ptp(run.reward)) or 1.0
        for f in fractions:
            part = run.truncate(f)
            if len(part) < 5 or part.compute.max() >= c_t[0]:
                key = "fewer than 5 evaluations in the observed part"
                refused[key] = refused.get(key, 0) + 1
                continue
            try:
                comp = auto_components(part, c_t, cfg)
            except ValueError as exc:
                key = f"fit refused: {str(exc).split(':')[0]}"
                refused[key] = refused.get(key, 0) + 1
                continue
            comp["average_of"] = k  # the truth is the mean of k evaluations
            cases.append(_Case(run.name, float(f), target, scale, comp))
    return cases, refused


def _errors_and_z(cases: list[_Case], cfg: ForecastPrior) -> tuple[np.ndarray, np.ndarray]:
    err, z = [], []
    unit = replace(cfg, interval_scale=1.0)
    for case in cases:
        comp = dict(case.comp)
        w = stacking_weight(comp["e_sig"], comp["e_pl"], cfg.prior_weight, cfg.prior_strength)
        comp["w"] = min(w, cfg.decline_max_weight) if comp["declining"] else w
        point, _, obs_sd = auto_point_sd(comp, unit)
        e = float(point[0]) - case.target
        err.append(abs(e) / case.scale)
        z.append(e / max(float(obs_sd[0]), 1e-12))
    return np.array(err), np.array(z)


def fit_prior(
    runs: Sequence[Run],
    fractions: Sequence[float] = (0.25, 0.5, 0.75),
    *,
    weight_grid: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    strength_grid: Sequence[float] = (1.0, 2.0, 5.0),
    levels: Sequence[float] = (0.8, 0.9),
    base: ForecastPrior | None = None,
    progress: bool | None = None,
    label: str | None = None,
) -> ForecastPrior:
    """Learn the ``"auto"`` forecaster's prior from a corpus of full runs (empirical Bayes).

    Each run is backtested at ``fractions`` of its compute. The default trust in the sigmoid's
    extrapolated gain (``prior_weight``) and how much one run's own leave-future-out evidence
    can move it (``prior_strength``) are chosen to minimise the mean error relative to each
    run's range; then ``interval_scale`` is set so that the Student-t predictive intervals
    cover the truth at ``levels`` on the corpus (a conformal-style calibration).

    Parameters
    ----------
    runs : sequence of Run
        Full runs (at least 8 evaluations each), rewards oriented so that higher is better.
    fractions : sequence of float
        Where to cut each run.

    Returns
    -------
    ForecastPrior
        Pass it as ``forecast(..., prior=...)``; ``scores`` records the corpus numbers.

    Examples
    --------
    >>> from rlscaling import example_curves
    >>> from rlscaling.forecasting.prior import fit_prior
    >>> prior = fit_prior(example_curves(), fractions=(0.25, 0.5, 0.75), weight_grid=(0.5, 1.0),
    ...                   strength_grid=(2.0,))
    >>> prior.interval_scale > 0
    True
    """
    base = base or ForecastPrior()
    cases, refused = corpus_cases(runs, fractions, base, progress=progress)
    return prior_from_cases(
        cases,
        refused,
        base,
        weight_grid=weight_grid,
        strength_grid=strength_grid,
        levels=levels,
        label=label or f"{len(runs)} runs at fractions {tuple(fractions)}",
    )


def prior_from_cases(
    cases: list[_Case],
    refused: dict[str, int],
    base: ForecastPrior,
    *,
    weight_grid: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    strength_grid: Sequence[float] = (1.0, 2.0, 5.0),
    levels: Sequence[float] = (0.8, 0.9),
    label: str = "corpus",
) -> ForecastPrior:
    """The learning step of :func:`fit_prior`, on precomputed backtest cases."""
    from scipy import stats

    if len(cases) < 10:
        raise InputError(
            f"fit_prior needs at least 10 backtest cases, got {len(cases)} "
            f"(refused: {refused}); give more or longer runs"
        )
    best = None
    for pw in weight_grid:
        for st in strength_grid:
            err, _ = _errors_and_z(cases, replace(base, prior_weight=pw, prior_strength=st))
            score = float(np.mean(err)) + float(np.median(err))
            if best is None or score < best[0]:
                best = (score, pw, st)
    assert best is not None
    cfg = replace(base, prior_weight=best[1], prior_strength=best[2])
    err, z = _errors_and_z(cases, cfg)
    scales = [
        float(np.quantile(np.abs(z), lv) / stats.t.ppf(0.5 + lv / 2, cfg.tail_dof)) for lv in levels
    ]
    scale = float(np.mean(scales))
    cover = {
        f"coverage_{lv:g}": float(
            np.mean(np.abs(z) <= scale * stats.t.ppf(0.5 + lv / 2, cfg.tail_dof))
        )
        for lv in levels
    }
    scores = {
        "cases": len(cases),
        "refused": refused,
        "median_rel_error": float(np.median(err)),
        "mean_rel_error": float(np.mean(err)),
        **cover,
    }
    return replace(
        cfg,
        interval_scale=scale,
        learned_from=label,
        scores=scores,
    )
