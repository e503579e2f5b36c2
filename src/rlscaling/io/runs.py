"""The `Run` data model: one named series of evaluations of one training run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from rlscaling.io.checks import InputError, as_1d_float

__all__ = ["Run", "recipe_of"]


def recipe_of(
    metadata: Mapping[str, Any],
    name: str,
    group_by: str | None = None,
    *,
    fallback: bool = True,
) -> str | None:
    """The recipe a run belongs to: the one rule by which runs are pooled as seeds of a recipe.

    With ``group_by``, ``metadata[group_by]`` (every run must have it); otherwise
    ``metadata["recipe"]`` where it is set (not None); otherwise the run's own ``name`` (each
    run its own recipe), or None with ``fallback=False``. The key is returned as text, so
    recipes named ``1`` and ``"1"`` are one.

    Parameters
    ----------
    metadata : mapping
        The run's metadata.
    name : str
        The run's name, the recipe of a run that names none.
    group_by : str, optional
        Metadata key that names the recipe, instead of ``"recipe"``.
    fallback : bool
        Without a recipe: the name (True) or None (False).

    Returns
    -------
    str or None

    Raises
    ------
    InputError
        ``group_by`` is given and the metadata lacks it.

    Examples
    --------
    >>> recipe_of({"recipe": "cispo", "seed": 1}, "run-a")
    'cispo'
    >>> recipe_of({"arm": 2}, "run-a", group_by="arm")
    '2'
    >>> recipe_of({}, "run-a"), recipe_of({"recipe": None}, "run-a", fallback=False)
    ('run-a', None)
    """
    if group_by is not None:
        if group_by not in metadata:
            raise InputError(
                f"group_by={group_by!r}: run {name!r} has no metadata[{group_by!r}] "
                f"(its keys: {sorted(map(str, metadata))}); every run must name its recipe"
            )
        return str(metadata[group_by])
    recipe = metadata.get("recipe")
    if recipe is not None:
        return str(recipe)
    return name if fallback else None


@dataclass(frozen=True, eq=False)
class Run:
    """Evaluations of one run: compute (increasing), reward and, where known, eval size.

    Parameters
    ----------
    compute, reward : array_like
        One value per evaluation. Compute may start at 0 (the untrained model); the fitting
        functions treat a zero-compute point as the starting reward.
    eval_size : array_like, optional
        Prompts x samples per prompt of each evaluation.
    name : str
        A label for tables and figures.
    metadata : dict
        Free-form: recipe, model, seed, compute unit, source.

    Examples
    --------
    >>> from rlscaling import Run
    >>> run = Run([10, 20, 40], [0.1, 0.2, 0.25], name="demo")
    >>> len(run), run.final_reward
    (3, 0.25)
    """

    compute: NDArray[np.float64]
    reward: NDArray[np.float64]
    eval_size: NDArray[np.float64] | None = None
    name: str = "run"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = as_1d_float(self.compute, "compute")
        r = as_1d_float(self.reward, "reward")
        if c.size != r.size:
            raise InputError(
                f"compute and reward must have the same length, got {c.size} and {r.size}"
            )
        object.__setattr__(self, "compute", c)
        object.__setattr__(self, "reward", r)
        if self.eval_size is not None:
            s = as_1d_float(self.eval_size, "eval_size")
            if s.size != c.size:
                raise InputError(
                    f"eval_size must have one value per point ({c.size}), got {s.size}"
                )
            object.__setattr__(self, "eval_size", s)

    def __len__(self) -> int:
        return int(self.compute.size)

    def __repr__(self) -> str:
        return (
            f"Run(name={self.name!r}, n={len(self)}, compute {self.compute.min():.3g}.."
            f"{self.compute.max():.3g}, final reward {self.final_reward:.4g})"
        )

    @property
    def final_reward(self) -> float:
        return float(self.reward[-1])

    def recipe_key(self, group_by: str | None = None, *, fallback: bool = True) -> str | None:
        """The recipe this run belongs to (see :func:`recipe_of`): ``metadata[group_by]``,
        else ``metadata["recipe"]``, else the run's name (None with ``fallback=False``).

        Examples
        --------
        >>> from rlscaling import Run
        >>> Run([1, 2], [0.1, 0.2], name="r1", metadata={"recipe": "cispo"}).recipe_key()
        'cispo'
        """
        return recipe_of(self.metadata, self.name, group_by, fallback=fallback)

    def last_mean(self, k: int = 3) -> float:
        """The mean reward of the run's last ``k`` evaluations.

        The "where did the run end" target of backtests, seed spreads and the demo: the mean
        of the last three evaluations carries less evaluation noise than the last one alone.

        Parameters
        ----------
        k : int
            Number of final evaluations to average, at least 1.

        Returns
        -------
        float

        Raises
        ------
        InputError
            ``k`` below 1, or the run has fewer than ``k`` evaluations.

        Examples
        --------
        >>> from rlscaling import Run
        >>> Run([1, 2, 3, 4], [0.1, 0.25, 0.5, 0.75]).last_mean(3)
        0.5
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InputError(f"k must be an integer >= 1, got {k!r}")
        if len(self) < k:
            raise InputError(f"run {self.name!r} has {len(self)} evaluations; target needs {k}")
        return float(np.mean(self.reward[-k:]))

    def to_frame(self) -> pd.DataFrame:
        """DataFrame with columns ``compute``, ``reward`` and ``eval_size`` when known."""
        df = pd.DataFrame({"compute": self.compute, "reward": self.reward})
        if self.eval_size is not None:
            df["eval_size"] = self.eval_size
        return df

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        compute: str = "compute",
        reward: str = "reward",
        eval_size: str | None = None,
        name: str = "run",
        metadata: dict[str, Any] | None = None,
    ) -> Run:
        """A Run from named columns of a DataFrame; the inverse of :meth:`to_frame`.

        Parameters
        ----------
        df : DataFrame
            One row per evaluation, in the order to keep.
        compute, reward : str
            Column names.
        eval_size : str, optional
            Column of evaluation sizes; defaults to ``"eval_size"`` when that column exists.
        name : str
            Label of the run.
        metadata : dict, optional
            Stored as given.

        Examples
        --------
        >>> import pandas as pd
        >>> from rlscaling import Run
        >>> df = pd.DataFrame({"compute": [10, 20], "reward": [0.1, 0.2], "eval_size": [64, 64]})
        >>> Run.from_frame(df, name="demo").to_frame().equals(df.astype(float))
        True
        """
        cols = list(map(str, df.columns))
        if eval_size is None and "eval_size" in cols:
            eval_size = "eval_size"
        for arg, col in (("compute", compute), ("reward", reward), ("eval_size", eval_size)):
            if col is not None and col not in cols:
                raise InputError(
                    f"{arg}={col!r} is not a column of the DataFrame; columns found: {cols}. "
                    f"Pass {arg}='<column name>'."
                )
        return cls(
            df[compute].to_numpy(),
            df[reward].to_numpy(),
            None if eval_size is None else df[eval_size].to_numpy(),
            name=name,
            metadata=dict(metadata or {}),
        )

    def select(self, mask: ArrayLike) -> Run:
        """A copy with only the points where ``mask`` is true."""
        m = np.asarray(mask, dtype=bool)
        return replace(
            self,
            compute=self.compute[m],
            reward=self.reward[m],
            eval_size=None if self.eval_size is None else self.eval_size[m],
        )

    def truncate(self, fraction: float) -> Run:
        """The part of the run up to ``fraction`` of its final compute (inclusive)."""
        if not 0 < fraction <= 1:
            raise InputError(f"fraction must be in (0, 1], got {fraction!r}")
        return self.select(self.compute <= fraction * self.compute.max() * (1 + 1e-12))

    def without_zero_compute(self) -> tuple[Run, float | None]:
        """Split off evaluations at compute 0; returns the rest and the last zero-compute reward.

        Only exact zeros are split off: a negative compute is an error in the data, which the
        fitting functions refuse with a message rather than drop.
        """
        zero = self.compute == 0
        if not zero.any():
            return self, None
        return self.select(~zero), float(self.reward[zero][-1])
