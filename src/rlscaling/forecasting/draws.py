"""`CurveDraws`: joint predictive draws of a run's future reward, the currency of forecasting.

The forecasting methods (:mod:`rlscaling.forecasting.ensemble`) produce them and the forecast
results (:mod:`rlscaling.forecasting.forecast`) summarise them, so they live below both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray


@dataclass(frozen=True, eq=False)
class CurveDraws:
    """Joint predictive draws of a run's reward at chosen compute values.

    ``curve`` holds draws of the expected reward (no evaluation noise), ``observed`` draws of
    what an evaluation would show (with noise). Both are ``(S, len(compute))``.
    """

    compute: NDArray[np.float64]
    curve: NDArray[np.float64]
    observed: NDArray[np.float64]
    method: str
    weights: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    params: pd.DataFrame | None = None  # per-draw A, B, C_mid, R0 where the method has them
    kind: str = ""  # the kind of curve the "auto" settings were chosen for
    # the point fit's A, B, C_mid, R0 where a method has one but no per-draw parameters
    fit_params: dict[str, float] | None = None
    # "auto": the share of the extrapolated gain added at each compute value (the sigmoid's
    # weight, or a few-point run's share of its trend); None for the other methods
    gain_share: NDArray[np.float64] | None = None
