"""Checkpoints for resume: model (HF format), optimiser, scheduler, engine, sampler, RNG.

Rollout and evaluation seeds are derived from ``(seed, step)``, so the torch and Python global
RNG states saved here are a safety net rather than the source of reproducibility.

The latest checkpoint lives in ``<run>/checkpoints/latest``: ``model/`` (``save_pretrained``,
loadable by transformers and vLLM) and ``state.pt`` (everything else). A new checkpoint is
written to a temporary directory and swapped in, so a kill mid-write leaves the previous one.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import torch

from rlscaling.trainer.model import save_model


def latest(out_dir: str | Path) -> Path | None:
    path = Path(out_dir) / "checkpoints" / "latest"
    return path if (path / "state.pt").exists() else None


def rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(out_dir: str | Path, model: Any, tokenizer: Any, state: dict[str, Any]) -> Path:
    """Write ``model`` + ``tokenizer`` and the ``state`` dict as the latest checkpoint."""
    root = Path(out_dir) / "checkpoints"
    tmp, final, old = root / "tmp", root / "latest", root / "old"
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    tmp.mkdir(parents=True)
    save_model(model, tokenizer, tmp / "model")
    torch.save({**state, "rng": rng_state()}, tmp / "state.pt")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


def load_state(path: str | Path) -> dict[str, Any]:
    return torch.load(Path(path) / "state.pt", weights_only=False)
