"""Reference RL trainer for language models (the ``train`` extra: torch + transformers).

``train(config)`` runs the ScaleRL recipe (or a GRPO/DAPO-style preset, or any mix of the
switches in :class:`TrainConfig`) and writes a run directory that
``rlscaling.load_run`` reads. See ``docs/trainer.md``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rlscaling")
except PackageNotFoundError:  # pragma: no cover
    __version__ = "0+unknown"

from rlscaling.trainer.config import PRESETS, ConfigError, TrainConfig, load_config
from rlscaling.trainer.loop import RunResult, train

__all__ = ["PRESETS", "ConfigError", "RunResult", "TrainConfig", "load_config", "train"]
