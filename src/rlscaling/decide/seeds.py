"""How much runs of one recipe differ by seed alone, and how to carry that into forecasts.

A forecast of one run's end is a statement about that run. A decision about a recipe ("give it
the big budget") is a statement about the next run of it, which has its own seed. When seeds
of one recipe end further apart than a single run's interval is wide, the single-run interval
is the wrong width for that decision. :func:`seed_spread` estimates the between-seed standard
deviation of the final reward from repeated runs (pooled within recipes), and
:meth:`SeedSpread.inflate` widens a forecast by it: the forecast then answers "where would
another seed of this recipe end", not "where will this run end".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from rlscaling.forecasting.forecast import Forecast
from rlscaling.io.checks import InputError, check_level
from rlscaling.io.loaders import as_runs
from rlscaling.io.runs import Run
from rlscaling.plot import new_axes
from rlscaling.protocol import Kind, check_kind

__all__ = ["SeedSpread", "seed_spread"]


@dataclass(frozen=True)
class SeedSpread:
    """Between-seed spread of the final reward.

    Attributes
    ----------
    table : pandas.DataFrame
        Per recipe: ``n_seeds``, ``final_mean``, ``final_sd`` (sample sd across seeds).
    sd : float
        Pooled within-recipe standard deviation (recipes with >= 2 seeds).
    dof : int
        Degrees of freedom of ``sd`` (sum over recipes of seeds - 1).
    target : str
        What "final reward" means (mean of the last three evaluations, or the last).
    """

    table: pd.DataFrame
    sd: float
    dof: int
    target: str

    def inflate(self, fc: Forecast, seed: int | None = 0) -> Forecast:
        """``fc`` widened by this between-seed spread (see :meth:`Forecast.with_spread`)."""
        return fc.with_spread(self.sd, seed=seed, why=f"between-seed sd {self.sd:.3g}")

    def to_frame(self) -> pd.DataFrame:
        """One row per recipe: ``recipe``, ``n_seeds``, ``final_mean``, ``final_sd``."""
        return self.table.rename_axis("recipe").reset_index()

    def _scale(self, kind: str) -> NDArray[np.float64]:
        """Per recipe: the sd of its mean (``"curve"``) or of a new seed's final reward
        (``"observed"``), from the pooled between-seed sd."""
        n = self.table["n_seeds"].to_numpy(dtype=float)
        return self.sd * np.sqrt(1.0 / n + (1.0 if kind == "observed" else 0.0))

    def interval(self, level: float = 0.9, *, kind: Kind = "observed") -> tuple[Any, Any]:
        """Per recipe (rows of :meth:`to_frame`): where a new seed's final reward lands
        (``kind="observed"``) or the recipe's mean final reward (``"curve"``), at ``level``;
        Student-t on the pooled sd's degrees of freedom. NaN without repeated seeds."""
        kind = check_kind(kind)
        t = stats.t.ppf(0.5 + check_level(level) / 2, max(self.dof, 1))
        mean, half = self.table["final_mean"].to_numpy(dtype=float), t * self._scale(kind)
        return mean - half, mean + half

    def prob_at_least(self, reward: float, at: Any = None, *, kind: Kind = "observed") -> pd.Series:
        """Per recipe: P(a new seed's final reward >= ``reward``) (``"observed"``), or of the
        recipe's mean (``"curve"``). The spread is of the final reward: ``at`` must be None."""
        kind = check_kind(kind)
        if at is not None:
            raise InputError(f"at must be None: a seed spread is of the final reward, got {at!r}")
        mean, scale = self.table["final_mean"].to_numpy(dtype=float), self._scale(kind)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = stats.t.sf((reward - mean) / scale, max(self.dof, 1))
        p = np.where(scale > 0, p, (mean >= reward).astype(float))
        return pd.Series(p, index=list(self.table.index), name=f"P(final reward >= {reward:g})")

    def plot(self, ax: Any = None, *, level: float = 0.9) -> Any:
        """Per recipe: each recipe's mean final reward with the ``level`` interval of a new
        seed's final reward; returns the Axes."""
        ax = new_axes(ax)
        lo, hi = self.interval(level)
        mean = self.table["final_mean"].to_numpy(dtype=float)
        x = np.arange(len(mean))
        err = np.vstack([mean - lo, hi - mean])
        ax.errorbar(x, mean, yerr=np.where(np.isfinite(err), err, 0.0), fmt="o", capsize=3)
        ax.set_xticks(x, [str(r) for r in self.table.index], rotation=30, fontsize=8)
        ax.set_ylabel(f"final reward ({self.target})")
        ax.set_title(f"{level * 100:g}% interval of a new seed (sd {self.sd:.3g})", fontsize=9)
        return ax

    def to_dict(self) -> dict[str, Any]:
        return {
            "sd": self.sd,
            "dof": self.dof,
            "target": self.target,
            "recipes": self.table.reset_index().to_dict(orient="records"),
        }

    def summary(self) -> str:
        lines = [
            f"Between-seed spread of the final reward ({self.target}): pooled sd {self.sd:.4g} "
            f"on {self.dof} degrees of freedom"
        ]
        for name, row in self.table.iterrows():
            sd = "-" if not np.isfinite(row["final_sd"]) else f"{row['final_sd']:.4g}"
            lines.append(
                f"  {name}: {int(row['n_seeds'])} seeds, mean {row['final_mean']:.4g}, sd {sd}"
            )
        return "\n".join(lines)


