"""Checkpoints for resume: model (HF format), optimiser, scheduler, engine, sampler, RNG.

Rollout and evaluation seeds are derived from ``(seed, step)``, so the torch and Python global
RNG states saved here are a safety net rather than the source of reproducibility.

Layout of ``<run>/checkpoints/``::

    latest/           the checkpoint a resume starts from
      model/          save_pretrained (safetensors; loadable by transformers and vLLM)
      state.pt        everything else: tensors and plain containers only
      complete.json   written last: {"step": N, "format": 2}; a directory without it is partial
    tmp/              the next checkpoint while it is written
    old/              the previous checkpoint while ``tmp`` is swapped in

Two rules make resume safe against a kill at any instant:

- Security: ``state.pt`` holds only tensors, numbers, strings and lists/tuples/dicts of them
  (numpy arrays are stored as tensors), and is read with ``torch.load(weights_only=True)``: a
  crafted file in a run directory cannot run code. The model is read from safetensors only.
- Atomicity: a checkpoint counts only once ``complete.json`` exists, and that file is written
  after every other file has been flushed to disk. A kill between the renames of the swap
  (``tmp`` and ``old`` present, no ``latest``) is repaired by :func:`recover`, which promotes
  the newest complete one; if there is none, :func:`latest` raises rather than letting the
  trainer start over.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlscaling.io import rundir
from rlscaling.trainer.model import save_model

FORMAT = 2
MARKER = "complete.json"
_SLOTS = ("latest", "tmp", "old")


class CheckpointError(RuntimeError):
    """A checkpoint directory that cannot be resumed from; the message says what to do."""


# ---- plain-data conversion (weights_only=True loads only these types) ----


def to_plain(obj: Any) -> Any:
    """``obj`` with numpy arrays as tensors and numpy scalars as Python numbers.

    ``torch.load(weights_only=True)`` refuses numpy objects (they unpickle through arbitrary
    globals), so a state that must be loadable safely is converted first; readers that call
    ``np.asarray`` on the stored values get the same arrays back.
    """
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    return obj


# ---- RNG ----


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
    python = state["python"]
    # a tuple written by torch.save can come back with its inner tuple as a list
    random.setstate((python[0], tuple(python[1]), python[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---- finding the checkpoint to resume from ----


def checkpoint_step(path: str | Path) -> int | None:
    """The step of a complete checkpoint directory, or None if it is partial or not one."""
    marker = Path(path) / MARKER
    if not marker.is_file() or not (Path(path) / "state.pt").is_file():
        return None
    try:
        meta = json.loads(marker.read_text())
        return int(meta["step"])
    except (ValueError, KeyError, TypeError, OSError):
        return None


def recover(out_dir: str | Path) -> Path | None:
    """Finish an interrupted swap and return the complete ``latest`` checkpoint, if any.

    If ``latest`` is missing, the newest complete one of ``tmp`` and ``old`` becomes ``latest``
    (a kill after ``latest -> old`` and before ``tmp -> latest`` leaves exactly that state).
    Partial directories are left in place for :func:`save` to clear; nothing complete is
    deleted here.

    Raises
    ------
    CheckpointError
        If ``checkpoints/`` holds checkpoint directories but none is complete (the run was
        checkpointed, so starting over would lose work), or if ``latest`` is a checkpoint of an
        older format without a completion marker.
    """
    root = Path(out_dir) / rundir.CHECKPOINTS_DIR
    final = root / "latest"
    if checkpoint_step(final) is not None:
        return final
    if final.exists():
        if (final / "state.pt").exists():
            raise CheckpointError(
                f"{final} is a checkpoint of an older format (no {MARKER}; its state.pt can "
                "only be read by unpickling, which rlscaling does not do with files it did not "
                "just write). Start the run in a new out_dir, or delete the checkpoints "
                "directory to restart this one from step 0."
            )
        raise CheckpointError(
            f"{final} is not a complete checkpoint (no {MARKER} or state.pt): it was not "
            "written by rlscaling or was damaged. Move it away to resume from another one, "
            "or use a new out_dir."
        )
    candidates = [
        (step, root / name)
        for name in ("tmp", "old")
        if (step := checkpoint_step(root / name)) is not None
    ]
    if candidates:
        _, best = max(candidates)
        best.rename(final)
        _fsync_dir(root)
        return final
    partial = [name for name in _SLOTS if (root / name).exists()]
    if partial:
        raise CheckpointError(
            f"{root} holds only partial checkpoints ({', '.join(partial)}): none has "
            f"{MARKER}, so there is no state to resume from. Use a new out_dir, or delete "
            f"{root} (and the logs) to restart the run from step 0."
        )
    return None


def latest(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run directory (after :func:`recover`), or None."""
    return recover(out_dir)


# ---- writing and reading ----


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for f in sorted(path.rglob("*")):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    for d in sorted({f.parent for f in path.rglob("*")} | {path}):
        _fsync_dir(d)


def save(out_dir: str | Path, model: Any, tokenizer: Any, state: dict[str, Any]) -> Path:
    """Write ``model`` + ``tokenizer`` and the ``state`` dict as the latest checkpoint.

    ``state`` must hold tensors, numbers, strings, None, numpy arrays (stored as tensors) and
    lists/tuples/dicts of them; anything else raises before the previous checkpoint is touched.
    """
    root = Path(out_dir) / rundir.CHECKPOINTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    recover(out_dir)  # never clear `old` while it is the only complete checkpoint
    tmp, final, old = root / "tmp", root / "latest", root / "old"
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    tmp.mkdir(parents=True)
    save_model(model, tokenizer, tmp / "model")
    payload = to_plain({**state, "rng": rng_state()})
    try:
        torch.save(payload, tmp / "state.pt")
        torch.load(tmp / "state.pt", weights_only=True)  # what resume will do; fail now
    except pickle.UnpicklingError as err:
        shutil.rmtree(tmp)
        raise TypeError(
            "checkpoint state must hold only tensors, numbers, strings and containers of "
            f"them (it is read back with weights_only=True); got: {err}"
        ) from err
    _fsync_tree(tmp)
    marker = tmp / MARKER
    marker.write_text(json.dumps({"step": int(state.get("step", 0)), "format": FORMAT}) + "\n")
    with open(marker, "rb") as fh:
        os.fsync(fh.fileno())
    _fsync_dir(tmp)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    _fsync_dir(root)
    if old.exists():
        shutil.rmtree(old)
    return final


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's ``state.pt`` without unpickling anything but plain data.

    Raises
    ------
    CheckpointError
        If the file holds anything other than tensors and plain containers (a crafted or
        foreign file): it is refused, not executed.
    """
    file = Path(path) / "state.pt"
    try:
        return torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{file} holds objects other than tensors and plain containers; rlscaling reads "
            "checkpoints with torch.load(weights_only=True) and refuses it (loading it "
            "could run code). Use a checkpoint written by rlscaling, or a new out_dir. "
            f"Detail: {str(err).splitlines()[0]}"
        ) from err
