"""rlscaling: fit and forecast reward-vs-compute scaling curves of RL runs on language models.

The fitted form is ``R(C) = R0 + (A - R0) / (1 + (C_mid / C) ** B)``.

The names below are loaded on first use (PEP 562 ``__getattr__``): ``import rlscaling`` stays
fast because scipy.stats, pandas, matplotlib and emcee are imported only when a function that
needs them is first touched.

Examples
--------
>>> import rlscaling
>>> fit = rlscaling.fit_sigmoid(rlscaling.load_example("scalerl_like"), warn=False)
>>> round(fit.params["A"], 2) > 0
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rlscaling.version import __version__

# public name -> the module that defines it (the layer it lives in)
_EXPORTS = {
    "BacktestResult": "rlscaling.decide.backtest",
    "backtest": "rlscaling.decide.backtest",
    "Comparison": "rlscaling.decide.compare",
    "compare": "rlscaling.decide.compare",
    "EarlyFitReport": "rlscaling.decide.report",
    "early_fit_report": "rlscaling.decide.report",
    "SeedSpread": "rlscaling.decide.seeds",
    "seed_spread": "rlscaling.decide.seeds",
    "sigmoid": "rlscaling.model.curve",
    "example_curves": "rlscaling.io.datasets",
    "load_example": "rlscaling.io.datasets",
    "IdentifiabilityWarning": "rlscaling.fit.identifiability",
    "fit_sigmoid": "rlscaling.fit.fitting",
    "SigmoidFit": "rlscaling.fit.result",
    "Forecast": "rlscaling.forecasting.forecast",
    "ForecastWarning": "rlscaling.forecasting.forecast",
    "TargetForecast": "rlscaling.forecasting.forecast",
    "compute_to_reach": "rlscaling.forecasting.forecast",
    "forecast": "rlscaling.forecasting.forecast",
    "InputError": "rlscaling.io.errors",
    "LoadError": "rlscaling.io.errors",
    "LoaderWarning": "rlscaling.io.frames",
    "load_run": "rlscaling.io.loaders",
    "load_runs": "rlscaling.io.loaders",
    "Run": "rlscaling.io.runs",
    "MCMCWarning": "rlscaling.uncertainty.mcmc",
    "BootstrapWarning": "rlscaling.uncertainty.bootstrap",
}

__all__ = [
    "BacktestResult",
    "BootstrapWarning",
    "Comparison",
    "EarlyFitReport",
    "Forecast",
    "ForecastWarning",
    "IdentifiabilityWarning",
    "InputError",
    "LoadError",
    "LoaderWarning",
    "MCMCWarning",
    "Run",
    "SeedSpread",
    "SigmoidFit",
    "TargetForecast",
    "__version__",
    "backtest",
    "compare",
    "compute_to_reach",
    "early_fit_report",
    "example_curves",
    "fit_sigmoid",
    "forecast",
    "load_example",
    "load_run",
    "load_runs",
    "seed_spread",
    "sigmoid",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rlscaling' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # static type checkers and IDEs see the eager imports
    from rlscaling.decide.backtest import BacktestResult, backtest
    from rlscaling.decide.compare import Comparison, compare
    from rlscaling.decide.report import EarlyFitReport, early_fit_report
    from rlscaling.decide.seeds import SeedSpread, seed_spread
    from rlscaling.fit.fitting import fit_sigmoid
    from rlscaling.fit.identifiability import IdentifiabilityWarning
    from rlscaling.fit.result import SigmoidFit
    from rlscaling.forecasting.forecast import (
        Forecast,
        ForecastWarning,
        TargetForecast,
        compute_to_reach,
        forecast,
    )
    from rlscaling.io.datasets import example_curves, load_example
    from rlscaling.io.errors import InputError, LoadError
    from rlscaling.io.frames import LoaderWarning
    from rlscaling.io.loaders import load_run, load_runs
    from rlscaling.io.runs import Run
    from rlscaling.model.curve import sigmoid
    from rlscaling.uncertainty.bootstrap import BootstrapWarning
    from rlscaling.uncertainty.mcmc import MCMCWarning
