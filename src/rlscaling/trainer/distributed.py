"""The sharded learner's building blocks: the process group, row shards, wrapped forward.

A run started by ``torchrun`` (``WORLD_SIZE > 1`` in the environment) trains on every rank:
rank 0 generates, scores and computes advantages and aggregation weights over the *whole*
batch; each rank then backpropagates its contiguous share of the rows, and torch's data
parallelism (``DistributedDataParallel``, or FSDP2's ``fully_shard``) sums the gradients. The
loss weights are those of the whole batch (:func:`rlscaling.trainer.losses.aggregation_weights`
sums to 1 over it), so the summed gradient is the one a single process computes.

Both wrappers average gradients over ranks; every rank's loss is its part of the batch's sum,
so :attr:`ShardedPolicy.loss_scale` (the world size) turns their average back into the sum.

This module knows nothing of the recipe or the config: :mod:`rlscaling.trainer.learner`
builds the learner of a run from it, and :func:`rlscaling.trainer.update.policy_update` takes
a :class:`ShardedPolicy`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from rlscaling.trainer.policy import TokenBatch, token_logprobs

STRATEGIES = ("ddp", "fsdp")


def launched_world_size() -> int:
    """The world size ``torchrun`` (or ``torch.distributed.run``) set for this process; 1 if
    the process was started on its own."""
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class LearnerGroup:
    """This process's place among the learner ranks.

    ``device`` is the device this rank trains on (``cuda:<LOCAL_RANK>`` on GPU). Collectives
    on tensors use the default group (NCCL on GPU); messages between ranks (the batch rank 0
    hands out, and what it asks the others to do) travel on ``control``, a gloo group, so a
    rank waiting for the next message does not hold a GPU collective open.
    """

    rank: int
    world_size: int
    device: torch.device
    control: Any = None
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- rows ----

    def rows(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` rows (shares differ by at most one row).

        Examples
        --------
        >>> [LearnerGroup(r, 2, torch.device("cpu")).rows(5) for r in (0, 1)]
        [slice(0, 2, None), slice(2, 5, None)]
        """
        return slice(n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size)

    def micro_batches(self, n: int, micro_batch_size: int) -> list[slice]:
        """This rank's rows of ``n`` in micro-batches of at most ``micro_batch_size`` (0: all).

        Every rank gets the same number of micro-batches (FSDP gathers parameters in every
        forward, so the ranks' forwards must pair up); a rank with fewer rows gets empty
        slices at the end, which the update runs as a zero-weighted pass.

        Examples
        --------
        >>> [LearnerGroup(r, 2, torch.device("cpu")).micro_batches(5, 2) for r in (0, 1)]
        [[slice(0, 2, None), slice(2, 2, None)], [slice(2, 4, None), slice(4, 5, None)]]
        """
        own = self.rows(n)
        most = -(-n // self.world_size)  # the largest share
        mb = micro_batch_size or max(most, 1)
        count = max(1, -(-most // mb))
        return [
            slice(min(own.start + i * mb, own.stop), min(own.start + (i + 1) * mb, own.stop))
            for i in range(count)
        ]

    # ---- collectives ----

    def all_reduce(self, values: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """``values`` reduced over ranks (``sum``, ``max`` or ``min``), as float64 on CPU."""
        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        t = values.detach().to(device=self.device, dtype=torch.float64)
        if self.device.type == "cpu":
            t = t.clone()
        dist.all_reduce(t, op=ops[op])
        return t.cpu()

    def sum(self, value: float) -> float:
        """``value`` summed over ranks."""
        return float(self.all_reduce(torch.tensor([value]))[0])

    def send(self, *message: Any) -> None:
        """Rank 0: hand ``message`` (picklable plain data) to every other rank."""
        dist.broadcast_object_list([message], src=0, group=self.control)

    def receive(self) -> tuple[Any, ...]:
        """Other ranks: wait for rank 0's next message."""
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def close(self) -> None:
        """Destroy the process group if this object created it.

        Drop every reference to the wrapped model (DDP, FSDP) before calling this. They hold
        the process groups, often in reference cycles, which are collected here first: freed
        only at interpreter exit instead, gloo's worker threads release tensors under a GIL
        the finalizing interpreter no longer has, and the process aborts ("terminate called
        without an active exception", seen intermittently on CPU). Every rank then waits at a
        barrier, so none tears its connections down while another finishes the last
        broadcast. Only a run that ended normally calls this, on every rank, so the barrier
        is met.
        """
        if self.owns_group and dist.is_initialized():
            gc.collect()
            dist.barrier()
            dist.destroy_process_group()


def init_learner_group(device: torch.device, backend: str, timeout_minutes: float) -> LearnerGroup:
    """Join the process group ``torchrun`` described in the environment.

    Parameters
    ----------
    device : the device type to train on (``cuda`` becomes ``cuda:<LOCAL_RANK>``).
    backend : ``"auto"`` (NCCL on CUDA, gloo on CPU), ``"gloo"`` or ``"nccl"``.
    timeout_minutes : how long a collective waits for the other ranks.
    """
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise ValueError(
            f"learner.backend='nccl' needs CUDA devices but the run trains on {device.type}; "
            "use learner.backend='gloo' (or 'auto') on CPU"
        )
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(minutes=timeout_minutes)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend, timeout=timeout)
    control = dist.new_group(backend="gloo", timeout=timeout) if backend == "nccl" else None
    return LearnerGroup(dist.get_rank(), dist.get_world_size(), device, control, owns)


class LogprobModule(torch.nn.Module):
    """The trainer's forward (:func:`~rlscaling.trainer.policy.token_logprobs`) as a module.

    DDP and FSDP act on a module's ``forward``: DDP prepares its gradient all-reduce there and
    FSDP gathers the root's parameters there, so the update's forward goes through this module.
    """

    def __init__(self, model: Any, temperature: float, fp32_head: bool) -> None:
        super().__init__()
        self.model = model
        self.temperature = temperature
        self.fp32_head = fp32_head

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_ids: torch.Tensor,
        prompt_len: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logp, entropy = token_logprobs(
            self.model,
            input_ids,
            attention_mask,
            response_ids,
            prompt_len,
            self.temperature,
            self.fp32_head,
        )
        # a copy, not a view: FSDP2 hooks its backward onto the output and warns about views
        return logp.clone(), entropy


class ShardedPolicy:
    """The policy's log-prob forward wrapped for data parallelism over ``group``.

    Parameters
    ----------
    group : the learner ranks.
    model : the policy (a Hugging Face causal LM) on ``group.device``.
    strategy : ``"ddp"`` wraps ``model`` itself in ``DistributedDataParallel`` (which
        broadcasts rank 0's weights at construction); ``"fsdp"`` shards a *copy* of ``model``
        with FSDP2 ``fully_shard`` (each decoder layer, then the whole), computing in the
        model's dtype with FP32 parameters, so ``model`` stays whole for generation,
        evaluation and checkpoints (:meth:`gather_into` refreshes it after a step).
    temperature, fp32_head : as in :func:`~rlscaling.trainer.policy.response_logprobs`.
    """

    def __init__(
        self,
        group: LearnerGroup,
        model: Any,
        strategy: str,
        temperature: float,
        fp32_head: bool,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown learner.strategy {strategy!r}; choose one of ddp, fsdp")
        self.group = group
        self.strategy = strategy
        if strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            dev = group.device
            self.module: Any = DistributedDataParallel(
                LogprobModule(model, temperature, fp32_head),
                device_ids=[dev.index] if dev.type == "cuda" else None,
            )
            self.trained = model  # DDP trains the model's own parameters
        else:
            self.trained = _fully_shard(copy.deepcopy(model))
            self.module = _fully_shard_root(
                LogprobModule(self.trained, temperature, fp32_head), model
            )

    @property
    def loss_scale(self) -> float:
        """Factor on each rank's loss that turns the wrappers' gradient mean into the sum."""
        return float(self.group.world_size)

    def logprobs(self, part: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities and entropies of ``part``'s response tokens (with gradient)."""
        return self.module(part.input_ids, part.attention_mask, part.response_ids, part.prompt_len)

    @contextlib.contextmanager
    def gradient_sync(self, on: bool) -> Iterator[None]:
        """Reduce gradients over ranks in the backward inside (``on``), or only accumulate.

        The update syncs on its last micro-batch only, as a single process accumulates.
        """
        if self.strategy == "ddp":
            with contextlib.nullcontext() if on else self.module.no_sync():
                yield
        else:
            self.module.set_requires_gradient_sync(on)
            yield

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """The trained weights, whole, on CPU: on rank 0 all of them, elsewhere none (FSDP:
        a collective every rank must join; DDP: the model's own state dict)."""
        if self.strategy == "ddp":
            return self.trained.state_dict() if self.group.is_main else {}
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
        )

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(self.trained, options=opts)

    @torch.no_grad()
    def gather_into(self, model: Any) -> None:
        """FSDP: copy the sharded weights into rank 0's whole ``model`` (a collective every
        rank joins); DDP trains ``model`` itself, so nothing is copied."""
        if self.strategy == "ddp":
            return
        full = self.full_state_dict()
        if self.group.is_main:
            model.load_state_dict(full)


def _fully_shard(model: Any) -> Any:
    """FSDP2 on each decoder layer (the classes Hugging Face names ``_no_split_modules``), FP32
    parameters, compute in the model's dtype."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    compute = next(model.parameters()).dtype
    policy = MixedPrecisionPolicy(param_dtype=compute, reduce_dtype=torch.float32)
    model.float()  # the sharded FP32 parameters are the master weights
    layers = set(getattr(model, "_no_split_modules", None) or ())
    for module in model.modules():
        if type(module).__name__ in layers:
            fully_shard(module, mp_policy=policy)
    return model


def _fully_shard_root(root: torch.nn.Module, like: Any) -> Any:
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    compute = next(like.parameters()).dtype
    policy = MixedPrecisionPolicy(param_dtype=compute, reduce_dtype=torch.float32)
    return fully_shard(root, mp_policy=policy)
