"""What earlier runs teach about new ones: the forecaster's prior, learned from a corpus.

:class:`ForecastPrior` holds the settings of the ``"auto"`` forecaster. Some are learned from
real learning curves, pooled and per kind of curve (:data:`KINDS`): how much to trust a
sigmoid's extrapolation by default (``prior_weight``) and against the run's own evidence
(``prior_strength``), how close to the end of a run its weight is capped (``gain_horizon``),
how much of a rising loss's or score's recent pace to carry on (``trend_weight``), and how
much to widen intervals so that they cover what they say (``interval_scale``); and,
pooled only, how that widening changes with how far ahead the forecast looks
(``horizon_scales``) and how a run of 2-4 evaluations is forecast (``few_point_weight``,
``few_point_scale``, ``few_point_skew``). The others (``plateau_drift``, ``trend_scale``,
``gain_clip``, ...) are set by hand. :func:`fit_prior` learns the learned ones from a user's
own past runs; :func:`default_forecast_config` returns the bundled prior, learned from public
development curves (see ``docs/forecasting.md``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from rlscaling.forecasting.ensemble import (
    LAG_HORIZON_CAP,
    LAG_POWER,
    MIN_FIT_POINTS,
    auto_components,
    auto_point_sd,
    budget_point_weights,
    curve_kind,
    few_point_components,
    horizon_multiplier,
    lags,
)
from rlscaling.io.checks import InputError, check_reward_range, looks_like_percent

if TYPE_CHECKING:
    from rlscaling.io.runs import Run


KINDS = ("pass_rate-rising", "pass_rate-flat", "score-rising", "score-flat", "smooth")
# candidate gain horizons (e-folds of compute; None: no cap) that fit_prior chooses from
HORIZON_GRID: tuple[float | None, ...] = (None, 0.15, 0.3, 0.6)
# candidate shares of the recent trend added to the forecast (trend_weight)
TREND_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
# settings that may differ by kind of curve (see rlscaling.forecasting.ensemble.curve_kind)
PER_KIND = ("prior_weight", "prior_strength", "gain_horizon", "trend_weight", "interval_scale")
# backtest cases of 2-4 evaluations needed to learn the few-point settings (else: the base's)
MIN_FEW_POINT_CASES = 10


@dataclass(frozen=True)
class ForecastPrior:
    """Learned settings of the ``"auto"`` forecaster (see the module docstring).

    ``kinds`` maps a kind of curve (:data:`KINDS`, chosen from the data by
    :func:`rlscaling.forecasting.ensemble.curve_kind`: a smooth curve, or a pass rate or an
    unbounded score, still rising or flat) to the settings learned for it (``prior_weight``,
    ``prior_strength``, ``gain_horizon``, ``trend_weight``, ``interval_scale``); a kind not
    listed uses the top-level values. ``trend_weight`` is the share of the recent pace a
    fitted forecast adds (:func:`rlscaling.forecasting.ensemble.trend_gain`; never for a pass
    rate or a flat kind). ``gain_horizon`` caps the sigmoid's weight at ``h / gain_horizon`` for
    a forecast ``h`` e-folds of compute ahead (``None``: no cap; see
    :func:`rlscaling.forecasting.ensemble.sigmoid_weight`). A run with 2-4 evaluations is
    forecast as its last value plus ``few_point_weight`` times its recent trend (0: a
    plateau), with an interval sized by ``few_point_scale``, ``few_point_skew`` times wider
    above the point and as many times narrower below it (1: symmetric, as in the bundled
    prior; :func:`fit_prior` learns which side a corpus's short runs end on, the reward read
    as higher-is-better). ``horizon_scales`` multiply a
    fitted forecast's spread at the horizons ``horizon_anchors`` (e-folds of compute ahead,
    increasing), linearly in ln(horizon) between them and held flat outside; empty: 1.
    ``lag_shift`` moves a fitted forecast ``h`` e-folds ahead by ``lag_shift * h**4`` of its
    unscaled predictive sd in the direction of the run's recent slope
    (:func:`rlscaling.forecasting.ensemble.lag_shift`): the stacked forecast lags a run
    that keeps moving.

    The other settings are set by hand, not learned by :func:`fit_prior`: ``gain_clip``
    (the sigmoid's gain at most this times the observed range), ``plateau_drift``,
    ``trend_scale`` and ``disagreement_scale`` (terms of the spread), ``decline_max_weight``
    (the sigmoid's weight in a declined run), ``tail_dof`` (degrees of freedom of the
    Student-t draws), ``smooth_noise`` and ``t_rising`` (the thresholds of
    :func:`~rlscaling.forecasting.ensemble.curve_kind`), ``lfo_fractions`` (where the run is
    cut to score the two models on itself). The defaults here are hand-set; the bundled
    prior (:func:`default_forecast_config`) holds the learned values.
    """

    r0: str = "free"
    plateau_k: int | None = None
    plateau_drift: float = 2.0
    lfo_fractions: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
    prior_weight: float = 1.0
    prior_strength: float = 2.0
    gain_horizon: float | None = None
    decline_max_weight: float = 0.1
    gain_clip: float = 0.5
    disagreement_scale: float = 0.5
    trend_scale: float = 0.3
    interval_scale: float = 1.0
    tail_dof: float = 4.0
    noise_floor_from_fit: bool = False
    t_rising: float = 2.0
    smooth_noise: float = 0.01
    few_point_scale: float = 1.0
    few_point_skew: float = 1.0
    few_point_weight: float = 0.0
    trend_weight: float = 0.0
    lag_shift: float = 0.0
    horizon_anchors: tuple[float, ...] = ()
    horizon_scales: tuple[float, ...] = ()
    kinds: dict[str, dict[str, float | None]] = field(default_factory=dict)
    learned_from: str = "hand-set defaults"
    scores: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for where, value in [("gain_horizon", self.gain_horizon)] + [
            (f"kinds[{k!r}]['gain_horizon']", o["gain_horizon"])
            for k, o in self.kinds.items()
            if "gain_horizon" in o
        ]:
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise InputError(
                    f"{where} must be None (no cap) or a positive number of e-folds of "
                    f"compute, got {value!r}"
                )

        if not (isinstance(self.lag_shift, int | float) and np.isfinite(self.lag_shift)):
            raise InputError(
                f"lag_shift must be a finite number (predictive sds per e-fold of compute "
                f"to the fourth; 0: no shift), got {self.lag_shift!r}"
            )

        anchors, scales = self.horizon_anchors, self.horizon_scales
        try:
            a, m = np.asarray(anchors, dtype=float), np.asarray(scales, dtype=float)
        except (TypeError, ValueError):
            a, m = np.array([np.nan]), np.array([])  # not numbers: reported below
        if (
            a.shape != m.shape
            or a.ndim != 1
            or not (np.all(a > 0) and np.all(np.diff(a) > 0) and np.all(m > 0))
        ):
            raise InputError(
                f"horizon_anchors={anchors!r} and horizon_scales={scales!r} must be two "
                "sequences of the same length: increasing positive horizons (e-folds of "
                "compute) and positive multipliers (both empty: no change with horizon)"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("lfo_fractions", "horizon_anchors", "horizon_scales"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForecastPrior:
        d = dict(d)
        for key in ("lfo_fractions", "horizon_anchors", "horizon_scales"):
            if key in d:
                d[key] = tuple(d[key])
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown ForecastPrior fields {sorted(unknown)}")
        for kind, over in d.get("kinds", {}).items():
            bad = set(over) - set(PER_KIND)
            if kind not in KINDS or bad:
                raise InputError(
                    f"kinds[{kind!r}] = {over!r}: kinds are {KINDS}, settings {PER_KIND}"
                )
        return cls(**d)

    def for_kind(self, kind: str) -> ForecastPrior:
        """These settings with the overrides learned for ``kind`` applied."""
        over = self.kinds.get(kind)
        return replace(self, **over) if over else self


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
    source: str = ""


def _source_weights(cases: list[_Case]) -> np.ndarray:
    """Case weights that give every source (``run.metadata["source"]``) the same total.

    Curves of one source share a model, a benchmark or a sweep: they are not independent, and
    a large source would otherwise set the settings for every kind of curve it touches.
    """
    src = [c.source for c in cases]
    counts = {s: src.count(s) for s in set(src)}
    w = np.array([1.0 / counts[s] for s in src])
    return w / w.sum()


def _wquantile(v: np.ndarray, w: np.ndarray, q: float) -> float:
    """Weighted quantile (the smallest value whose cumulative weight reaches ``q``)."""
    order = np.argsort(v)
    cum = np.cumsum(w[order]) / np.sum(w)
    return float(v[order][min(int(np.searchsorted(cum, q)), v.size - 1)])


def corpus_cases(
    runs: Sequence[Run],
    fractions: Sequence[float] = (0.25, 0.5, 0.75),
    cfg: ForecastPrior | None = None,
    *,
    progress: bool | None = None,
) -> tuple[list[_Case], dict[str, int]]:
    """Backtest cases from full runs, as a user forecasts a run in progress.

    For a run of ``n`` evaluations and each fraction f: observe the evaluations up to f of the
    final compute among the first ``n - 3``, and keep what the ``"auto"`` forecaster computes
    for the compute of the next-to-last evaluation, with the truth: the mean of the last 3
    evaluations. A run needs 5 evaluations and a case 2 observed ones, not all equal; with
    2-4 it is a few-point case (last value plus a share of the trend). Returns the cases and
    a count of refusals by reason.
    """
    from tqdm.auto import tqdm

    cfg = cfg or ForecastPrior()
    cases: list[_Case] = []
    refused: dict[str, int] = {}

    def refuse(key: str) -> None:
        refused[key] = refused.get(key, 0) + 1

    show = progress if progress is not None else len(runs) > 50
    for run in tqdm(runs, disable=not show, desc="corpus", unit="run"):
        run, _ = run.without_zero_compute()
        n = len(run)
        if n < 5:
            refuse("run has fewer than 5 evaluations")
            continue
        target = run.last_mean(3)
        c_t = np.array([float(run.compute[-2])])
        scale = float(np.ptp(run.reward)) or 1.0
        for f in fractions:
            keep = run.compute <= f * run.compute[-1] * (1 + 1e-12)
            part = run.select(keep & (np.arange(n) < n - 3))
            if len(part) < 2:
                refuse("fewer than 2 evaluations in the observed part")
                continue
            if np.ptp(part.reward) <= 0:
                refuse("observed reward is constant")
                continue
            kind = curve_kind(part, cfg.t_rising, cfg.smooth_noise)
            if len(part) < MIN_FIT_POINTS:
                comp = few_point_components(part, c_t, "few points")
            else:
                try:
                    comp = auto_components(part, c_t, cfg.for_kind(kind))
                except ValueError as exc:
                    comp = few_point_components(part, c_t, str(exc))
            comp["average_of"] = 3  # the truth is the mean of 3 evaluations
            comp["kind"] = kind
            source = str(run.metadata.get("source", ""))
            cases.append(_Case(run.name, float(f), target, scale, comp, source))
    return cases, refused


def _errors_and_z(cases: list[_Case], cfg: ForecastPrior) -> tuple[np.ndarray, np.ndarray]:
    """Relative errors and standardised errors (at ``interval_scale`` 1) of the cases."""
    err, z = [], []
    unit = replace(
        cfg,
        interval_scale=1.0,
        few_point_scale=1.0,
        few_point_skew=1.0,
        horizon_anchors=(),
        horizon_scales=(),
    )
    for case in cases:
        comp = dict(case.comp)
        comp["w"] = budget_point_weights(comp, cfg)
        point, _, obs_sd = auto_point_sd(comp, unit)
        e = float(point[0]) - case.target
        err.append(abs(e) / case.scale)
        z.append(e / max(float(obs_sd[0]), 1e-12))
    return np.array(err), np.array(z)


def _calibrated_scale(
    z: np.ndarray, levels: Sequence[float], dof: float, w: np.ndarray | None = None
) -> float:
    """The scale at which Student-t intervals at ``levels`` cover ``|z|`` on (weighted) average."""
    from scipy import stats

    w = np.ones(z.size) if w is None else w
    return float(
        np.mean([_wquantile(np.abs(z), w, lv) / stats.t.ppf(0.5 + lv / 2, dof) for lv in levels])
    )


def _two_sided_scales(
    group: list[_Case], cfg: ForecastPrior, levels: Sequence[float]
) -> tuple[float, float]:
    """``few_point_scale`` and ``few_point_skew`` at which ``cfg``'s intervals cover the
    ``group``'s truths at ``levels``, each side on its own: at most ``(1 - level) / 2`` of the
    truths above the interval and as many below (every source weighing the same).

    Why two sides for a run of 2-4 evaluations: on the development curves the truth lay
    above such a forecast's 80% interval about twice as often as below it (7.8% and 3.5% of
    the cases of runs that had risen; half of the 14 that had fallen recovered past it), so
    one symmetric scale wasted the lower half's width. Neither side is narrower than a
    sixteenth of the other (a skew between 1/4 and 4).
    """
    from scipy import stats

    _, z = _errors_and_z(group, cfg)
    w = _source_weights(group)

    def side(v: np.ndarray) -> float:
        return float(
            np.mean(
                [
                    _wquantile(v, w, (1 + lv) / 2) / stats.t.ppf((1 + lv) / 2, cfg.tail_dof)
                    for lv in levels
                ]
            )
        )

    up, down = side(-z), side(z)  # z = (point - truth) / sd: the truth above is z < 0
    floor = max(up, down, 1e-12) / 16.0
    up, down = max(up, floor), max(down, floor)
    return float(np.sqrt(up * down)), float(np.sqrt(up / down))


def case_interval_scale(case: _Case, cfg: ForecastPrior, z: float) -> float:
    """The calibrated scale of ``case``'s interval on the side its standardised error ``z``
    falls (``cfg`` already resolved for the case's kind)."""
    if case.comp["few"]:
        skew = cfg.few_point_skew if z < 0 else 1.0 / cfg.few_point_skew
        return cfg.few_point_scale * skew
    return cfg.interval_scale * float(horizon_multiplier(case.comp["h"], cfg)[0])


def _group_scale(group: list[_Case], cfg: ForecastPrior, levels: Sequence[float]) -> float:
    """The interval scale at which ``cfg``'s intervals cover the ``group``'s truths at
    ``levels``, every source weighing the same."""
    _, z = _errors_and_z(group, cfg)
    return _calibrated_scale(z, levels, cfg.tail_dof, _source_weights(group))


def fit_prior(
    runs: Sequence[Run],
    fractions: Sequence[float] = (0.25, 0.5, 0.75),
    *,
    weight_grid: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    strength_grid: Sequence[float] = (1.0, 2.0, 5.0),
    horizon_grid: Sequence[float | None] = HORIZON_GRID,
    trend_grid: Sequence[float] = TREND_GRID,
    levels: Sequence[float] = (0.8, 0.9),
    base: ForecastPrior | None = None,
    progress: bool | None = None,
    label: str | None = None,
    reward_range: tuple[float, float] | str | None = "auto",
    by_horizon: bool = True,
    lag: bool = True,
    two_sided_few_point: bool = True,
) -> ForecastPrior:
    """Learn the ``"auto"`` forecaster's prior from a corpus of full runs (empirical Bayes).

    Each run is backtested at ``fractions`` of its final compute: observe up to there, never
    its last 3 evaluations, and forecast their mean at the compute of the next-to-last one.
    The default trust in the sigmoid's extrapolated gain (``prior_weight``) and how much one
    run's own leave-future-out evidence can move it (``prior_strength``) are chosen, jointly
    with the horizon below which the sigmoid's weight is capped (``gain_horizon``, from
    ``horizon_grid``; ``None`` is no cap), to minimise the mean plus the median error
    relative to each run's range. Then ``interval_scale`` is set so that the Student-t
    predictive intervals cover the truth at ``levels`` on the corpus (a conformal-style
    calibration). This is done pooled and again for each kind of curve with at least 40
    cases, and the scale then gets a multiplier per fraction (``horizon_scales``, unless
    ``by_horizon=False``; errors grow with the horizon faster than the spread's terms do).
    The cases with 2-4 observed
    evaluations (at least 10) set ``few_point_weight``, then ``few_point_scale`` and
    ``few_point_skew``, each side of their intervals calibrated on its own (unless
    ``two_sided_few_point=False``). Every source
    (``run.metadata["source"]``) weighs the same, also within a kind: a source with a single
    case of a kind weighs as much there as one with a hundred, and can decide that kind's
    settings (give sources of comparable size, or none).

    Parameters
    ----------
    runs : sequence of Run
        Full runs, rewards oriented so that higher is better. A run needs at least 5
        evaluations (fewer are refused and counted in ``scores["refused"]``), and at least 8 to
        give a case with a fitted curve (a case observes at most its first ``n - 3``); the
        corpus must give at least 10 cases.
    fractions : sequence of float
        Fractions of each run's final compute at which it is cut.
    weight_grid, strength_grid, horizon_grid : sequence
        Candidate values of ``prior_weight`` (also of ``few_point_weight``),
        ``prior_strength`` and ``gain_horizon``.
    levels : sequence of float
        Interval levels ``interval_scale`` is calibrated at.
    base : ForecastPrior, optional
        The settings not learned here (default the hand-set :class:`ForecastPrior`).
    reward_range : (float, float), "auto" or None, default "auto"
        The range every run's reward can take, e.g. ``(0, 100)`` for accuracies in percent:
        the runs are mapped to [0, 1] and learned as pass rates, the kind of curve
        ``forecast(..., reward_range=...)`` then sees. ``"auto"`` does what ``forecast``
        does by default, run by run: a run whose rewards all lie in [0, 100], the largest
        above 10, is read as a percentage (counted in ``scores["read_as_percent"]``).
        ``None``: a reward outside [0, 1] is learned as an unbounded score (the settings are
        kept per kind of curve).
    by_horizon : bool, default True
        Learn a multiplier of the interval scale for each of ``fractions`` (how far ahead
        its forecasts look), so that intervals from early in a run cover as well as those
        from late in it. Right for runs of one kind (your own): on runs of one source of
        the development curves it took the 80% intervals from 25% of a run from 0.56 to
        0.76 of the truths (Pythia) and from 0.42 to 0.75 (the bundled countdown runs),
        and from 75% from 0.87 and 0.93 to 0.77. On a corpus of unlike sources the
        multipliers trade one source's coverage against another's: ``False`` there, as for
        the bundled prior (``docs/forecasting.md``, "Intervals by horizon").
    lag : bool, default True
        Learn ``lag_shift``, pooled, after the other settings: how far a fitted forecast
        moves in the direction of its run's recent slope, growing with the fourth power of
        the horizon, so that the truth is as often above as below it. The stacked forecast
        shrinks toward the level, and from a quarter of a rising run the truth lay above it
        in 79% of the development curves' fitted cases (``docs/forecasting.md``).
    two_sided_few_point : bool, default True
        Calibrate each side of the few-point interval on its own (``few_point_skew``): right
        for runs of one kind whose short beginnings end on one side of their forecasts more
        often (runs that keep rising past them). ``False``: one symmetric scale, as in the
        bundled prior, where the development curves' short runs kept rising (skew 1.63)
        while simulated GRPO-like runs that level off early had their lower side missed
        (``docs/forecasting.md``, "Two-sided intervals for runs of 2-4 evaluations").

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
    for gh in horizon_grid:  # checked before the backtest, which takes a while
        replace(base, gain_horizon=gh)
    n_percent = 0
    if reward_range == "auto":
        percent = [looks_like_percent(r.reward) for r in runs]
        n_percent = sum(percent)
        runs = [
            replace(r, reward=r.reward / 100.0) if p else r
            for r, p in zip(runs, percent, strict=True)
        ]
    elif isinstance(reward_range, str):
        raise InputError(
            f"reward_range must be 'auto', None or two numbers (lowest, highest), got "
            f"{reward_range!r}"
        )
    elif reward_range is not None:
        runs = _to_unit_range(runs, reward_range)
    cases, refused = corpus_cases(runs, fractions, base, progress=progress)
    prior = prior_from_cases(
        cases,
        refused,
        base,
        weight_grid=weight_grid,
        strength_grid=strength_grid,
        horizon_grid=horizon_grid,
        trend_grid=trend_grid,
        levels=levels,
        label=label or f"{len(runs)} runs at fractions {tuple(fractions)}",
        by_horizon=by_horizon,
        lag=lag,
        two_sided_few_point=two_sided_few_point,
    )
    return replace(prior, scores={**prior.scores, "read_as_percent": n_percent})


def _to_unit_range(runs: Sequence[Run], reward_range: Any) -> list[Run]:
    """The runs with their rewards mapped from ``reward_range`` to [0, 1]."""
    out = []
    for r in runs:
        try:
            lo, hi = check_reward_range(reward_range, r.reward)
        except InputError as exc:
            raise InputError(f"run {r.name!r}: {exc}") from None
        out.append(replace(r, reward=(r.reward - lo) / (hi - lo)))
    return out


def _with_lag_shift(
    fitted: list[_Case], cfg: ForecastPrior, levels: Sequence[float]
) -> tuple[float, float, dict[str, dict[str, Any]]]:
    """The pooled ``lag_shift``, learned after every other setting is chosen (learned with
    them, the weights of the kinds moved to make up for it), and the pooled and per-kind
    interval scales recalibrated around the shifted forecasts."""
    shift = _lag_shift(fitted, cfg, _source_weights(fitted))
    shifted = replace(cfg, lag_shift=shift)
    kinds: dict[str, dict[str, Any]] = {k: dict(v) for k, v in cfg.kinds.items()}
    pooled = _group_scale(fitted, replace(shifted, kinds={}), levels)
    for kind, over in kinds.items():
        if "interval_scale" in over:
            group = [c for c in fitted if c.comp["kind"] == kind]
            over["interval_scale"] = _group_scale(group, shifted.for_kind(kind), levels)
    return shift, pooled, kinds


def _lag_shift(group: list[_Case], cfg: ForecastPrior, w: np.ndarray) -> float:
    """The ``lag_shift`` that puts the cases' median standardised error at 0.

    Each fitted case says how far its truth lay beyond the unshifted forecast, in the
    direction of its run's recent slope, in units of its unscaled predictive sd; the shift
    is the least-absolute-deviations fit of those to ``lag_shift * h**LAG_POWER`` (``h`` capped at
    ``LAG_HORIZON_CAP``). Only the cases the shift moves count
    (:func:`~rlscaling.forecasting.ensemble.lags`), and a case at horizon 0 or with no slope
    says nothing.
    """
    u, wu = [], []
    for case, wc in zip(group, w, strict=True):
        h = min(float(np.ravel(case.comp["h"])[0]), LAG_HORIZON_CAP)
        sign = float(np.sign(case.comp.get("slope", 0.0)))
        if not lags(case.comp) or h <= 0 or sign == 0:
            continue
        zc = _errors_and_z([case], replace(cfg.for_kind(case.comp["kind"]), lag_shift=0.0))[1][0]
        u.append(-zc * sign / h**LAG_POWER)
        # weighted by h**p: the least-absolute-deviations fit of the errors to shift * h**p
        # (the plain median of the ratios is ruled by the short horizons' noise / h**p)
        wu.append(wc * h**LAG_POWER)
    return _wquantile(np.array(u), np.array(wu), 0.5) if u else 0.0


def _horizon_scales_from_cases(
    fitted: list[_Case], cfg: ForecastPrior, levels: Sequence[float], min_cases: int = 10
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Multipliers of the calibrated spread, one per backtest fraction, at its median horizon.

    The cases of each fraction (at least ``min_cases``; at least two fractions, else none are
    learned) are standardised by their kind's ``interval_scale`` and calibrated like it: the
    multiplier is what makes that fraction's intervals cover at ``levels``, every source
    weighing the same.
    """
    by_fraction: dict[float, list[_Case]] = {}
    for c in fitted:
        by_fraction.setdefault(c.fraction, []).append(c)
    points = []
    for group in by_fraction.values():
        if len(group) < min_cases:
            continue
        z = []
        for c in group:
            k_cfg = cfg.for_kind(c.comp["kind"])
            z.append(_errors_and_z([c], k_cfg)[1][0] / k_cfg.interval_scale)
        h = float(np.median([np.ravel(c.comp["h"])[0] for c in group]))
        m = _calibrated_scale(np.array(z), levels, cfg.tail_dof, _source_weights(group))
        if h > 0 and m > 0:
            points.append((h, m))
    points.sort()
    if len(points) < 2 or len({h for h, _ in points}) < len(points):
        return (), ()
    return tuple(h for h, _ in points), tuple(m for _, m in points)


def prior_from_cases(
    cases: list[_Case],
    refused: dict[str, int],
    base: ForecastPrior,
    *,
    weight_grid: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    strength_grid: Sequence[float] = (1.0, 2.0, 5.0),
    horizon_grid: Sequence[float | None] = HORIZON_GRID,
    trend_grid: Sequence[float] = TREND_GRID,
    levels: Sequence[float] = (0.8, 0.9),
    label: str = "corpus",
    min_kind_cases: int = 40,
    by_horizon: bool = True,
    lag: bool = True,
    two_sided_few_point: bool = True,
) -> ForecastPrior:
    """The learning step of :func:`fit_prior`, on precomputed backtest cases.

    Pooled over all cases, then per kind of curve where the corpus holds at least
    ``min_kind_cases`` of that kind (a kind with fewer keeps the pooled settings, except that
    a smooth curve's sigmoid weight is then not capped): the prior weight and strength, the
    gain horizon and the trend share minimise mean plus median relative error; then
    (``lag``) the lag shift centres the standardised errors (:func:`_lag_shift`); the
    interval scale makes the 80% and 90% intervals cover on those cases; then (``by_horizon``),
    pooled, a multiplier of that scale per fraction makes each fraction's intervals cover
    (``horizon_scales`` at the fractions' median horizons ``horizon_anchors``). Few-point
    cases (2-4 evaluations) set ``few_point_weight`` (the share of the recent trend they add),
    ``few_point_scale`` and (``two_sided_few_point``) ``few_point_skew`` alone. Every source
    (``run.metadata["source"]``; runs without one form one source) weighs the same in these
    means, medians and quantiles.
    """

    if len(cases) < 10:
        raise InputError(
            f"fit_prior needs at least 10 backtest cases, got {len(cases)} "
            f"(refused: {refused}); give more or longer runs"
        )
    fitted = [c for c in cases if not c.comp["few"]]
    few = [c for c in cases if c.comp["few"]]

    def learn(group: list[_Case], cfg: ForecastPrior) -> dict[str, float]:
        wts = _source_weights(group)
        best = None
        for pw, st, gh, tw in itertools.product(
            weight_grid, strength_grid, horizon_grid, trend_grid
        ):
            trial = replace(
                cfg, prior_weight=pw, prior_strength=st, gain_horizon=gh, trend_weight=tw
            )
            err, _ = _errors_and_z(group, trial)
            score = float(np.sum(wts * err)) + _wquantile(err, wts, 0.5)
            if best is None or score < best[0] - 1e-12:
                best = (score, pw, st, gh, tw)
        assert best is not None
        learned = dict(zip(PER_KIND[:4], best[1:], strict=True))
        return {**learned, "interval_scale": _group_scale(group, replace(cfg, **learned), levels)}

    cfg = replace(base, kinds={})
    if len(fitted) >= 10:
        cfg = replace(cfg, **learn(fitted, cfg))
    kinds = {}
    for kind in KINDS:
        group = [c for c in fitted if c.comp["kind"] == kind]
        if len(group) >= min_kind_cases:
            kinds[kind] = learn(group, cfg)
        elif kind == "smooth" and cfg.gain_horizon is not None:
            # The cap stands in for leave-future-out cuts that cannot see a short-horizon gain
            # through the noise; a smooth curve's cuts can, so it keeps its stacking weight.
            kinds[kind] = {"gain_horizon": None}
    if lag and len(fitted) >= 10:
        shift, pooled_scale, kinds = _with_lag_shift(fitted, replace(cfg, kinds=kinds), levels)
        cfg = replace(cfg, lag_shift=shift, interval_scale=pooled_scale)
    few_scale, few_skew = base.few_point_scale, base.few_point_skew
    few_weight = base.few_point_weight
    if len(few) >= MIN_FEW_POINT_CASES:
        wf = _source_weights(few)
        scores = []
        for fw in weight_grid:
            err, _ = _errors_and_z(few, replace(cfg, few_point_weight=fw))
            scores.append(float(np.sum(wf * err)) + _wquantile(err, wf, 0.5))
        few_weight = float(weight_grid[int(np.argmin(scores))])
        few_cfg = replace(cfg, few_point_weight=few_weight)
        if two_sided_few_point:
            few_scale, few_skew = _two_sided_scales(few, few_cfg, levels)
        else:
            few_scale, few_skew = _group_scale(few, few_cfg, levels), 1.0
    cfg = replace(
        cfg,
        kinds=kinds,
        few_point_scale=few_scale,
        few_point_skew=few_skew,
        few_point_weight=few_weight,
    )
    anchors, scales = _horizon_scales_from_cases(fitted, cfg, levels) if by_horizon else ((), ())
    cfg = replace(cfg, horizon_anchors=anchors, horizon_scales=scales)
    return replace(cfg, learned_from=label, scores=corpus_scores(cases, refused, cfg, levels))


def relearn_lag_shift(
    cases: list[_Case],
    refused: dict[str, int],
    prior: ForecastPrior,
    levels: Sequence[float] = (0.8, 0.9),
) -> ForecastPrior:
    """``prior`` with its ``lag_shift`` learned on the backtest cases and its interval scales
    recalibrated around the shifted forecasts; every other setting kept (how the bundled
    prior got its shift without relearning the rest; ``benchmarks/learn_default_prior.py``).
    """
    fitted = [c for c in cases if not c.comp["few"]]
    if len(fitted) < 10:
        raise InputError(f"relearn_lag_shift needs at least 10 fitted cases, got {len(fitted)}")
    shift, pooled, kinds = _with_lag_shift(fitted, replace(prior, lag_shift=0.0), levels)
    out = replace(prior, lag_shift=shift, interval_scale=pooled, kinds=kinds)
    return replace(out, scores={**prior.scores, **corpus_scores(cases, refused, out, levels)})


def corpus_scores(
    cases: list[_Case], refused: dict[str, int], cfg: ForecastPrior, levels: Sequence[float]
) -> dict[str, Any]:
    """How the prior ``cfg`` does on the backtest cases it was learned from (its ``scores``):
    case counts by kind, the median and mean relative error, and the coverage at ``levels``."""
    from scipy import stats

    err_all, cover = [], {lv: [] for lv in levels}
    by_kind: dict[str, int] = {}
    for case in cases:
        kind = "few_points" if case.comp["few"] else case.comp["kind"]
        by_kind[kind] = by_kind.get(kind, 0) + 1
        k_cfg = cfg.for_kind(case.comp["kind"])
        e, z = _errors_and_z([case], k_cfg)
        scale = case_interval_scale(case, k_cfg, float(z[0]))
        err_all.append(e[0])
        for lv in levels:
            cover[lv].append(abs(z[0]) <= scale * stats.t.ppf(0.5 + lv / 2, cfg.tail_dof))
    scores = {
        "cases": len(cases),
        "cases_by_kind": by_kind,
        "refused": refused,
        "median_rel_error": float(np.median(err_all)),
        "mean_rel_error": float(np.mean(err_all)),
        **{f"coverage_{lv:g}": float(np.mean(cover[lv])) for lv in levels},
    }
    return scores


def resolve_prior(prior: ForecastPrior | str | None, run: Run) -> tuple[ForecastPrior, str]:
    """The settings to forecast ``run`` with, and the kind of curve they are for.

    ``prior`` may be None (the bundled prior), a :class:`ForecastPrior` (its per-kind settings
    apply to the kind :func:`~rlscaling.forecasting.ensemble.curve_kind` sees) or the name of a
    kind (the bundled settings of that kind, whatever the data look like).
    """
    if isinstance(prior, str):
        if prior not in KINDS:
            raise InputError(f"prior must be a ForecastPrior or one of {KINDS}, got {prior!r}")
        return default_forecast_config().for_kind(prior), prior
    cfg = prior if prior is not None else default_forecast_config()
    kind = curve_kind(run, cfg.t_rising, cfg.smooth_noise)
    return cfg.for_kind(kind), kind
