"""Reference RL trainer for language models (the ``train`` extra: torch + transformers).

``train(config)`` runs the ScaleRL recipe (or a GRPO/DAPO-style preset, or any mix of the
switches in :class:`TrainConfig`) and writes a run directory that
``rlscaling.load_run`` reads. See ``docs/trainer.md``.
"""

from rlscaling.trainer.config import PRESETS, ConfigError, TrainConfig, load_config
from rlscaling.trainer.loop import RunResult, train
from rlscaling.trainer.setup import package_version

__version__ = package_version()

__all__ = ["PRESETS", "ConfigError", "RunResult", "TrainConfig", "load_config", "train"]
