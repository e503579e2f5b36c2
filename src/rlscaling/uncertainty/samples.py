"""Parameter samples (bootstrap replicates or posterior draws) and what users ask of them.

:class:`ParameterSamples` gives bootstrap and MCMC results one interface: ``interval``,
``band``, ``prob_at_least``, ``compute_to_reach``, ``summary``, ``to_dict``, ``to_frame``,
``plot``. The point fit (:class:`~rlscaling.SigmoidFit`) answers ``interval`` and ``band`` with
the delta method under the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from rlscaling.io.checks import InputError, as_positive_compute, check_level
from rlscaling.model.curve import PUBLIC_NAMES, curve_value, log_compute_to_reach
from rlscaling.protocol import Kind, check_kind

if TYPE_CHECKING:
    import matplotlib.axes

    from rlscaling.fit.result import SigmoidFit

BandKind = Literal["curve", "observed", "prediction"]  # "prediction": older "observed"


def percent(level: float) -> str:
    """A level as a percentage for labels: 0.9 -> "90%", 0.975 -> "97.5%" (not "97%")."""
    return f"{level * 100:g}%"


@dataclass(frozen=True, eq=False)
class ParameterSamples:
    """Draws of ``(A, B, ln C_mid, R0)`` with a noise model for predictive bands.

    Attributes
    ----------
    theta : numpy.ndarray
        ``(S, 4)`` draws of ``(A, B, ln C_mid, R0)``.
    noise_sd : numpy.ndarray
        ``(S,)`` evaluation-noise standard deviation per draw (for prediction bands).
    fit : SigmoidFit
        The point fit the draws belong to.
    method : str
        How the draws were made.
    """

    theta: NDArray[np.float64]
    noise_sd: NDArray[np.float64]
    fit: SigmoidFit
    method: str
    seed: int | None = None
    extra: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def n_samples(self) -> int:
        return int(self.theta.shape[0])

    @property
    def samples(self) -> pd.DataFrame:
        """One row per draw: A, B, C_mid, R0 and any noise parameters.

        A draw whose ln C_mid exceeds 709 (a replicate of data in tiny compute units, or one
        whose curve never bends) has C_mid = inf: the midpoint beyond any float, not an error.
        """
        with np.errstate(over="ignore"):
            c_mid = np.exp(self.theta[:, 2])
        df = pd.DataFrame(
            {
                "A": self.theta[:, 0],
                "B": self.theta[:, 1],
                "C_mid": c_mid,
                "R0": self.theta[:, 3],
                "noise_sd": self.noise_sd,
            }
        )
        for k, v in self.extra.items():
            df[k] = v
        return df

    def _param(self, param: str) -> NDArray[np.float64]:
        df = self.samples
        if param not in df.columns:
            raise InputError(f"param must be one of {list(df.columns)}, got {param!r}")
        return df[param].to_numpy()

    # ------------------------------------------------------------------ intervals
    def interval(
        self, level: float | str = 0.9, *args: Any, kind: Kind = "curve"
    ) -> tuple[Any, Any]:
        """Equal-tailed intervals of the parameters: ``(lower, upper)`` arrays in the row order
        of :meth:`to_frame` (A, B, C_mid, R0, noise_sd).

        The result protocol's form (:mod:`rlscaling.protocol`); parameters belong to the curve,
        so ``kind`` is ``"curve"`` only. The older form ``interval(param, level)`` (e.g.
        ``boot.interval("A", 0.9)``) gives one parameter's floats: see :meth:`param_interval`.
        """
        if isinstance(level, str):  # the older form: interval(param, level=0.9)
            return self.param_interval(level, *args)
        check_kind(kind, ("curve",))
        frame = self.to_frame(check_level(level))
        return frame.iloc[:, 3].to_numpy(), frame.iloc[:, 4].to_numpy()

    def param_interval(self, param: str, level: float = 0.9) -> tuple[float, float]:
        """Equal-tailed interval of a parameter at ``level`` (e.g. 0.9 for 90%), clipped to
        the parameter's bounds in the fit (:meth:`SigmoidFit.param_bounds`; [0, 1] for the A
        and R0 of a pass rate)."""
        level = check_level(level)
        v = self._param(param)
        lo, hi = np.quantile(v, [0.5 - level / 2, 0.5 + level / 2])
        if param in PUBLIC_NAMES:
            lo_b, hi_b = self.fit.param_bounds(param)
            lo, hi = np.clip(lo, lo_b, hi_b), np.clip(hi, lo_b, hi_b)
        return float(lo), float(hi)

    def curve_samples(self, compute: ArrayLike) -> NDArray[np.float64]:
        """Reward of every draw's curve at ``compute``: shape ``(S, len(compute))``."""
        c = as_positive_compute(compute)
        return curve_value(np.log(c), self.theta)

    def predictive_samples(
        self, compute: ArrayLike, seed: int | np.random.Generator | None = 0
    ) -> NDArray[np.float64]:
        """Draws of a new evaluation at ``compute`` (curve plus evaluation noise)."""
        rng = np.random.default_rng(seed)
        mu = self.curve_samples(compute)
        return mu + rng.normal(size=mu.shape) * self.noise_sd[:, None]

    def band(
        self,
        compute: ArrayLike,
        level: float = 0.9,
        kind: BandKind = "curve",
    ) -> pd.DataFrame:
        """Pointwise band of the curve (``kind="curve"``) or of a new evaluation
        (``kind="prediction"``) at ``compute``; columns compute, estimate (median), lower, upper.
        Clipped to the reward's feasible range (:attr:`SigmoidFit.reward_range`: [0, 1] for a
        pass rate), which evaluation noise added to a curve near 1 would otherwise leave.
        """
        level = check_level(level)
        kind = check_kind(kind)
        c = as_positive_compute(compute)
        draws = self.curve_samples(c) if kind == "curve" else self.predictive_samples(c)
        lo, med, hi = np.quantile(draws, [0.5 - level / 2, 0.5, 0.5 + level / 2], axis=0)
        # Quantiles commute with clipping (a monotone map), so this equals clipping the draws.
        lo, med, hi = np.clip([lo, med, hi], *self.fit.reward_range)
        return pd.DataFrame({"compute": c, "estimate": med, "lower": lo, "upper": hi})

    def prob_at_least(
        self, reward: float, at: float | None = None, *, kind: Kind = "curve"
    ) -> float:
        """Share of draws whose reward at compute ``at`` is at least ``reward``.

        ``at`` defaults to the largest compute of the fit; ``kind="curve"`` asks about the
        curve there, ``"observed"`` about one evaluation (draws plus evaluation noise).
        """
        kind = check_kind(kind)
        c = [self.fit.compute.max() if at is None else at]
        draws = self.curve_samples(c) if kind == "curve" else self.predictive_samples(c)
        return float(np.mean(draws[:, 0] >= reward))

    def compute_to_reach(self, reward: float) -> NDArray[np.float64]:
        """Per-draw compute at which the curve reaches ``reward`` (``inf`` where it never does)."""
        out = np.exp(log_compute_to_reach(np.full(self.n_samples, reward)[:, None], self.theta))
        return np.where(np.isfinite(out[:, 0]), out[:, 0], np.inf)

    # ------------------------------------------------------------------ reporting
    def to_frame(self, level: float = 0.9) -> pd.DataFrame:
        """Per parameter: point estimate, sample median, sd and equal-tailed interval."""
        rows = []
        for p in (*PUBLIC_NAMES, "noise_sd"):
            v = self._param(p)
            lo, hi = self.param_interval(p, level)
            # A parameter held fixed has one value in every draw; np.std of that can come out
            # as 1e-17 from rounding in the mean, which would read as a (tiny) uncertainty.
            sd = 0.0 if np.ptp(v) == 0 else float(np.std(v))
            rows.append(
                {
                    "param": p,
                    "point": self.fit.params.get(p, self.fit.noise_sd),
                    "median": float(np.median(v)),
                    "sd": sd,
                    f"lower_{level:g}": lo,
                    f"upper_{level:g}": hi,
                }
            )
        return pd.DataFrame(rows).set_index("param")

    def to_dict(self, level: float = 0.9) -> dict[str, Any]:
        frame = self.to_frame(level)
        return {
            "method": self.method,
            "n_samples": self.n_samples,
            "seed": self.seed,
            "level": level,
            "params": {p: {k: float(v) for k, v in row.items()} for p, row in frame.iterrows()},
            "diagnostics": {k: _plain(v) for k, v in self.diagnostics.items()},
        }

    def summary(self, level: float = 0.9) -> str:
        frame = self.to_frame(level)
        lines = [
            f"{self.method} ({self.n_samples} draws)"
            + (f" of {self.fit.data.name}" if self.fit.data.name else ""),
            f"  {'param':<9}{'point':>11}{'median':>11}{'sd':>10}   {percent(level)} interval",
        ]
        for p, row in frame.iterrows():
            if row["sd"] == 0:
                lines.append(f"  {p:<9}{row['point']:>11.4g}{'fixed':>11}")
                continue
            lines.append(
                f"  {p:<9}{row['point']:>11.4g}{row['median']:>11.4g}{row['sd']:>10.3g}   "
                f"[{row.iloc[3]:.4g}, {row.iloc[4]:.4g}]"
            )
        for k, v in self.diagnostics.items():
            if isinstance(v, int | float | str | bool | np.integer | np.floating):
                lines.append(f"  {k}: {_fmt(v)}")
        return "\n".join(lines)

    def plot(
        self,
        ax: matplotlib.axes.Axes | None = None,
        *,
        extend: float = 10.0,
        level: float = 0.9,
        kind: BandKind = "curve",
        color: str | None = None,
    ) -> matplotlib.axes.Axes:
        """Data, point fit and this result's band on a log-compute axis."""
        ax = self.fit.plot(ax=ax, extend=extend, level=None, color=color)
        c = self.fit.compute
        grid = np.geomspace(c.min() / 1.5, c.max() * max(extend, 1.0), 150)
        band = self.band(grid, level=level, kind=kind)
        col = ax.lines[-1].get_color()
        ax.fill_between(
            grid,
            band["lower"],
            band["upper"],
            color=col,
            alpha=0.2,
            lw=0,
            label=f"{percent(level)} {kind} band ({self.method})",
        )
        ax.legend(fontsize=8, loc="lower right")
        return ax


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{v:.4g}"
    return str(v)