def final_reward(run: Run, target: str = "last3") -> float:
    """The mean of a run's last three evaluations (``"last3"``) or its last (``"last"``)."""
    if target not in ("last3", "last"):
        raise InputError(f"target must be 'last3' or 'last', got {target!r}")
    return run.last_mean(3 if target == "last3" else 1)


def seed_spread(
    runs: Sequence[Run] | pd.DataFrame, group_by: str = "recipe", target: str = "last3"
) -> SeedSpread:
    """Estimate the between-seed sd of the final reward from repeated runs of recipes.

    Parameters
    ----------
    runs : sequence of Run or DataFrame
        Finished runs; ``metadata[group_by]`` names each run's recipe (in a DataFrame of runs,
        read as :func:`~rlscaling.load_runs` reads it, the ``group_by`` column).
    group_by : str
        Metadata key of the recipe.
    target : {"last3", "last"}
        Final reward: the mean of the last three evaluations (less evaluation noise), or the
        last evaluation.

    Returns
    -------
    SeedSpread

    Examples
    --------
    >>> from rlscaling import Run
    >>> runs = [
    ...     Run([1, 2, 3], [0.1, 0.5, v], name=f"r{i}", metadata={"recipe": "a"})
    ...     for i, v in enumerate([0.6, 0.7, 0.8])
    ... ]
    >>> sp = seed_spread(runs, target="last")
    >>> round(sp.sd, 3), sp.dof
    (0.1, 2)
    """
    runs = as_runs(runs, "give finished runs with several seeds per recipe", group_by)
    groups: dict[str, list[float]] = {}
    for r in runs:
        groups.setdefault(str(r.recipe_key(group_by)), []).append(final_reward(r, target))
    rows, ss, dof = [], 0.0, 0
    for name, vals in groups.items():
        v = np.asarray(vals)
        sd = float(np.std(v, ddof=1)) if v.size > 1 else float("nan")
        rows.append({"recipe": name, "n_seeds": v.size, "final_mean": v.mean(), "final_sd": sd})
        if v.size > 1:
            ss += float(np.sum((v - v.mean()) ** 2))
            dof += v.size - 1
    if dof == 0:
        raise InputError("no recipe has two or more seeds; the between-seed spread needs repeats")
    table = pd.DataFrame(rows).set_index("recipe")
    text = "mean of the last 3 evaluations" if target == "last3" else "last evaluation"
    return SeedSpread(table, float(np.sqrt(ss / dof)), dof, text)
