"""Forecast where a partly finished run ends, and how much compute a target needs.

:func:`forecast` answers "what reward at budget C?" with a predictive distribution (samples),
its intervals and ``P(reward >= x)``. :func:`compute_to_reach` answers "how much compute to reach
reward r?" with an interval, or says how likely it is that r lies above the asymptote.

Both use one machinery, :func:`predictive_curves`: joint draws of the run's future curve, made
by the method the user picks:

- ``"sigmoid"`` / ``"mcmc"``: block-bootstrap / emcee posterior draws of the sigmoid fitted
  to the observed part, plus evaluation noise (not calibrated on real curves);
- ``"plateau"``: the run has already reached its level: the mean of its last evaluations (a
  quarter of them, 3 to 10), with its standard error, a drift growing with the horizon and
  evaluation noise (not calibrated either);
- ``"auto"`` (default): a smoothed level stacked with the sigmoid as described in
  :mod:`rlscaling.forecasting.ensemble`, weighted by leave-future-out performance on the
  observed part, with settings learned per kind of curve and intervals calibrated on real
  curves.

Forecasts stay in the reward's range as read from the data (:func:`reward_bounds`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from rlscaling.fit.result import SigmoidFit
from rlscaling.forecasting import ensemble
from rlscaling.forecasting.draws import CurveDraws
from rlscaling.forecasting.ensemble import reward_bounds
from rlscaling.forecasting.prior import ForecastPrior, resolve_prior
from rlscaling.io.checks import (
    InputError,
    as_positive_compute,
    check_int,
    check_level,
    check_levels,
    check_real,
    check_reward_range,
    check_seed,
    looks_like_percent,
)
from rlscaling.io.inputs import (
    LEFT_OUT_WORDS,
    NanPolicy,
    add_counts,
    check_curve,
    split_zero_compute,
)
from rlscaling.io.loaders import resolve_columns
from rlscaling.io.runs import Run
from rlscaling.model.curve import log_compute_to_reach, to_theta
from rlscaling.plot import new_axes
from rlscaling.protocol import check_kind

if TYPE_CHECKING:
    import matplotlib.axes

Method = Literal["auto", "sigmoid", "plateau", "mcmc"]
METHODS = ("auto", "sigmoid", "plateau", "mcmc")
DEFAULT_LEVELS = (0.8, 0.9)


@dataclass(frozen=True, eq=False)
class Forecast:
    """Predictive distribution of a run's reward at one or more compute budgets.

    Attributes
    ----------
    budget : numpy.ndarray
        Compute budgets asked for.
    median : numpy.ndarray
        Point forecast (predictive median) per budget.
    draws : numpy.ndarray
        ``(S, len(budget))`` predictive draws of the evaluated reward (with evaluation noise,
        for the mean of ``average_of`` evaluations).
    curve_draws : numpy.ndarray
        ``(S, len(budget))`` draws of the run's expected reward (no evaluation noise).
    method : str
        The method that made the draws (``"auto"``, ``"sigmoid"``, ``"mcmc"``, ``"plateau"``).
    weights : dict
        Model-averaging weights used (e.g. ``{"sigmoid": 0.3, "plateau": 0.7}``); for
        ``"auto"``, those at the furthest budget (see ``gain_share``). A run of 2-4
        evaluations has no fitted curve: its weights are the learned share of its recent
        trend added to the last value (``{"trend": 0.75, "last value": 0.25}`` with the
        bundled prior). A loss or an open-ended score also lists ``"recent pace"``: the
        learned share of its recent pace added on top (``trend_weight``; pass rates get
        none).
    notes : tuple of str
        Warnings and caveats (a declining run, an unidentified fit, ...).
    kind : str
        The kind of curve whose learned settings ``"auto"`` used (e.g. ``"pass_rate-flat"``;
        see :func:`rlscaling.forecasting.ensemble.curve_kind`); empty for the other methods.
    gain_share : numpy.ndarray or None
        ``"auto"`` only: per budget, the share of the extrapolated gain the forecast adds (the
        sigmoid's weight; for a run of 2-4 evaluations the learned share of its trend). Each
        budget has its own: near the observed end it is capped (docs/forecasting.md), so
        asking for several budgets at once gives each the forecast it gets alone. ``None``
        for the other methods and for a run whose observed reward is constant.
    observed_compute, observed_reward : numpy.ndarray
        The observed part of the run the forecast was made from.
    prior : str
        ``"auto"`` only: which prior set its settings, ``"bundled"`` or what a
        :class:`~rlscaling.forecasting.prior.ForecastPrior` was learned from (its
        ``learned_from``); empty for the other methods.
    """

    name: str
    budget: NDArray[np.float64]
    median: NDArray[np.float64]
    draws: NDArray[np.float64]
    curve_draws: NDArray[np.float64]
    method: str
    weights: dict[str, float]
    notes: tuple[str, ...]
    observed_compute: NDArray[np.float64]
    observed_reward: NDArray[np.float64]
    levels: tuple[float, ...] = DEFAULT_LEVELS
    kind: str = ""
    gain_share: NDArray[np.float64] | None = None
    prior: str = ""

    def interval(
        self, level: float = 0.9, *, kind: Literal["observed", "curve"] = "observed"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Equal-tailed predictive interval per budget: ``(lower, upper)`` arrays.

        ``kind="observed"`` is for the reward an evaluation at that budget will show;
        ``"curve"`` for the run's expected reward there (no evaluation noise); see
        :mod:`rlscaling.protocol`.
        """
        level = check_level(level)
        d = self._draws(kind)
        lo, hi = np.quantile(d, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        return lo, hi

    def prob_at_least(
        self,
        reward: float,
        at: float | None = None,
        *,
        kind: Literal["observed", "curve"] = "observed",
        budget: float | None = None,
    ) -> float:
        """``P(reward at compute at >= reward)``, at one of the forecast's budgets.

        ``at=None`` is the first budget; ``kind`` as in :meth:`interval` (``"observed"``: what
        an evaluation will show). ``budget=`` is the former name of ``at=``.
        """
        check_real(reward, "reward", what="a finite reward")
        if budget is not None:
            if at is not None:
                raise InputError("give at= or its former name budget=, not both")
            at = budget
        d = self._draws(kind)
        if at is None:
            j = 0
        else:
            check_real(at, "at", what="a compute budget > 0")
            if not at > 0:
                raise InputError(f"at must be a compute budget > 0, got {at!r}")
            j = int(np.argmin(np.abs(np.log(self.budget / at))))
            if not np.isclose(self.budget[j], at, rtol=1e-9):
                raise InputError(
                    f"at={at!r} is not one of the forecast's budgets {self.budget.tolist()}: "
                    "forecast at that compute (forecast(..., budget=[...]))"
                )
        return float(np.mean(d[:, j] >= reward))

    def _draws(self, kind: str) -> NDArray[np.float64]:
        return self.draws if check_kind(kind) == "observed" else self.curve_draws

    def with_spread(self, sd: float, seed: int | None = 0, why: str = "") -> Forecast:
        """This forecast with independent normal spread of ``sd`` added to every draw.

        Use it to carry a variance the run itself cannot show into the interval, e.g. the
        between-seed spread of a recipe (:func:`rlscaling.decide.seeds.seed_spread`): the result
        forecasts where another seed of the recipe would end.

        Examples
        --------
        >>> from rlscaling import forecast, load_example
        >>> fc = forecast(load_example().truncate(0.5), n_samples=500)
        >>> wide = fc.with_spread(0.05)
        >>> bool(wide.interval(0.9)[1][0] - wide.interval(0.9)[0][0]
        ...      > fc.interval(0.9)[1][0] - fc.interval(0.9)[0][0])
        True
        """
        if not (np.isfinite(sd) and sd >= 0):
            raise InputError(f"sd must be a finite number >= 0, got {sd!r}")
        rng = np.random.default_rng(seed)
        noise = rng.normal(0.0, sd, size=self.draws.shape)
        draws, curve = self.draws + noise, self.curve_draws + noise
        note = f"spread added to every draw: sd {sd:.3g}" + (f" ({why})" if why else "")
        return replace(
            self,
            draws=draws,
            curve_draws=curve,
            median=_median(draws),
            notes=(*self.notes, note),
        )

    def to_frame(self, reward: float | None = None) -> pd.DataFrame:
        """One row per budget: ``budget``, ``median``, the intervals at ``levels``
        (``lower_<lv>``, ``upper_<lv>``) and ``x_observed`` (the budget over the largest
        observed compute); with ``reward``, ``prob_at_least_<reward>``: P(an evaluation at
        the budget shows at least ``reward``), as :meth:`prob_at_least`; for ``"auto"``,
        ``gain_share`` (see the class)."""
        df = pd.DataFrame({"budget": self.budget, "median": self.median})
        for lv in self.levels:
            lo, hi = self.interval(lv)
            df[f"lower_{lv:g}"], df[f"upper_{lv:g}"] = lo, hi
        df["x_observed"] = self.budget / float(self.observed_compute.max())
        if self.gain_share is not None:
            df["gain_share"] = self.gain_share
        if reward is not None:
            check_real(reward, "reward", what="a finite reward")
            df[f"prob_at_least_{reward:g}"] = (self._draws("observed") >= reward).mean(axis=0)
        return df

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "weights": dict(self.weights),
            "notes": list(self.notes),
            "kind": self.kind,
            "prior": self.prior,
            "observed_compute_max": float(self.observed_compute.max()),
            "forecast": self.to_frame().to_dict(orient="records"),
        }

    def summary(self) -> str:
        how = f"{self.method}, {self.kind}" if self.kind else self.method
        if self.method in ("sigmoid", "mcmc", "plateau"):
            how += ", model intervals: not calibrated on real curves"
        lines = [
            f"Forecast for {self.name} ({how}; weights "
            + ", ".join(f"{k} {v:.2f}" for k, v in self.weights.items())
            + ")",
            f"  observed up to compute {self.observed_compute.max():.4g}, last reward "
            f"{self.observed_reward[-1]:.4g}",
        ]
        if self.prior:
            lines.append(f"  prior: {self.prior}")
        for _, row in self.to_frame().iterrows():
            ints = ", ".join(
                f"{lv * 100:g}% [{row[f'lower_{lv:g}']:.4g}, {row[f'upper_{lv:g}']:.4g}]"
                for lv in self.levels
            )
            ratio = row["budget"] / self.observed_compute.max()
            share = ""
            if self.gain_share is not None and np.ptp(self.gain_share) > 0:
                share = f"  (gain share {row['gain_share']:.2f})"
            lines.append(
                f"  at {row['budget']:.4g} ({ratio:.2g}x observed): {row['median']:.4g}  {ints}"
                + share
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def plot(self, ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
        """Observed points and the forecast on a log-compute axis: the median with interval
        bars at each budget, or, for 3 budgets or more (e.g. ``budget=np.geomspace(c_now,
        c_end, 20)``), a fan of bands joined from the last observed evaluation."""
        ax = new_axes(ax)
        ax.scatter(self.observed_compute, self.observed_reward, s=12, label="observed")
        fan = self.budget.size >= 3
        order = np.argsort(self.budget)
        for lv, alpha in zip(sorted(self.levels, reverse=True), (0.25, 0.45, 0.65), strict=False):
            lo, hi = self.interval(lv)
            if fan:  # a band is read as a trajectory; bars at 20 budgets are a wall
                ax.fill_between(
                    self.budget[order], lo[order], hi[order], alpha=alpha, color="C1",
                    lw=0, label=f"{lv:.0%} interval",
                )  # fmt: skip
            else:
                ax.vlines(self.budget, lo, hi, lw=6, alpha=alpha, color="C1")
        if fan:
            ax.plot(
                np.r_[self.observed_compute[-1], self.budget[order]],
                np.r_[self.observed_reward[-1], self.median[order]],
                color="C1", lw=1.5, label="forecast (median)",
            )  # fmt: skip
        else:
            ax.scatter(self.budget, self.median, color="C1", marker="D", zorder=3, label="forecast")
        ax.set_xscale("log")
        ax.set_xlabel("compute")
        ax.set_ylabel("reward")
        ax.set_title(f"{self.name}: " + ", ".join(f"{k} {v:.2f}" for k, v in self.weights.items()))
        ax.legend(fontsize=8)
        return ax


@dataclass(frozen=True, eq=False)
class TargetForecast:
    """Compute needed to reach a target reward, as a distribution.

    ``compute`` holds per-draw compute (``inf`` where the draw never reaches the target);
    ``prob_unreachable`` is the share of such draws (the target is above the draw's asymptote,
    or beyond ``max_compute_factor`` times the observed compute). The search starts at the
    observed compute: a draw already at the target there counts as reaching it at the
    observed compute ("by now"), so an interval whose lower end is the observed compute means
    "reached by now in that share of draws". ``prob_reached_now`` is that share, and
    ``already_reached`` says it is at least half. ``crossed_at`` is where the point fit's
    curve crossed the target within the observed run (``None`` when it has not, or when no
    curve was fitted: ``"plateau"``, a run of 2-4 evaluations). For a target given as
    ``fraction_of_asymptote``, ``target`` is the median of the per-draw targets,
    ``already_reached`` is ``False`` and ``crossed_at`` is ``None``.
    """

    name: str
    target: float
    compute: NDArray[np.float64]
    prob_unreachable: float
    already_reached: bool
    method: str
    notes: tuple[str, ...]
    grid: NDArray[np.float64] | None = None  # compute values the curve draws are at
    curve_draws: NDArray[np.float64] | None = None  # (S, len(grid)) expected reward
    levels: tuple[float, ...] = DEFAULT_LEVELS
    prob_reached_now: float = 0.0
    crossed_at: float | None = None
    prior: str = ""  # the prior an "auto" forecast used, as Forecast.prior

    def median(self) -> float:
        """Median compute (``inf`` when the target is more likely unreachable than not)."""
        return float(np.quantile(self.compute, 0.5, method="inverted_cdf"))

    def compute_interval(self, level: float = 0.9) -> tuple[float, float]:
        """Equal-tailed interval of the compute needed, as two floats (an end may be ``inf``)."""
        level = check_level(level)
        # "inverted_cdf" picks order statistics, so draws that never reach the target (inf)
        # give an infinite bound instead of the nan that interpolation would produce.
        lo, hi = np.quantile(
            self.compute, [0.5 - level / 2, 0.5 + level / 2], method="inverted_cdf"
        )
        return float(lo), float(hi)

    def interval(
        self, level: float = 0.9, *, kind: Literal["curve"] = "curve"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(lower, upper)`` of the compute needed: one-element arrays (the one row of
        :meth:`to_frame`), as every result answers; :meth:`compute_interval` gives floats.

        The compute at which the run's expected reward reaches the target is a property of the
        curve, so ``kind`` is ``"curve"`` only.
        """
        check_kind(kind, ("curve",))
        lo, hi = self.compute_interval(level)
        return np.array([lo]), np.array([hi])

    def prob_at_least(
        self, reward: float, at: float | None = None, *, kind: Literal["curve"] = "curve"
    ) -> float:
        """``P(expected reward at compute at >= reward)`` from the forecast's curve draws.

        ``at=None`` is the compute observed so far. For ``reward == target`` this is the
        probability that the target is reached by ``at``. ``at`` must lie within the searched
        range (the observed compute to ``max_compute_factor`` times it).
        """
        check_kind(kind, ("curve",))
        check_real(reward, "reward", what="a finite reward")
        if self.grid is None or self.curve_draws is None:
            raise InputError("this TargetForecast holds no curve draws (made by an old version)")
        if at is None:
            at = float(self.grid[0])
        check_real(at, "at", what="a compute budget > 0")
        if not self.grid[0] * (1 - 1e-12) <= at <= self.grid[-1] * (1 + 1e-12):
            raise InputError(
                f"at={at!r} is outside the searched compute [{self.grid[0]:.4g}, "
                f"{self.grid[-1]:.4g}]; use forecast(..., budget=at) there"
            )
        j = int(np.clip(np.searchsorted(self.grid, at, side="right") - 1, 0, len(self.grid) - 1))
        return float(np.mean(self.curve_draws[:, j] >= reward))

    def to_frame(self) -> pd.DataFrame:
        """One row: the target, the median compute, its intervals at ``levels``, and
        ``P(unreachable)``."""
        row: dict[str, Any] = {"target": self.target, "median_compute": self.median()}
        for lv in self.levels:
            row[f"lower_{lv:g}"], row[f"upper_{lv:g}"] = self.compute_interval(lv)
        row["prob_unreachable"] = self.prob_unreachable
        row["prob_reached_now"] = self.prob_reached_now
        row["already_reached"] = self.already_reached
        row["crossed_at"] = np.nan if self.crossed_at is None else self.crossed_at
        return pd.DataFrame([row])

    def plot(self, ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
        """``P(target reached by compute C)`` against C (log axis), with the median and the
        90% interval of the compute needed marked."""
        ax = new_axes(ax)
        finite = np.sort(self.compute[np.isfinite(self.compute)])
        n = self.compute.size
        if finite.size:
            ax.step(finite, np.arange(1, finite.size + 1) / n, where="post", color="C0")
        med = self.median()
        lo, hi = self.compute_interval(0.9)
        if np.isfinite(med):
            ax.axvline(med, color="C1", ls="--", lw=1, label=f"median {med:.3g}")
        for b in (lo, hi):
            if np.isfinite(b):
                ax.axvline(b, color="0.5", ls=":", lw=1)
        ax.axhline(1 - self.prob_unreachable, color="0.7", lw=0.8)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("compute")
        ax.set_ylabel(f"P(reward >= {self.target:.4g} by compute)")
        ax.set_title(f"{self.name}: compute to reach {self.target:.4g}", fontsize=9)
        if np.isfinite(med):
            ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.compute_interval(0.9)
        return {
            "name": self.name,
            "target": self.target,
            "median_compute": _finite_or_none(self.median()),
            "interval_90": [_finite_or_none(lo), _finite_or_none(hi)],
            "prob_unreachable": self.prob_unreachable,
            "prob_reached_now": self.prob_reached_now,
            "already_reached": self.already_reached,
            "crossed_at": self.crossed_at,
            "method": self.method,
            "prior": self.prior,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        return self._headline() + (f"\n  prior: {self.prior}" if self.prior else "")

    def _headline(self) -> str:
        if self.already_reached:
            where = (
                f"; the fitted curve crossed it at compute {self.crossed_at:.4g}"
                if self.crossed_at is not None
                else ""
            )
            stays = (
                f"; in {self.prob_unreachable:.0%} of draws the expected reward stays below it"
                if self.prob_unreachable >= 0.005
                else ""
            )
            return (
                f"{self.name}: target {self.target:.4g} is already reached by the observed run "
                f"(P = {self.prob_reached_now:.0%}{where}{stays})"
            )
        lo, hi = self.compute_interval(0.9)
        med = self.median()
        head = f"{self.name}: compute to reach {self.target:.4g}"
        if not np.isfinite(med):
            return (
                f"{head}: probably never (P(unreachable) = {self.prob_unreachable:.0%}: the "
                "target is above the plausible asymptote)"
            )
        return (
            f"{head}: median {med:.4g}, 90% interval [{lo:.4g}, {hi:.4g}], "
            f"P(unreachable) = {self.prob_unreachable:.0%}"
        )


def _median(draws: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-column median of the draws; a bound that holds half of them or more is the median.

    Draws clipped to a bound (a run collapsed to a pass rate of 0) put half of them exactly
    on it; ``np.median`` of an even number of draws averages the two middle ones and reported
    a forecast of 7.4e-06 for a run at 0.
    """
    med = np.median(draws, axis=0)
    lo, hi = draws.min(axis=0), draws.max(axis=0)
    med = np.where(np.mean(draws <= lo, axis=0) >= 0.5, lo, med)
    return np.where(np.mean(draws >= hi, axis=0) >= 0.5, hi, med)


def _finite_or_none(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def as_run(
    data: Any, reward: Any = None, compute: str | None = None, nan_policy: NanPolicy = "raise"
) -> tuple[Run, dict[str, int]]:
    """Coerce arrays / DataFrame / Run / SigmoidFit into a Run (compute > 0, sorted).

    Returns the run and the counts of evaluations left out of it, by reason, for the caller to
    report: ``"zero_compute"``, evaluations at compute exactly 0 (the untrained model's, the
    first row of many eval logs: the forecast is made on log-compute, where they have no
    place); under ``nan_policy="omit"``, those with a NaN/inf or missing value (and what
    reading a table drops with them, as :func:`~rlscaling.load_run` counts it). A negative
    compute stays an error.
    """
    if isinstance(data, SigmoidFit):
        d = data.data
        return Run(d.compute, d.reward, eval_size=d.eval_size, name=d.name or "run"), {}
    if isinstance(data, Run):
        c, r, size, name = data.compute, data.reward, data.eval_size, data.name
        meta = dict(data.metadata)
        # what reading the run left out (load_run counts it in metadata): told with the
        # forecast, as when the forecast reads the table itself
        omitted = meta.get("omitted")
        read = (
            {k: int(v) for k, v in omitted.items() if k in LEFT_OUT_WORDS and _count(v)}
            if isinstance(omitted, dict)
            else {}
        )
    else:
        c, r, size, name, read = resolve_columns(data, reward, compute, nan_policy)
        meta = {}
    c, r, size, at_zero = split_zero_compute(c, r, size)
    n_zero = at_zero.size
    if n_zero and np.size(c) == 0:
        raise InputError(
            f"all {n_zero} evaluations are at compute 0 (the untrained model's): a forecast "
            "needs at least two at compute > 0"
        )
    checked = check_curve(c, r, eval_size=size, nan_policy=nan_policy)
    counts = add_counts(read, {"zero_compute": n_zero} if n_zero else {}, checked.omitted)
    run = Run(checked.compute, checked.reward, checked.eval_size, name=name or "run", metadata=meta)
    return run, counts


def _count(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0


def planned_end(run: Run) -> float | None:
    """The compute at which the run is planned to end, where its log says so in the run's own
    unit (a Trainer's ``max_steps``, compute in steps) and it lies beyond what is observed."""
    meta = run.metadata
    end = meta.get("max_steps")
    if meta.get("compute_unit") != "steps" or not isinstance(end, int | float):
        return None
    return float(end) if np.isfinite(end) and end > float(run.compute.max()) else None


def _left_out_notes(counts: dict[str, int]) -> list[str]:
    """What :func:`as_run` left out, one note per reason."""
    notes = []
    n_zero = counts.get("zero_compute", 0)
    if n_zero:
        notes.append(
            f"{n_zero} evaluation{'s' if n_zero > 1 else ''} at compute 0 left out: the "
            "forecast is made on log-compute (the untrained model's reward is the curve's "
            "start, R0)"
        )
    for key, n in counts.items():
        if key != "zero_compute" and n:
            what = LEFT_OUT_WORDS.get(key, key.replace("_", " "))
            policy = " (nan_policy='omit')" if key in ("nan_or_inf", "masked") else ""
            notes.append(f"{n} point{'s' if n > 1 else ''} {what} left out{policy}")
    return notes


def predictive_curves(
    run: Run,
    compute: ArrayLike,
    *,
    method: Method = "auto",
    n_samples: int = 2000,
    seed: int | None = 0,
    prior: Any = None,
    average_of: int = 1,
    left_out_at_zero: int = 0,
    reward_range: tuple[float, float] | str | None = "auto",
) -> CurveDraws:
    """Joint draws of the run's future reward at ``compute`` by ``method`` (see module doc).

    ``left_out_at_zero`` is how many evaluations at compute 0 :func:`as_run` left out of
    ``run``; a refusal for too few evaluations names them. ``reward_range`` as in
    :func:`forecast`.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    reward_range, range_note = _resolve_reward_range(reward_range, run.reward)
    if reward_range is not None or range_note is not None:
        # forecast on [0, 1] when a range is given or read (a plain run otherwise), then map
        # back and add what the reading says
        lo, hi = (
            (0.0, 1.0) if reward_range is None else check_reward_range(reward_range, run.reward)
        )
        draws = predictive_curves(
            replace(run, reward=(run.reward - lo) / (hi - lo)),
            compute,
            method=method,
            n_samples=n_samples,
            seed=seed,
            prior=prior,
            average_of=average_of,
            left_out_at_zero=left_out_at_zero,
            reward_range=None,
        )
        if reward_range is not None:
            draws = _from_unit_range(draws, lo, hi)
        return draws if range_note is None else replace(draws, notes=(*draws.notes, range_note))
    c = as_positive_compute(compute, "budget")
    need = 2 if method == "auto" else 4
    if len(run) < need:
        raise InputError(
            f"a forecast with method={method!r} needs at least {need} evaluations"
            + (" at compute > 0" if left_out_at_zero else "")
            + f", got {len(run)}"
            + (
                f": the {left_out_at_zero} at compute 0 (the untrained model's) has no place "
                "on the log-compute axis the forecast is made on"
                if left_out_at_zero
                else ""
            )
            + (" (method='auto' forecasts from 2)" if method != "auto" else "")
        )
    y = run.reward
    constant = np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max()))
    if constant and method != "auto":
        raise InputError(
            f"reward is constant ({float(y[0]):g} at every point, to 12 digits): there is no "
            f"curve to fit for method={method!r}; method='auto' carries the value forward"
        )
    cfg, kind = resolve_prior(prior, run)  # ensemble sits below the prior
    if constant:
        # A run stuck at one value (a collapse to 0, a run that has not started to learn): the
        # value carried forward is still a forecast, but nothing in the run sizes an interval.
        flat = np.full((n_samples, c.size), float(y[0]))
        note = (
            f"the observed reward is constant ({float(y[0]):g} at all {len(run)} "
            "evaluations): carried forward as is; nothing in the run sizes an interval, so "
            "the interval has zero width"
        )
        return CurveDraws(
            c, flat, flat.copy(), "auto", {"sigmoid": 0.0, "plateau": 1.0}, (note,), kind=kind
        )
    draws = ensemble.draw(
        run,
        c,
        method=method,
        n_samples=n_samples,
        seed=seed,
        prior=cfg,
        kind=kind,
        average_of=average_of,
    )
    lo, hi = reward_bounds(y)
    if lo > -np.inf or hi < np.inf:
        # Clipping draws to the reward's range moves every quantile towards the feasible
        # range, so an interval that covered a feasible truth still covers it, and it is never
        # wider; the median of a run sitting at a bound stays on the bound, not beyond it.
        draws = replace(
            draws, curve=np.clip(draws.curve, lo, hi), observed=np.clip(draws.observed, lo, hi)
        )
    bad = ~(np.isfinite(draws.curve).all(axis=0) & np.isfinite(draws.observed).all(axis=0))
    if bad.any():  # never hand back a NaN forecast: say where and why instead
        raise InputError(
            f"the {method!r} forecast is not finite at budget(s) {c[bad].tolist()}: they lie "
            f"{np.log(c[bad].max()) - np.log(run.compute.max()):.3g} e-folds beyond the "
            "observed compute, too far for these numbers; ask for a nearer budget, or rescale "
            "compute to a unit near 1 (e.g. GPU-hours, or FLOPs / 1e18)"
        )
    return draws


def _from_unit_range(draws: CurveDraws, lo: float, hi: float) -> CurveDraws:
    """Draws made on a reward mapped to [0, 1] (see ``reward_range``), mapped back."""
    w = hi - lo
    params = draws.params
    if params is not None:
        params = params.copy()
        for col in ("A", "R0"):
            if col in params:
                params[col] = lo + w * params[col]
    fit_params = draws.fit_params
    if fit_params is not None:
        fit_params = {k: lo + w * v if k in ("A", "R0") else v for k, v in fit_params.items()}
    notes = draws.notes
    if notes:
        notes = (
            f"made on the reward mapped from reward_range ({lo:g}, {hi:g}) to [0, 1]: "
            "rewards in the notes below are on that scale",
            *notes,
        )
    return replace(
        draws,
        curve=lo + w * draws.curve,
        observed=lo + w * draws.observed,
        params=params,
        fit_params=fit_params,
        notes=notes,
    )


def _resolve_reward_range(
    reward_range: Any, y: NDArray[np.float64]
) -> tuple[tuple[float, float] | None, str | None]:
    """``reward_range`` with ``"auto"`` resolved, and a note when the data decided it.

    ``"auto"`` reads a reward whose values all lie in [0, 100], the largest above 10, as a
    percentage (:func:`~rlscaling.io.checks.looks_like_percent`): forecast as a pass rate on
    (0, 100). On the RL curves of the development set given in percent, forecasting them as
    open-ended scores cost up to twice the error (docs/forecasting.md). A reward in [0, 100]
    that never passed 10 stays a score, with a note on how to give its range.
    """
    if not isinstance(reward_range, str):
        return reward_range, None
    if reward_range != "auto":
        raise InputError(
            f"reward_range must be 'auto', None or two numbers (lowest, highest), e.g. "
            f"(0, 100) for a percentage, got {reward_range!r}"
        )
    if looks_like_percent(y):
        return (0.0, 100.0), (
            f"every reward lies in [0, 100] and the largest is {float(y.max()):g}: read as a "
            "percentage, forecast as a pass rate on (0, 100) and kept inside it; pass "
            "reward_range=None to forecast it as an open-ended score, or "
            "reward_range=(low, high) for other bounds"
        )
    if np.all(y >= 0) and np.all(y <= 100) and float(y.max()) > 1:
        return None, (
            "every reward lies in [0, 100] and some exceed 1: if it is a percentage, pass "
            "reward_range=(0, 100) to forecast it as a pass rate (kept below 100, with the "
            "settings learned on pass rates); as given it is forecast as a score"
        )
    return None, None


def forecast(
    data: Any,
    budget: ArrayLike | None = None,
    *,
    reward: Any = None,
    compute: str | None = None,
    method: Method = "auto",
    levels: tuple[float, ...] = DEFAULT_LEVELS,
    n_samples: int = 2000,
    seed: int | None = 0,
    prior: Any = None,
    average_of: int = 1,
    reward_range: tuple[float, float] | str | None = "auto",
    nan_policy: NanPolicy = "raise",
) -> Forecast:
    """Forecast the reward a run will show at compute ``budget``.

    Parameters
    ----------
    data : Run, SigmoidFit, DataFrame or array_like
        The observed (partial) run; arrays need ``reward=``; a DataFrame's columns are found
        as in :func:`~rlscaling.fit_sigmoid`.
    reward, compute : optional
        As in :func:`~rlscaling.fit_sigmoid`: the rewards (with arrays) or the reward column's
        name, and the compute column's name.
    budget : float or array_like, optional
        Compute budget(s); default the run's planned end when its log records one in its own
        compute unit (``max_steps`` of a Hugging Face Trainer's state, compute in steps),
        else 2x the largest observed compute.
    method : {"auto", "sigmoid", "plateau", "mcmc"}
        How the future is drawn (see the module docstring). ``"auto"`` stacks a smoothed level
        and a sigmoid, weighted by how each predicted the run's own later points, with
        settings learned per kind of curve and intervals calibrated on real learning curves;
        with 2-4 evaluations it forecasts the last value plus a learned share of the recent
        trend (in log-odds for a pass rate), with a wide interval (symmetric with the bundled
        prior; a prior learned from your runs sizes its two sides apart, the reward read as
        higher-is-better) and a warning; a run whose
        observed reward is constant is carried forward with an interval of zero width and a
        warning. ``"sigmoid"`` and ``"mcmc"`` draw from the sigmoid alone (bootstrap or
        posterior draws plus evaluation noise): their intervals assume the sigmoid is the
        right shape and are not calibrated on real curves; on runs that plateau or wobble
        they are too narrow (coverage measured in ``docs/forecasting.md``). ``"plateau"``
        carries the recent mean forward (not calibrated either). These three need at least 4
        evaluations and refuse a constant reward.
    levels : tuple of float
        Interval levels reported by ``summary`` and ``to_frame``.
    n_samples : int
        Number of predictive draws (at least 10).
    seed : int or None
        The same seed gives the same forecast.
    prior : ForecastPrior or str, optional
        What the forecaster learned from earlier runs (see
        :func:`rlscaling.forecasting.prior.fit_prior`); default the bundled one, whose
        settings are chosen per kind of curve from the data. A kind's name (e.g.
        ``"pass_rate-flat"``, see :data:`rlscaling.forecasting.prior.KINDS`) forces the
        bundled settings of that kind.
    average_of : int, default 1
        Forecast the mean of this many evaluations at the budget (e.g. 3 to predict the mean of
        a run's last three evaluations); evaluation noise in the interval shrinks accordingly.
    reward_range : (float, float), "auto" or None, default "auto"
        The range the reward can take, when it is bounded but not [0, 1], e.g. ``(0, 100)``
        for an accuracy in percent: the run is forecast as a pass rate on that range (mapped
        to [0, 1] and back), kept inside it. ``"auto"``: a reward that stays in [0, 1] is a
        pass rate; one whose values all lie in [0, 100], the largest above 10, is read as a
        percentage (range (0, 100), with a note); any other is an open-ended score. ``None``:
        a reward in [0, 1] is a pass rate, any other a score.
    nan_policy : {"raise", "omit"}
        ``"omit"`` leaves out evaluations with a NaN/inf or missing value (an eval log read
        with pandas, whose reward column is empty on the steps between evaluations) and says
        how many in a note; ``"raise"`` refuses them.

    Returns
    -------
    Forecast
        Its caveats (``notes``) are also raised as :class:`ForecastWarning`.

    Examples
    --------
    >>> from rlscaling import forecast, load_example
    >>> run = load_example("scalerl_like").truncate(0.5)
    >>> fc = forecast(run, budget=16000)
    >>> lo, hi = fc.interval(0.9)
    >>> bool(lo[0] < fc.median[0] < hi[0])
    True
    """
    levels = check_levels(levels)
    check_int(n_samples, "n_samples", 10)
    check_seed(seed)
    run, left_out = as_run(data, reward, compute, nan_policy)
    planned = None
    if budget is None:
        planned = planned_end(run)
        budget = [planned if planned is not None else 2.0 * float(run.compute.max())]
    b = as_positive_compute(budget, "budget")
    if not (isinstance(average_of, int | np.integer) and average_of >= 1):
        raise InputError(f"average_of must be a positive integer, got {average_of!r}")
    draws = predictive_curves(
        run,
        b,
        method=method,
        n_samples=n_samples,
        seed=seed,
        prior=prior,
        average_of=average_of,
        left_out_at_zero=left_out.get("zero_compute", 0),
        reward_range=reward_range,
    )
    notes = _left_out_notes(left_out) + list(draws.notes)
    if planned is not None:
        notes.append(f"budget: the run's planned end, max_steps={planned:g} (from its log)")
    if np.any(b < run.compute.max()):
        notes.append(
            "a budget lies inside the observed compute range: that is a fit, not a forecast"
        )
    for n in notes:
        warnings.warn(n, ForecastWarning, stacklevel=2)
    return Forecast(
        name=run.name,
        budget=b,
        median=_median(draws.observed),
        draws=draws.observed,
        curve_draws=draws.curve,
        method=draws.method,
        weights=draws.weights,
        notes=tuple(notes),
        observed_compute=run.compute,
        observed_reward=run.reward,
        levels=tuple(levels),
        kind=draws.kind,
        gain_share=draws.gain_share,
        prior=_prior_label(prior) if draws.method == "auto" else "",
    )


def _prior_label(prior: ForecastPrior | str | None) -> str:
    """What a forecast's summary says about the prior it used."""
    if isinstance(prior, ForecastPrior):
        return prior.learned_from + (", intervals by horizon" if prior.horizon_anchors else "")
    return "bundled" + (f" ({prior} settings)" if isinstance(prior, str) else "")


class ForecastWarning(UserWarning):
    """A forecast caveat: a declining run, a target above the plausible asymptote, an
    unidentified fit, too few evaluations."""


def compute_to_reach(
    data: Any,
    target: float | None = None,
    *,
    fraction_of_asymptote: float | None = None,
    reward: Any = None,
    compute: str | None = None,
    method: Method = "auto",
    max_compute_factor: float = 1e3,
    n_samples: int = 2000,
    seed: int | None = 0,
    prior: Any = None,
    reward_range: tuple[float, float] | str | None = "auto",
    nan_policy: NanPolicy = "raise",
) -> TargetForecast:
    """Compute at which the run's expected reward reaches ``target``, with its distribution.

    Parameters
    ----------
    data : Run, SigmoidFit, DataFrame or array_like
        The observed (partial) run.
    target : float, optional
        Target reward. Give this or ``fraction_of_asymptote``.
    fraction_of_asymptote : float, optional
        Target as a fraction of the way from R0 to A, in (0, 1) (e.g. 0.95): per draw for
        ``"sigmoid"`` and ``"mcmc"``; from the point fit's R0 and A for ``"auto"``; where no
        curve is fitted (``"plateau"``, a run of 2-4 evaluations), per draw from its value at
        the observed compute to its value at ``max_compute_factor`` times it.
    reward, compute, method, n_samples, seed, prior
        As in :func:`forecast`.
    max_compute_factor : float, default 1e3
        Draws that do not reach the target within this multiple of the observed compute count as
        unreachable (searched on 240 log-spaced points).
    reward_range : (float, float), "auto" or None, default "auto"
        As in :func:`forecast` (``"auto"`` reads a reward in [0, 100] that passed 10 as a
        percentage); ``target`` is in the reward's own units.
    nan_policy : {"raise", "omit"}
        As in :func:`forecast`.

    Returns
    -------
    TargetForecast
        A note (also a :class:`ForecastWarning`) says so when more than half of the draws
        never reach the target.

    Examples
    --------
    >>> from rlscaling import compute_to_reach, load_example
    >>> res = compute_to_reach(load_example("scalerl_like").truncate(0.5), 0.55)
    >>> res.prob_unreachable < 0.5
    True
    """
    if (target is None) == (fraction_of_asymptote is None):
        raise InputError("give exactly one of target= or fraction_of_asymptote=")
    check_real(target, "target", allow_none=True, what="a finite reward")
    check_real(fraction_of_asymptote, "fraction_of_asymptote", allow_none=True)
    check_real(max_compute_factor, "max_compute_factor")
    check_int(n_samples, "n_samples", 10)
    check_seed(seed)
    if fraction_of_asymptote is not None and not 0 < fraction_of_asymptote < 1:
        raise InputError(f"fraction_of_asymptote must be in (0, 1), got {fraction_of_asymptote!r}")
    if not max_compute_factor > 1:
        raise InputError(f"max_compute_factor must be > 1, got {max_compute_factor!r}")
    run, left_out = as_run(data, reward, compute, nan_policy)
    c_max = float(run.compute.max())
    grid = c_max * np.geomspace(1.0, max_compute_factor, 240)
    draws = predictive_curves(
        run,
        grid,
        method=method,
        n_samples=n_samples,
        seed=seed,
        prior=prior,
        left_out_at_zero=left_out.get("zero_compute", 0),
        reward_range=reward_range,
    )
    curve = draws.curve
    if fraction_of_asymptote is not None:
        start = curve[:, :1]
        top = curve[:, -1:]
        if draws.params is not None:  # per-draw asymptotes (sigmoid, mcmc)
            a = draws.params["A"].to_numpy()[:, None]
            r0 = draws.params["R0"].to_numpy()[:, None]
            goal = r0 + fraction_of_asymptote * (a - r0)
        elif draws.fit_params is not None:  # one asymptote: the point fit's ("auto")
            a0, r00 = draws.fit_params["A"], draws.fit_params["R0"]
            goal = np.full((curve.shape[0], 1), r00 + fraction_of_asymptote * (a0 - r00))
        else:
            goal = start + fraction_of_asymptote * (top - start)
        tgt = float(np.median(goal))
    else:
        goal = np.full((curve.shape[0], 1), float(target))
        tgt = float(target)
    reached = curve >= goal
    # reached at the observed compute, per draw: "already reached" is a probability too (a
    # median rule alone said "already reached" beside P(unreachable) = 0.32)
    p_now = float(np.mean(reached[:, 0]))
    already = p_now >= 0.5 and fraction_of_asymptote is None
    crossed = _crossed_at(draws.fit_params, tgt, run) if fraction_of_asymptote is None else None
    first = np.argmax(reached, axis=1)
    hit = reached.any(axis=1)
    out = np.where(hit, grid[first], np.inf)
    notes = _left_out_notes(left_out) + list(draws.notes)
    p_unreach = float(np.mean(~hit))
    if p_unreach > 0.5:
        notes.append(
            f"the target {tgt:.4g} lies above the plausible asymptote in {p_unreach:.0%} of draws"
        )
    for n in notes:  # the caveats a forecast raises, raised here too
        warnings.warn(n, ForecastWarning, stacklevel=2)
    return TargetForecast(
        name=run.name,
        target=tgt,
        compute=out,
        prob_unreachable=p_unreach,
        already_reached=bool(already),
        method=draws.method,
        notes=tuple(notes),
        grid=grid,
        curve_draws=curve,
        prob_reached_now=p_now,
        crossed_at=crossed,
        prior=_prior_label(prior) if draws.method == "auto" else "",
    )


def _crossed_at(params: dict[str, float] | None, target: float, run: Run) -> float | None:
    """Where the point fit crossed ``target`` within the observed run (``None`` if not)."""
    if params is None:
        return None
    theta = to_theta(params["A"], params["B"], params["C_mid"], params["R0"])
    lo, hi = sorted((params["R0"], params["A"]))
    if not lo < target < hi:
        return None
    c = float(np.exp(log_compute_to_reach(np.array([target]), theta)[0]))
    return c if run.compute.min() <= c <= run.compute.max() else None
