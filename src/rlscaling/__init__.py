"""rlscaling: fit and forecast reward-vs-compute scaling curves of RL runs on language models.

The fitted form is ``R(C) = R0 + (A - R0) / (1 + (C_mid / C) ** B)``.
"""

from rlscaling.backtest import BacktestResult, backtest
from rlscaling.compare import Comparison, compare
from rlscaling.curve import sigmoid
from rlscaling.datasets import example_curves, load_example
from rlscaling.fit import IdentifiabilityWarning, fit_sigmoid
from rlscaling.forecast import Forecast, ForecastWarning, TargetForecast, compute_to_reach, forecast
from rlscaling.inputs import InputError
from rlscaling.loaders import LoaderWarning, load_run, load_runs
from rlscaling.result import SigmoidFit
from rlscaling.runs import Run

__version__ = "0.1.0"

__all__ = [
    "BacktestResult",
    "Comparison",
    "Forecast",
    "ForecastWarning",
    "IdentifiabilityWarning",
    "InputError",
    "LoaderWarning",
    "Run",
    "SigmoidFit",
    "TargetForecast",
    "backtest",
    "compare",
    "compute_to_reach",
    "example_curves",
    "fit_sigmoid",
    "forecast",
    "load_example",
    "load_run",
    "load_runs",
    "sigmoid",
]
