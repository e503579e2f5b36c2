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
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from typing import Any

from rlscaling.inputs import InputError


@dataclass(frozen=True)
class ForecastPrior:
    """Learned settings of the ``"auto"`` forecaster (see the module docstring)."""

    r0: str = "free"
    plateau_k: int | None = None
    plateau_drift: float = 0.3
    lfo_fractions: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
    prior_weight: float = 0.3
    prior_strength: float = 3.0
    decline_max_weight: float = 0.1
    disagreement_scale: float = 1.0
    horizon_inflation: float = 0.0
    interval_scale: float = 1.0
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

    def with_(self, **kwargs: Any) -> ForecastPrior:
        return replace(self, **kwargs)


def default_forecast_config() -> ForecastPrior:
    """The bundled prior (learned from the development curves), or hand-set defaults."""
    path = resources.files("rlscaling") / "data" / "forecast_prior.json"
    if path.is_file():
        return ForecastPrior.from_dict(json.loads(path.read_text()))
    return ForecastPrior()
