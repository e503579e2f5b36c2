"""Start a CPU learner group of several processes (gloo) for the distributed tests.

``spawn(fn, world_size, *args)`` runs ``fn(rank, *args)`` in ``world_size`` processes with the
environment ``torchrun`` would give them; the functions below are what the tests run there
(module-level, so the spawned processes can import them).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn: Any, world_size: int, *args: Any) -> None:
    """Run ``fn(rank, *args)`` on ``world_size`` ranks; a failing rank raises here."""
    mp.spawn(_entry, args=(world_size, free_port(), fn, args), nprocs=world_size, join=True)


def _entry(rank: int, world_size: int, port: int, fn: Any, args: tuple) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    fn(rank, *args)


# ---- one update on a fixed batch ----


def update_case(case: dict[str, Any]) -> tuple[Any, Any, Any, Any, Any, Any]:
    """A tiny model, a random batch (with varied lengths and masked tokens) and its config."""
    from rlscaling.trainer.config import TrainConfig
    from rlscaling.trainer.model import build_tiny_model, build_tokenizer
    from rlscaling.trainer.policy import collate
    from rlscaling.trainer.update import make_optimizer

    cfg = TrainConfig(
        model={"hidden_size": 64, "num_layers": 1, "num_heads": 2, "dtype": case["dtype"]},
        loss={"name": case["loss"], "aggregation": case["aggregation"]},
        micro_batch_size=case["micro_batch_size"],
        optim={"max_grad_norm": case.get("max_grad_norm", 1e9)},
    )
    tok = build_tokenizer()
    model = build_tiny_model(cfg.model, tok, seed=3)
    gen = torch.Generator().manual_seed(7)
    n = case["rows"]

    def tokens(lo: int, hi: int) -> torch.Tensor:  # a random length in [lo, hi), random ids
        length = int(torch.randint(lo, hi, (1,), generator=gen))
        return torch.randint(4, 60, (length,), generator=gen)

    prompts = [tokens(2, 6) for _ in range(n)]
    responses = [tokens(1, 8) for _ in range(n)]
    masks = [[int(i % 3 != 1) for i in range(len(r))] for r in responses]
    old = [(-torch.rand(len(r), generator=gen) * 4).tolist() for r in responses]
    batch = collate(
        [p.tolist() for p in prompts], [r.tolist() for r in responses], tok.pad_token_id, masks, old
    )
    adv = torch.randn(n, generator=gen)
    groups = torch.arange(n) // 2
    optimizer, scheduler = make_optimizer(model, cfg.optim)
    return cfg, model, batch, adv, groups, (optimizer, scheduler)


def one_update(rank: int, cases: list[dict[str, Any]], out: str, strategy: str | None) -> None:
    """Run :func:`policy_update` on each case (on a learner group when ``strategy`` is set);
    rank 0 saves the gradients, weights and metrics to ``out``."""
    from rlscaling.trainer.distributed import ShardedPolicy, init_learner_group
    from rlscaling.trainer.update import policy_update

    group = None
    if strategy is not None:
        group = init_learner_group(torch.device("cpu"), "gloo", 5.0)
    results = []
    for case in cases:
        cfg, model, batch, adv, groups, (optimizer, scheduler) = update_case(case)
        learner = None
        if group is not None:
            learner = ShardedPolicy(group, model, strategy, 1.0, True)
            if strategy == "fsdp":
                from rlscaling.trainer.update import make_optimizer

                optimizer, scheduler = make_optimizer(learner.trained, cfg.optim)
        metrics = policy_update(model, optimizer, scheduler, batch, adv, groups, cfg, learner)
        trained = model if learner is None else learner.trained
        grads = {
            name: _whole(p.grad).float().clone()
            for name, p in trained.named_parameters()
            if p.grad is not None
        }
        weights = {
            name: _whole(p.detach()).float().clone() for name, p in trained.named_parameters()
        }
        results.append({"metrics": metrics, "grads": grads, "weights": weights})
    if rank == 0:
        torch.save(results, out)
    del learner, model, trained, optimizer, scheduler  # see LearnerGroup.close
    if group is not None:
        group.close()


def _whole(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if hasattr(t, "full_tensor") else t


# ---- whole runs ----


def train_run(rank: int, config: dict[str, Any], die_at_score: int | None = None) -> None:
    """``train(config)`` on this rank; with ``die_at_score``, rank 0 fails in its
    ``die_at_score``-th scoring call (inside that step, after the earlier steps' logs), as a
    killed run stops: the process ends without a checkpoint of that step."""
    from rlscaling.trainer import loop
    from rlscaling.trainer.loop import train

    if die_at_score is not None and rank == 0:
        real = loop.score_samples
        calls = {"n": 0}

        def dying(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == die_at_score:
                raise RuntimeError("simulated kill")
            return real(*args, **kwargs)

        loop.score_samples = dying
    train(config)


class FixedTimer:
    """A ``DeviceTimer`` stand-in that adds ``seconds`` per timed block, whatever the clock
    says (so a test can check how device-seconds are summed without reading a clock)."""

    seconds_per_block = 0.0

    def __init__(self, device: Any) -> None:
        self.seconds = 0.0

    def __enter__(self) -> FixedTimer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds += self.seconds_per_block


def train_with_fixed_update_seconds(rank: int, config: dict[str, Any]) -> None:
    """``train(config)`` with every rank's update timed as ``1000 * (rank + 1)`` seconds and
    generation as 0."""
    from rlscaling.trainer import loop, steps

    class UpdateTimer(FixedTimer):
        seconds_per_block = 1000.0 * (rank + 1)

    steps.DeviceTimer = UpdateTimer
    loop.DeviceTimer = FixedTimer
    loop.train(config)


def run_dir_params(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted((path / "checkpoints" / "latest" / "model").glob("*.safetensors"))
    out: dict[str, torch.Tensor] = {}
    for f in files:
        out.update(load_file(f))
    return out
