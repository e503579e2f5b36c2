"""Rollout engines: generate ``n`` samples per prompt with behaviour log-probs.

The trainer talks to an engine only through :class:`RolloutEngine` (``generate`` and
``update_weights``), so a vLLM engine can replace the torch engine without touching the loop.
Importing this package registers ``"torch"`` and ``"vllm"``; vLLM itself is imported only when
a :class:`VLLMEngine` is constructed.
"""

from rlscaling.trainer.rollout.base import (
    ENGINES,
    RolloutEngine,
    Sample,
    SamplingParams,
    get_engine,
    register_engine,
)
from rlscaling.trainer.rollout.torch_engine import TorchEngine
from rlscaling.trainer.rollout.vllm_engine import VLLMEngine

__all__ = [
    "ENGINES",
    "RolloutEngine",
    "Sample",
    "SamplingParams",
    "TorchEngine",
    "VLLMEngine",
    "get_engine",
    "register_engine",
]
