"""Compute accounting: FLOPs from parameter and token counts, and measured device-seconds.

With ``N`` the parameters that take part in a matrix multiply per token
(:func:`rlscaling.trainer.model.matmul_params`: everything but the input embedding lookup,
the LM head included), one step costs

    FLOPs = 2 N (T_prompt + T_gen)        generation: a forward pass per prefilled and per
                                          generated token, for every sample
          + 6 N T_train                   training: forward + backward (2N + 4N) per token of
                                          every trained sequence (prompt and response)
          + 2 N T_logprob                 extra forward passes for log-probs, if any

The torch engine records behaviour log-probs while sampling and the trainer takes the
current-policy log-probs from the same forward it backpropagates through, so ``T_logprob`` is 0
in this trainer; an engine that cannot return log-probs would add it. Attention-score FLOPs
(``~4 * n_layers * context * d_model`` per token) are left out: at the short contexts of the
tiny tasks they are a few percent; for long-context runs they should be added. Evaluation is not
counted: the compute axis is training compute, as in ScaleRL's GPU-hours of the training run.

Device-seconds are the wall-clock seconds of the rollout and update stages of each step
(CUDA-synchronised on GPU), i.e. what the device was busy with for training.

On a CUDA device the update's memory is measured too (:func:`update_memory`): the peak of
each step's update alone, which is what the learner needs beside whatever else shares the GPU.

Examples
--------
>>> step_flops(1000, prompt_tokens=10, gen_tokens=20, train_tokens=30)
240000.0
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch


def step_flops(
    n_params: int,
    prompt_tokens: int,
    gen_tokens: int,
    train_tokens: int,
    logprob_tokens: int = 0,
) -> float:
    """FLOPs of one step: ``2N (prompt + generated) + 6N trained + 2N log-prob tokens``."""
    n = float(n_params)
    return (
        2.0 * n * (prompt_tokens + gen_tokens) + 6.0 * n * train_tokens + 2.0 * n * (logprob_tokens)
    )


class DeviceTimer:
    """Context manager measuring seconds spent on ``device`` (synchronising CUDA)."""

    def __init__(self, device: Any) -> None:
        self.device = torch.device(device)
        self.seconds = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __enter__(self) -> DeviceTimer:
        self._sync()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._sync()
        self.seconds += time.perf_counter() - self._t0


GIB = float(2**30)


def reset_peak_memory(device: Any) -> None:
    """Start a new peak-memory window on a CUDA ``device`` (nothing elsewhere)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def update_memory(device: Any) -> dict[str, float]:
    """CUDA memory since :func:`reset_peak_memory`, in GiB (empty on other devices).

    ``cuda_peak_allocated_gib``: the most that tensors held; ``cuda_peak_reserved_gib``: the
    most the caching allocator held (blocks cached by earlier work included: what the process
    needs of the GPU, less the CUDA context); ``cuda_allocated_gib``: what tensors hold now
    (after an update: weights, gradients, optimiser state).
    """
    device = torch.device(device)
    if device.type != "cuda":
        return {}
    return {
        "cuda_peak_allocated_gib": torch.cuda.max_memory_allocated(device) / GIB,
        "cuda_peak_reserved_gib": torch.cuda.max_memory_reserved(device) / GIB,
        "cuda_allocated_gib": torch.cuda.memory_allocated(device) / GIB,
    }


@dataclass
class ComputeLedger:
    """Cumulative training compute, device time and token counts (checkpointed)."""

    flops: float = 0.0
    device_seconds: float = 0.0
    tokens: int = 0

    def add(self, flops: float, seconds: float, tokens: int) -> None:
        self.flops += flops
        self.device_seconds += seconds
        self.tokens += tokens

    def state_dict(self) -> dict[str, Any]:
        return {"flops": self.flops, "device_seconds": self.device_seconds, "tokens": self.tokens}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.flops = float(state["flops"])
        self.device_seconds = float(state["device_seconds"])
        self.tokens = int(state["tokens"])
