"""Compare recipes: A, B, C_mid with intervals, who wins at a budget, where curves cross.

:func:`compare` fits every run, draws parameter samples (block bootstrap or MCMC), pools the
runs of one recipe (seeds) and answers from the samples:

- per recipe: A, B, C_mid and the reward at a budget, with equal-tailed intervals;
- per pair: ``P(A_i > A_j)``, ``P(B_i > B_j)`` and ``P(reward_i(C) > reward_j(C))`` at the
  budget; runs of different recipes are independent, so draws are paired i.i.d. (every draw of
  one recipe against every draw of the other);
- per pair: the compute where the leader changes (a recipe that leads early can lose at scale),
  with its interval, or "no crossing within [c_lo, c_hi]" and the probability of one.

Practice note (Khatri et al. 2025, "The Art of Scaling Reinforcement Learning Compute for
LLMs", arXiv 2510.13786, Sec 4): fitted asymptotes of repeated runs agree to about +-0.02, so
when two recipes' A differ by less than that the comparison is made on B (the more efficient
recipe reaches its ceiling with less compute). :func:`compare` says so in each such pair.

Verdicts come from the probabilities, never from point estimates: a pair gets a leader only
when the probability behind it is outside ``[1 - CLEAR, CLEAR]`` (``CLEAR = 0.95``: the leader
is at least 19 times as likely ahead as behind); nearer 0.5 the verdict is "no clear
difference". Two runs of the same recipe give P(A_i > A_j) spread over (0, 1): at 0.8 a leader
was named between identical recipes in a third of the pairs (``benchmarks/compare_verdicts.py``).
The A margin is in the reward's unit: 0.02 for a pass rate, 2 for a percentage, else 2% of the
observed range of the rewards (``a_margin`` sets it).

A recipe whose A is not identified (``SigmoidFit.identified`` is False for one of its runs:
A on its bound, data ending before C_mid, a profile that cannot tell A apart from a larger
one) gets no asymptote verdict; the pair is then judged on B and on the reward at the budget.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from tqdm.auto import tqdm

from rlscaling.fit.fitting import fit_sigmoid
from rlscaling.fit.result import SigmoidFit
from rlscaling.forecasting.forecast import forecast
from rlscaling.io.checks import (
    InputError,
    as_positive_compute,
    check_level,
    check_real,
    check_seed,
    is_pass_rate,
    looks_like_percent,
)
from rlscaling.io.inputs import NanPolicy
from rlscaling.io.loaders import runs_of_table
from rlscaling.io.runs import Run, recipe_of
from rlscaling.model.curve import curve_value
from rlscaling.plot import new_axes
from rlscaling.protocol import Kind, check_kind
from rlscaling.uncertainty.samples import ParameterSamples

if TYPE_CHECKING:
    import matplotlib.axes

__all__ = ["A_MARGIN", "CLEAR", "Comparison", "compare"]

A_MARGIN = 0.02  # error margin of fitted A across runs (Khatri et al. 2025, Sec 4)
# A leader is named only when P(leader ahead) >= CLEAR, i.e. odds of at least 19:1. Runs of
# identical recipes give P(A_i > A_j) spread over (0, 1) (each run's noise moves its fit):
# with 30 simulated pairs of identical single-seed recipes a leader was named on A in 37% of
# them at 0.8, 20% at 0.9, 3% at 0.95, while an A higher by 0.05 was still found in 73% at
# 0.95 and a B of 2.5 against 1.5 in 87% (benchmarks/compare_verdicts.py).
CLEAR = 0.95
# "No crossing" is said, with its probability, up to this share of crossing draws: curves that
# start together at R0 "cross" by more than the margin in some draws by noise alone (16% for
# asymptotes 0.6 and 0.7 in tests/test_compare.py), and a crossing is claimed only at CLEAR.
NO_CROSSING = 0.2
GRID_POINTS = 256
Sampler = Literal["bootstrap", "mcmc"]


@dataclass(frozen=True)
class _Entry:
    """One run of a recipe: its point fit and its parameter draws."""

    fit: SigmoidFit
    theta: NDArray[np.float64]
    name: str


@dataclass(frozen=True, eq=False)
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per recipe: number of runs, A, B, C_mid, R0 (sample medians) and the reward at
        ``budget``, each with ``_lower``/``_upper`` bounds at ``level``; ``identified`` (all
        runs) and the identification ``issues``.
    pairwise : pandas.DataFrame
        One row per pair ``(recipe_i, recipe_j)``: the difference ``A_i - A_j`` with its
        interval, ``P_A`` = P(A_i > A_j), ``P_B`` = P(B_i > B_j), ``P_reward`` =
        P(reward_i > reward_j at budget), ``A_within_margin``, ``A_identified`` (both
        recipes), the ``verdict``, what it rests on (``verdict_on``: "A", "B" or "reward") and
        the ``leader`` it names (None for "no clear difference"; see :data:`CLEAR`).
    crossovers : pandas.DataFrame
        One row per pair: the searched range ``c_lo``..``c_hi``, ``P_cross`` (share of paired
        draws whose leader changes there by more than ``margin``), the crossing compute
        (median and interval among those draws), the early and late leader, ``P_i_ahead_at_end``
        = P(reward_i > reward_j at ``c_hi``), ``leader_at_end`` (None when that probability is
        within ``[1 - CLEAR, CLEAR]``) and a ``statement``.
    budget, level : float
        The budget of the reward comparison and the interval level.
    method : str
        How the draws were made.
    theta : dict
        Recipe name -> pooled ``(S, 4)`` draws of ``(A, B, ln C_mid, R0)``.
    points : dict
        Recipe name -> list of ``(compute, reward)`` arrays of its runs (for plots).
    notes : tuple of str
        Caveats: runs whose parameters are not identified, mixed compute units.
    a_margin : float
        Asymptotes closer than this are taken as equal and the pair is judged on B.
    """

    table: pd.DataFrame
    pairwise: pd.DataFrame
    crossovers: pd.DataFrame
    budget: float
    level: float
    method: str
    n: int
    seed: int | None
    margin: float
    theta: dict[str, NDArray[np.float64]] = field(repr=False)
    points: dict[str, list[tuple[NDArray[np.float64], NDArray[np.float64]]]] = field(repr=False)
    notes: tuple[str, ...] = ()
    a_margin: float = A_MARGIN

    @property
    def recipes(self) -> list[str]:
        return list(self.table["recipe"])

    def _draws(self, name: str, at: float) -> dict[str, NDArray[np.float64]]:
        th = self.theta[name]
        return {
            "A": th[:, 0],
            "B": th[:, 1],
            "C_mid": np.exp(th[:, 2]),
            "R0": th[:, 3],
            "reward_at_budget": curve_value(np.log(np.array([at])), th)[:, 0],
        }

    def to_frame(self, level: float | None = None) -> pd.DataFrame:
        """One row per recipe and quantity (A, B, C_mid, R0, the reward at the budget): the
        median of the pooled draws and the equal-tailed interval at ``level`` (default the
        comparison's). The pairwise verdicts are in :attr:`pairwise`."""
        level = self.level if level is None else check_level(level)
        q = [0.5 - level / 2, 0.5, 0.5 + level / 2]
        rows = []
        for name in self.recipes:
            for param, v in self._draws(name, self.budget).items():
                lo, med, hi = np.quantile(v, q)
                rows.append(
                    {"recipe": name, "param": param, "estimate": med, "lower": lo, "upper": hi}
                )
        frame = pd.DataFrame(rows)
        frame["level"] = level
        return frame

    def interval(self, level: float = 0.9, *, kind: Kind = "curve") -> tuple[Any, Any]:
        """``(lower, upper)`` of every row of :meth:`to_frame` at ``level`` (pooled draws of
        the curves: ``kind="curve"`` only)."""
        check_kind(kind, ("curve",))
        frame = self.to_frame(check_level(level))
        return frame["lower"].to_numpy(), frame["upper"].to_numpy()

    def prob_at_least(
        self, reward: float, at: float | None = None, *, kind: Kind = "curve"
    ) -> pd.Series:
        """Per recipe: the share of its pooled curve draws whose reward at compute ``at``
        (default the comparison's budget) is at least ``reward``."""
        check_kind(kind, ("curve",))
        at = self.budget if at is None else float(as_positive_compute(at, "at")[0])
        return pd.Series(
            {name: float(np.mean(self._draws(name, at)["reward_at_budget"] >= reward))
             for name in self.recipes},
            name=f"P(reward >= {reward:g} at {at:.4g})",
        )  # fmt: skip

    def summary(self) -> str:
        """Readable text: per-recipe parameters, pairwise probabilities and crossings."""
        pct = f"{self.level * 100:g}%"
        lines = [
            f"Comparison of {len(self.table)} recipes ({self.method}, {self.n} draws per "
            f"recipe; {pct} intervals; budget {self.budget:.4g})",
            f"  {'recipe':<18}{'runs':>5}  {'A':<24}{'B':<24}{'C_mid':<31}"
            f"{'sigmoid at budget':<24}forecast at budget",
        ]
        has_fc = "forecast_at_budget" in self.table.columns
        for _, r in self.table.iterrows():
            lines.append(
                f"  {r['recipe']:<18}{r['n_runs']:>5}  "
                f"{_ci(r, 'A', '.3f'):<24}{_ci(r, 'B', '.2f'):<24}{_ci(r, 'C_mid', '.3g'):<31}"
                f"{_ci(r, 'reward_at_budget', '.3f'):<24}"
                + (_ci(r, "forecast_at_budget", ".3f") if has_fc else "")
            )
        lines.append("")
        for (_, p), (_, x) in zip(
            self.pairwise.iterrows(), self.crossovers.iterrows(), strict=True
        ):
            lines.append(f"  {p['recipe_i']} vs {p['recipe_j']}: {p['verdict']}")
            lines.append(
                f"    P(A_i > A_j) = {p['P_A']:.2f}, P(B_i > B_j) = {p['P_B']:.2f}, "
                f"P(reward_i > reward_j at {self.budget:.3g}) = {p['P_reward']:.2f}"
                + (f" (forecast: {p['P_forecast']:.2f})" if "P_forecast" in p else "")
            )
            lines.append(f"    {x['statement']}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (JSON-serialisable) description; NaN and inf become None."""
        return {
            "method": self.method,
            "n": self.n,
            "seed": self.seed,
            "level": self.level,
            "budget": self.budget,
            "margin": self.margin,
            "a_margin": self.a_margin,
            "recipes": records(self.table),
            "pairwise": records(self.pairwise),
            "crossovers": records(self.crossovers),
            "notes": list(self.notes),
        }

    def plot(
        self, ax: matplotlib.axes.Axes | None = None, *, extend: float = 1.2
    ) -> matplotlib.axes.Axes:
        """All recipes' data, median curves and bands on a log-compute axis.

        The budget is a dashed line; clear crossings (``P_cross >= CLEAR``) are dotted lines.
        """
        ax = new_axes(ax)
        c_min = min(float(c.min()) for pts in self.points.values() for c, _ in pts)
        c_max = max(self.budget, *(float(c.max()) for p in self.points.values() for c, _ in p))
        grid = np.geomspace(c_min / 1.5, c_max * extend, 200)
        for k, name in enumerate(self.recipes):
            col = f"C{k % 10}"
            for c, r in self.points[name]:
                ax.scatter(c, r, s=8, color=col, alpha=0.5, lw=0)
            curves = curve_value(np.log(grid), self.theta[name])
            lo, med, hi = np.quantile(
                curves, [0.5 - self.level / 2, 0.5, 0.5 + self.level / 2], axis=0
            )
            row = self.table.loc[self.table["recipe"] == name].iloc[0]
            ax.plot(
                grid, med, color=col, lw=1.8, label=f"{name}: A={row['A']:.3f}, B={row['B']:.2f}"
            )
            ax.fill_between(grid, lo, hi, color=col, alpha=0.18, lw=0)
        ax.axvline(self.budget, color="0.3", ls="--", lw=1, label=f"budget {self.budget:.3g}")
        for _, x in self.crossovers.iterrows():
            if x["P_cross"] >= CLEAR and np.isfinite(x["crossing"]):
                ax.axvline(x["crossing"], color="0.5", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("compute")
        ax.set_ylabel("reward")
        ax.set_title(f"{self.level * 100:g}% bands ({self.method})", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        return ax


def compare(
    runs_or_fits: Any,
    *,
    budget: float | None = None,
    level: float = 0.9,
    n: int = 1000,
    method: Sampler = "bootstrap",
    seed: int | None = 0,
    group_by: str | None = None,
    margin: float | None = None,
    a_margin: float | None = None,
    sampler_options: Mapping[str, Any] | None = None,
    nan_policy: NanPolicy = "raise",
    progress: bool | None = None,
) -> Comparison:
    """Compare recipes by their fitted curves, with uncertainty from parameter samples.

    Parameters
    ----------
    runs_or_fits : sequence, dict or DataFrame
        Runs, SigmoidFits or bootstrap/MCMC results, or a dict ``name -> item`` (or
        ``name -> list of items``: the runs of one recipe), or a DataFrame of runs (a ``run``
        column names each, as :func:`~rlscaling.load_runs` reads it; ``group_by`` may name a
        column). An item may be a DataFrame too (an eval log read with pandas, its columns
        found as :func:`~rlscaling.load_run` finds a file's): in a dict it takes the key's
        name. Runs of one recipe are pooled: by
        ``group_by``, else by ``metadata["recipe"]`` where present, else each run stands alone.
    budget : float, optional
        Compute at which rewards are compared; default 4x the largest observed compute.
    level : float
        Interval level (0.9 for 90%).
    n : int
        Draws per recipe. A recipe with several runs mixes equal shares of each run's draws,
        so the spread between seeds is in its intervals.
    method : {"bootstrap", "mcmc"}
        ``"bootstrap"``: block bootstrap (consecutive evaluations are correlated); ``"mcmc"``:
        emcee posterior. Items that already are samples are used as they are.
    seed : int or None
        The same seed gives the same comparison.
    group_by : str, optional
        Metadata key that names the recipe of each run (every run must have it); with a
        DataFrame, a column.
    margin : float, optional
        A pair's leader must change by more than this reward difference to count as a crossing
        (so that curves that start together at R0 do not "cross" by noise); default 2% of the
        median gain ``A - R0`` of the recipes.
    a_margin : float, optional
        Asymptotes whose medians differ by at most this are taken as equal, and the pair is
        judged on B (Khatri et al. 2025, Sec 4: repeated runs' A agree within 0.02). In the
        reward's unit; default 0.02 when every reward lies in [0, 1], 2 when they lie in
        [0, 100] and some exceed 10 (a percentage, read as ``forecast`` reads one; said in a
        note), else 2% of the observed range of the rewards (said in a note).
    sampler_options : dict, optional
        Passed to ``fit.bootstrap`` or ``fit.mcmc`` (e.g. ``{"block_length": 4}``).
    nan_policy : {"raise", "omit"}
        For DataFrames: ``"omit"`` reads them as ``load_runs(df, nan_policy="omit")`` does
        (rows with a missing reward left out and counted in each run's
        ``metadata["omitted"]``); ``"raise"`` refuses them.
    progress : bool or None
        Show a progress bar over the runs being sampled; ``None`` shows one only on a
        terminal. The samplers' own bars stay off unless ``sampler_options`` asks for them.

    Returns
    -------
    Comparison

    Raises
    ------
    InputError
        Fewer than two recipes, an unknown item type, a recipe key missing, mixed compute
        units, or a bad option.

    Examples
    --------
    >>> from rlscaling import compare, load_example
    >>> runs = [load_example("scalerl_like"), load_example("moe_like")]
    >>> cmp = compare(runs, n=200, budget=32000)
    >>> p = cmp.pairwise.iloc[0]
    >>> bool(p["P_A"] < 0.05)  # moe_like has the higher asymptote
    True
    """
    check_seed(seed)
    level = check_level(check_real(level, "level", what="a number in (0, 1)"))
    check_real(budget, "budget", positive=True, allow_none=True, what="a finite compute")
    check_real(margin, "margin", allow_none=True)
    check_real(a_margin, "a_margin", allow_none=True)
    if a_margin is not None and not (np.isfinite(a_margin) and a_margin >= 0):
        raise InputError(f"a_margin must be a finite reward difference >= 0, got {a_margin!r}")
    if method not in ("bootstrap", "mcmc"):
        raise InputError(f"method must be 'bootstrap' or 'mcmc', got {method!r}")
    if nan_policy not in ("raise", "omit"):
        raise InputError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    if not (isinstance(n, int | np.integer) and n >= 10):
        raise InputError(f"n must be an integer >= 10 draws, got {n!r}")
    if budget is not None and not (np.isfinite(budget) and budget > 0):
        raise InputError(f"budget must be a finite compute > 0, got {budget!r}")
    if margin is not None and not (np.isfinite(margin) and margin >= 0):
        raise InputError(f"margin must be >= 0, got {margin!r}")
    groups = _group(runs_or_fits, group_by, nan_policy)
    if len(groups) < 2:
        raise InputError(
            f"compare needs at least two recipes, got {len(groups)}: {list(groups)}. Runs of one "
            "recipe (same metadata['recipe'] or group_by key) are pooled into one."
        )
    notes = _unit_notes(groups)
    seeds = np.random.SeedSequence(seed).generate_state(len(groups) * 64 + 1)
    rng = np.random.default_rng(seeds[-1])
    # one bar over the runs; the samplers' own bars (one per run) only when asked for
    opts = {"progress": False, **dict(sampler_options or {})}
    entries: dict[str, list[_Entry]] = {}
    k = 0
    bar = tqdm(
        total=sum(len(v) for v in groups.values()),
        desc="compare",
        unit="run",
        disable=None if progress is None else not progress,
        leave=False,
    )
    with bar:
        for name, items in groups.items():
            entries[name] = []
            for item in items:
                entries[name].append(
                    _draws(item, method, n, int(seeds[k % (len(seeds) - 1)]), opts)
                )
                k += 1
                bar.update()
    theta = {name: _pool([e.theta for e in es], n, rng) for name, es in entries.items()}
    points = {name: [(e.fit.compute, e.fit.reward) for e in es] for name, es in entries.items()}
    c_all = np.concatenate([c for pts in points.values() for c, _ in pts])
    budget = float(4.0 * c_all.max()) if budget is None else float(budget)
    for name, es in entries.items():
        for e in es:
            if not e.fit.identified:
                notes.append(
                    f"{name}: run {e.name!r} is not identified ("
                    + "; ".join(e.fit.identification_issues)
                    + "); its A is an extrapolation"
                )
    a_margin = _a_margin(points, a_margin, notes)
    if margin is None:
        gains = [abs(np.median(t[:, 0] - t[:, 3])) for t in theta.values()]
        margin = 0.02 * float(np.median(gains))
    table = _table(entries, theta, budget, level)
    identified = {name: all(e.fit.identified for e in es) for name, es in entries.items()}
    pairwise, crossovers = _pairs(theta, points, budget, level, margin, identified, a_margin)
    _add_forecasts(table, pairwise, entries, budget, level, n, rng)
    label = "block bootstrap" if method == "bootstrap" else "MCMC"
    return Comparison(
        table=table,
        pairwise=pairwise,
        crossovers=crossovers,
        budget=budget,
        level=level,
        method=label,
        n=n,
        seed=seed,
        margin=float(margin),
        theta=theta,
        points=points,
        notes=tuple(notes),
        a_margin=a_margin,
    )


def _a_margin(
    points: dict[str, list[tuple[NDArray, NDArray]]], a_margin: float | None, notes: list[str]
) -> float:
    """The run-to-run margin of A in the reward's unit (see :func:`compare`)."""
    if a_margin is not None:
        return float(a_margin)
    y = np.concatenate([r for pts in points.values() for _, r in pts])
    if is_pass_rate(y):
        return A_MARGIN
    if looks_like_percent(y):  # the rule forecast's reward_range="auto" reads them by
        notes.append(
            f"rewards read as percentages (all in [0, 100], some above 10): asymptotes within "
            f"{100 * A_MARGIN:g} are taken as equal (a_margin= sets it)"
        )
        return 100 * A_MARGIN
    m = A_MARGIN * float(np.ptp(y))
    notes.append(
        f"rewards are not pass rates: asymptotes within {m:.3g} (2% of the rewards' observed "
        "range) are taken as equal (a_margin= sets it)"
    )
    return m


# ---------------------------------------------------------------------------- inputs


def _item_name(item: Any) -> str:
    if isinstance(item, Run):
        return item.name
    if isinstance(item, SigmoidFit):
        return item.data.name or "run"
    if isinstance(item, ParameterSamples):
        return item.fit.data.name or "run"
    raise InputError(
        "runs_or_fits must hold Runs, SigmoidFits, bootstrap/MCMC results or DataFrames, got "
        f"{type(item).__name__}"
    )


def _read_tables(items: list[Any], nan_policy: NanPolicy, recipe: str | None = None) -> list[Any]:
    """Items with each DataFrame replaced by its runs (an eval log read with pandas, as
    ``load_runs(df)`` reads it); under a dict key, a run no column names takes the key's name."""
    out: list[Any] = []
    for item in items:
        if not isinstance(item, pd.DataFrame):
            out.append(item)
            continue
        out += runs_of_table(item, nan_policy=nan_policy, name=recipe)
    return out


def _group(
    data: Any, group_by: str | None, nan_policy: NanPolicy = "raise"
) -> dict[str, list[Any]]:
    if isinstance(data, pd.DataFrame):
        data = runs_of_table(data, group_by, nan_policy)
    if isinstance(data, Run | SigmoidFit | ParameterSamples):
        data = [data]
    groups: dict[str, list[Any]] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            items = list(value) if isinstance(value, list | tuple) else [value]
            items = _read_tables(items, nan_policy, str(key))
            for it in items:
                _item_name(it)
            if not items:
                raise InputError(f"recipe {key!r} has no runs")
            groups[str(key)] = items
        return groups
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise InputError(
            "runs_or_fits must be a list of Runs/SigmoidFits or a dict name -> Run, got "
            f"{type(data).__name__}"
        )
    singles: list[str] = []
    for item in _read_tables(list(data), nan_policy):
        name = _item_name(item)
        meta = item.metadata if isinstance(item, Run) else {}
        try:
            key = recipe_of(meta, name, group_by, fallback=False)
        except InputError as exc:
            raise InputError(f"{exc}, or pass a dict recipe -> runs instead") from None
        if key is None:
            key = name
            singles.append(name)
        groups.setdefault(key, []).append(item)
    dup = sorted({s for s in singles if len(groups[s]) > 1})
    if dup:
        raise InputError(
            f"several runs are named {dup} and carry no recipe; give them distinct names, set "
            "metadata['recipe'] to pool them as seeds of one recipe, or pass a dict"
        )
    return groups


def _unit_notes(groups: dict[str, list[Any]]) -> list[str]:
    units = {
        str(it.metadata["compute_unit"])
        for items in groups.values()
        for it in items
        if isinstance(it, Run) and it.metadata.get("compute_unit")
    }
    if len(units) > 1:
        raise InputError(
            f"runs measure compute in different units {sorted(units)}; convert them to one unit "
            "first (load_run(..., compute_per_step=...) or flops_per_token=...)"
        )
    return []


def _draws(item: Any, method: Sampler, n: int, seed: int, opts: dict[str, Any]) -> _Entry:
    if isinstance(item, ParameterSamples):
        return _Entry(item.fit, item.theta, _item_name(item))
    if isinstance(item, Run):
        try:
            fit = fit_sigmoid(item, warn=False)
        except InputError as exc:  # say which run; fitting it alone gives the fit's options
            raise InputError(
                f"run {item.name!r} could not be fitted: {exc} (fit it with fit_sigmoid(run, "
                "...) and pass the fit, or leave the run out)"
            ) from None
    else:
        fit = item
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "bootstrap":
            res = fit.bootstrap(n, **{"method": "block", "seed": seed, **opts})
        else:
            res = fit.mcmc(**{"seed": seed, "warn": False, **opts})
    if res.n_samples == 0:
        raise InputError(f"no usable {method} draws for run {_item_name(item)!r}")
    return _Entry(fit, res.theta, _item_name(item))


def _pool(thetas: list[NDArray], n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``n`` draws mixing equal shares of each run's draws (a run is picked, then a draw)."""
    which = rng.permutation(np.arange(n) % len(thetas))
    out = np.empty((n, 4))
    for k, t in enumerate(thetas):
        m = int(np.sum(which == k))
        out[which == k] = t[rng.choice(t.shape[0], size=m, replace=m > t.shape[0])]
    return out


# ---------------------------------------------------------------------------- statistics


def prob_greater(x: NDArray, y: NDArray) -> float:
    """``P(X > Y)`` over all pairs of draws of independent X and Y (ties count one half).

    Examples
    --------
    >>> import numpy as np
    >>> prob_greater(np.array([1.0, 2.0]), np.array([0.0, 2.0]))
    0.625
    """
    ys = np.sort(np.asarray(y, dtype=float))
    x = np.asarray(x, dtype=float)
    below = np.searchsorted(ys, x, side="left")
    ties = np.searchsorted(ys, x, side="right") - below
    return float(np.mean((below + 0.5 * ties) / ys.size))


def _add_forecasts(
    table: pd.DataFrame,
    pairwise: pd.DataFrame,
    entries: dict[str, list[_Entry]],
    budget: float,
    level: float,
    n: int,
    rng: np.random.Generator,
) -> None:
    """Add the calibrated forecast of each recipe's reward at ``budget`` (the machinery of
    :func:`rlscaling.forecast`, ``method="auto"``) beside the sigmoid extrapolation: columns
    ``forecast_at_budget[_lower|_upper]`` and, per pair, ``P_forecast`` = P(forecast_i >
    forecast_j). Runs of one recipe are pooled by drawing equally from each run's forecast.
    """
    draws: dict[str, NDArray] = {}
    for name, es in entries.items():
        per_run = []
        for e in es:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fc = forecast(e.fit, budget, n_samples=n, seed=int(rng.integers(2**31)))
            per_run.append(fc.draws[:, 0])
        pooled = np.concatenate(per_run)
        draws[name] = pooled[rng.integers(0, pooled.size, size=n)] if len(es) > 1 else pooled
    q = np.array([_quant(draws[name], level) for name in table["recipe"]])
    table["forecast_at_budget"] = q[:, 0]
    table["forecast_at_budget_lower"] = q[:, 1]
    table["forecast_at_budget_upper"] = q[:, 2]
    if len(pairwise):
        pairwise["P_forecast"] = [
            prob_greater(draws[i], draws[j])
            for i, j in zip(pairwise["recipe_i"], pairwise["recipe_j"], strict=True)
        ]


def _quant(v: NDArray, level: float) -> tuple[float, float, float]:
    lo, med, hi = np.quantile(v, [0.5 - level / 2, 0.5, 0.5 + level / 2])
    return float(med), float(lo), float(hi)


def _table(
    entries: dict[str, list[_Entry]], theta: dict[str, NDArray], budget: float, level: float
) -> pd.DataFrame:
    rows = []
    for name, t in theta.items():
        es = entries[name]
        row: dict[str, Any] = {
            "recipe": name,
            "n_runs": len(es),
            "runs": ", ".join(e.name for e in es),
        }
        cols = {"A": t[:, 0], "B": t[:, 1], "C_mid": np.exp(t[:, 2])}
        cols["reward_at_budget"] = curve_value(np.log([budget]), t)[:, 0]
        for key, v in cols.items():
            row[key], row[f"{key}_lower"], row[f"{key}_upper"] = _quant(v, level)
        row["R0"] = float(np.median(t[:, 3]))
        row["identified"] = all(e.fit.identified for e in es)
        row["issues"] = "; ".join(f"{e.name}: {i}" for e in es for i in e.fit.identification_issues)
        rows.append(row)
    return pd.DataFrame(rows)


def last_crossing(
    diff: NDArray[np.float64], log_grid: NDArray[np.float64], margin: float
) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
    """Per row of ``diff`` (``(S, G)``, curve i minus curve j on ``log_grid``): the log-compute
    of the last change of leader by more than ``margin`` (NaN where the leader never changes),
    and the sign of the leader after it (+1: curve i).

    A change counts when the curves are apart by more than ``margin`` one way at some compute
    and the other way later; the crossing is the zero of ``diff`` between those computes.
    """
    s, g = diff.shape
    sign = np.where(diff > margin, 1, np.where(diff < -margin, -1, 0))
    idx = np.arange(g)
    last_pos = np.where(sign > 0, idx, -1).max(axis=1)
    last_neg = np.where(sign < 0, idx, -1).max(axis=1)
    crosses = (last_pos >= 0) & (last_neg >= 0)
    k1 = np.minimum(last_pos, last_neg)  # last point led by the early leader
    # Zero crossings of diff between k1 and the end: the last one before the late leader's
    # lead exceeds the margin, i.e. the last sign change at or after k1 before k2.
    final = np.where(last_pos > last_neg, 1, -1)
    after = (idx[None, :] > k1[:, None]) & (sign == final[:, None])
    k2 = np.where(after.any(axis=1), np.argmax(after, axis=1), g - 1)
    change = np.signbit(diff[:, 1:]) != np.signbit(diff[:, :-1])  # (S, G-1)
    seg = idx[None, :-1]
    ok = change & (seg >= k1[:, None]) & (seg < k2[:, None])
    k = np.where(ok.any(axis=1), (g - 2) - np.argmax(ok[:, ::-1], axis=1), k1)
    k = np.clip(k, 0, g - 2)
    rows = np.arange(s)
    d0, d1 = diff[rows, k], diff[rows, k + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip(np.where(d0 != d1, d0 / (d0 - d1), 0.5), 0.0, 1.0)
    out = log_grid[k] + frac * (log_grid[k + 1] - log_grid[k])
    return np.where(crosses, out, np.nan), final


def _clear(p: float) -> bool:
    """Whether a probability names a leader (outside ``[1 - CLEAR, CLEAR]``)."""
    return p >= CLEAR or p <= 1.0 - CLEAR


def pair_verdict(
    i: str,
    j: str,
    *,
    p_a: float,
    p_b: float,
    p_reward: float,
    a_gap: float,
    identified: tuple[bool, bool],
    budget: float,
    a_margin: float = A_MARGIN,
) -> tuple[str, str, str | None]:
    """The verdict of a pair from its probabilities: ``(text, verdict_on, leader)``.

    ``verdict_on`` is "A" when the asymptotes decide, "B" when the asymptotes agree within
    ``a_margin`` (both identified; default :data:`A_MARGIN`, a pass rate's), and "reward"
    when an A is not identified (then the reward at ``budget`` decides, with B given beside
    it). ``leader`` is None when the deciding probability is within ``[1 - CLEAR, CLEAR]``.

    Examples
    --------
    >>> pair_verdict("a", "b", p_a=0.55, p_b=0.51, p_reward=0.5, a_gap=0.05,
    ...              identified=(True, True), budget=1e4)[1:]
    ('A', None)
    >>> pair_verdict("a", "b", p_a=0.03, p_b=0.5, p_reward=0.2, a_gap=-0.05,
    ...              identified=(True, True), budget=1e4)[2]
    'b'
    """

    def ahead(p: float) -> str | None:
        return (i if p >= 0.5 else j) if _clear(p) else None

    def b_text(p: float) -> str:
        lead = ahead(p)
        if lead is None:
            return f"no clear difference in B (P(B_i > B_j) = {p:.2f})"
        return f"{lead} is more efficient (P(B higher) = {max(p, 1 - p):.2f})"

    if not all(identified):
        which = ", ".join(n for n, ok in zip((i, j), identified, strict=True) if not ok)
        lead = ahead(p_reward)
        at = f"at compute {budget:.3g}"
        reward = (
            f"no clear difference {at} (P(reward_i > reward_j) = {p_reward:.2f})"
            if lead is None
            else f"{lead} is higher {at} (P = {max(p_reward, 1 - p_reward):.2f})"
        )
        text = f"no asymptote verdict: A of {which} is not identified; {reward}; {b_text(p_b)}"
        return text, "reward", lead
    if abs(a_gap) <= a_margin:
        lead = ahead(p_b)
        text = (
            f"A agree within {a_margin:.3g} (the run-to-run margin of A in Khatri et al. 2025, "
            f"Sec 4), so compare B: {b_text(p_b)}"
        )
        return text, "B", lead
    lead = ahead(p_a)
    if lead is None:
        return f"no clear difference in A (P(A_i > A_j) = {p_a:.2f})", "A", None
    text = f"{lead} has the higher asymptote (A by {abs(a_gap):.3f}, P = {max(p_a, 1 - p_a):.2f})"
    return text, "A", lead


def _pairs(
    theta: dict[str, NDArray],
    points: dict[str, list[tuple[NDArray, NDArray]]],
    budget: float,
    level: float,
    margin: float,
    identified: dict[str, bool],
    a_margin: float = A_MARGIN,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = list(theta)
    pair_rows, cross_rows = [], []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            i, j = names[a], names[b]
            ti, tj = theta[i], theta[j]
            ri = curve_value(np.log([budget]), ti)[:, 0]
            rj = curve_value(np.log([budget]), tj)[:, 0]
            d_med, d_lo, d_hi = _quant(ti[:, 0] - tj[:, 0], level)
            p_a, p_b = prob_greater(ti[:, 0], tj[:, 0]), prob_greater(ti[:, 1], tj[:, 1])
            p_reward = prob_greater(ri, rj)
            gap = float(np.median(ti[:, 0]) - np.median(tj[:, 0]))
            ident = (identified[i], identified[j])
            verdict, on, leader = pair_verdict(
                i, j, p_a=p_a, p_b=p_b, p_reward=p_reward, a_gap=gap, identified=ident,
                budget=budget, a_margin=a_margin,
            )  # fmt: skip
            pair_rows.append(
                {
                    "recipe_i": i,
                    "recipe_j": j,
                    "A_diff": d_med,
                    "A_diff_lower": d_lo,
                    "A_diff_upper": d_hi,
                    "P_A": p_a,
                    "P_B": p_b,
                    "budget": budget,
                    "P_reward": p_reward,
                    "A_within_margin": abs(gap) <= a_margin,
                    "A_identified": all(ident),
                    "verdict": verdict,
                    "verdict_on": on,
                    "leader": leader,
                }
            )
            cross_rows.append(_crossover(i, j, ti, tj, points, budget, level, margin))
    return _frame(pair_rows), _frame(cross_rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a frame whose text columns keep ``None`` ("no leader") as ``None``: pandas 3
    infers a string dtype for text columns and turns ``None`` into NaN, which is truthy and
    ``is not None``."""
    df = pd.DataFrame(rows)
    for col in df.columns:
        vals = [r.get(col) for r in rows]
        if any(v is None for v in vals) and any(isinstance(v, str) for v in vals):
            df[col] = pd.Series(vals, index=df.index, dtype=object)
    return df


def _crossover(
    i: str,
    j: str,
    ti: NDArray,
    tj: NDArray,
    points: dict[str, list[tuple[NDArray, NDArray]]],
    budget: float,
    level: float,
    margin: float,
) -> dict[str, Any]:
    first = [min(float(c.min()) for c, _ in points[k]) for k in (i, j)]
    last = [max(float(c.max()) for c, _ in points[k]) for k in (i, j)]
    c_lo, c_hi = max(first), max(budget, *last)
    x = np.linspace(np.log(c_lo), np.log(c_hi), GRID_POINTS)
    diff = curve_value(x, ti) - curve_value(x, tj)  # draws paired i.i.d. (independent runs)
    cross, final = last_crossing(diff, x, margin)
    hit = np.isfinite(cross)
    p_cross = float(hit.mean())
    # Who is ahead at c_hi is read from all draws (the same P as P_reward when c_hi is the
    # budget), not from the draws that cross: those may be a minority.
    p_end = prob_greater(curve_value(x[-1:], ti)[:, 0], curve_value(x[-1:], tj)[:, 0])
    end_leader = (i if p_end >= 0.5 else j) if _clear(p_end) else None
    if hit.any():
        late = i if np.mean(final[hit] > 0) >= 0.5 else j
    else:
        late = i if p_end >= 0.5 else j
    early = (j if late == i else i) if hit.any() else late
    row: dict[str, Any] = {
        "recipe_i": i,
        "recipe_j": j,
        "c_lo": c_lo,
        "c_hi": c_hi,
        "margin": margin,
        "P_cross": p_cross,
        "crossing": np.nan,
        "crossing_lower": np.nan,
        "crossing_upper": np.nan,
        "leader_early": early,
        "leader_late": late,
        "P_i_ahead_at_end": p_end,
        "leader_at_end": end_leader,
    }
    if end_leader is None:
        at_end = (
            f"no clear leader at {c_hi:.3g} on the fitted curves (P(reward_i > reward_j) = "
            f"{p_end:.2f})"
        )
    else:
        at_end = (
            f"{end_leader} leads at {c_hi:.3g} on the fitted curves "
            f"(P = {max(p_end, 1 - p_end):.2f})"
        )
    if p_cross >= 0.5:
        med, lo, hi = (float(np.exp(v)) for v in _quant(cross[hit], level))
        row.update(crossing=med, crossing_lower=lo, crossing_upper=hi)
    within = f"within [{c_lo:.3g}, {c_hi:.3g}]"
    if p_cross >= CLEAR and end_leader == late:
        row["statement"] = (
            f"{late} overtakes {early} at compute {row['crossing']:.3g} "
            f"({level * 100:g}% interval [{row['crossing_lower']:.3g}, "
            f"{row['crossing_upper']:.3g}]; P(crossing {within}) = {p_cross:.2f}); {at_end}"
        )
    elif p_cross <= NO_CROSSING:
        row["statement"] = f"no crossing {within} (P(crossing) = {p_cross:.2f}); {at_end}"
    else:
        row["statement"] = (
            f"no clear answer whether the curves cross {within} (P(crossing) = "
            f"{p_cross:.2f}); {at_end}"
        )
    return row


# ---------------------------------------------------------------------------- formatting


def _ci(row: pd.Series, key: str, fmt: str) -> str:
    return f"{row[key]:{fmt}} [{row[f'{key}_lower']:{fmt}}, {row[f'{key}_upper']:{fmt}}]"


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as plain-Python dicts; NaN and inf become None, numpy scalars Python."""
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not np.isfinite(v):
                v = None
            clean[str(k)] = v
        out.append(clean)
    return out
