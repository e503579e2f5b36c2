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

from rlscaling.forecasting.forecast import Forecast
from rlscaling.io.checks import InputError
from rlscaling.io.runs import Run

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
    k = 3 if target == "last3" else 1
    if len(run) < k:
        raise InputError(f"run {run.name!r} has {len(run)} evaluations; target needs {k}")
    return float(np.mean(run.reward[-k:]))


def seed_spread(runs: Sequence[Run], group_by: str = "recipe", target: str = "last3") -> SeedSpread:
    """Estimate the between-seed sd of the final reward from repeated runs of recipes.

    Parameters
    ----------
    runs : sequence of Run
        Finished runs; ``metadata[group_by]`` names each run's recipe.
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
    runs = list(runs)
    if not runs:
        raise InputError("runs is empty: give finished runs with several seeds per recipe")
    groups: dict[str, list[float]] = {}
    for r in runs:
        if group_by not in r.metadata:
            raise InputError(
                f"run {r.name!r} has no metadata[{group_by!r}]; every run must name its recipe"
            )
        groups.setdefault(str(r.metadata[group_by]), []).append(final_reward(r, target))
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
