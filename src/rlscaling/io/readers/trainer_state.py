"""The ``trainer_state.json`` of a Hugging Face ``Trainer`` (TRL's GRPO and PPO trainers write
one into every ``checkpoint-<step>`` directory): its ``log_history`` as a table.

Each entry of ``log_history`` is one logging call: a training step's metrics (``reward``,
``rewards/<function>/mean``, ``loss``, ...) or an evaluation's (``eval_reward``, ...), each
with its ``step``. A row that does not hold the chosen reward is another kind of entry, not a
missing value, so it is not a point of the curve (as a TensorBoard tag at a step where it was
not logged). The evaluation reward is preferred over the training batches' when both are
logged: it is the held-out curve.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rlscaling.io.errors import InputError
from rlscaling.io.frames import LoadOptions, frame_run
from rlscaling.io.readers.base import _choose
from rlscaling.io.readers.text import _read_text
from rlscaling.io.runs import Run

STATE_FILE = "trainer_state.json"
CHECKPOINT_PREFIX = "checkpoint-"


def state_file(p: Path) -> Path | None:
    """The ``trainer_state.json`` that ``p`` stands for: the file, a directory's own (written
    at the end of training), or that of the directory's latest ``checkpoint-<step>``."""
    if p.is_file():
        return p
    own = p / STATE_FILE
    if own.is_file():
        return own
    steps = []
    for f in p.glob(f"{CHECKPOINT_PREFIX}*/{STATE_FILE}"):
        step = f.parent.name.removeprefix(CHECKPOINT_PREFIX)
        if step.isdigit():
            steps.append((int(step), f))
    return max(steps)[1] if steps else None


def looks_like_trainer_state(p: Path) -> bool:
    """A directory holding a trainer state, or a ``.json`` file with a ``log_history``."""
    if p.is_dir():
        return state_file(p) is not None
    if p.name == STATE_FILE:
        return True
    if p.suffix.lower() != ".json":
        return False
    with open(p, "rb") as fh:
        return b'"log_history"' in fh.read(1 << 20)


def _run_name(f: Path) -> str:
    """The training run's output directory (above ``checkpoint-<step>``), else the file's."""
    d = f.resolve().parent
    if d.name.startswith(CHECKPOINT_PREFIX):
        d = d.parent
    return d.name or f.stem


def _read_trainer_state(p: Path, opts: LoadOptions) -> list[Run]:
    f = state_file(p)
    if f is None:
        raise InputError(
            f"path={str(p)!r} holds no {STATE_FILE} (nor a {CHECKPOINT_PREFIX}<step>/{STATE_FILE})"
        )
    try:
        state = json.loads(_read_text(f))
    except json.JSONDecodeError as exc:
        raise InputError(f"{f} is not valid JSON ({exc})") from None
    log = state.get("log_history") if isinstance(state, dict) else None
    rows = [r for r in log if isinstance(r, dict)] if isinstance(log, list) else []
    if not rows:
        raise InputError(
            f"{f} has no log_history entries: is it a Hugging Face Trainer's {STATE_FILE}, "
            "written after the first logging step?"
        )
    name = _run_name(f)
    if not _choose([name], opts, p):
        return []
    df = pd.DataFrame(rows)
    present = pd.DataFrame({c: [c in r for r in rows] for c in df.columns})
    meta = {
        k: state[k]
        for k in ("global_step", "max_steps", "num_train_epochs", "logging_steps", "eval_steps")
        if k in state
    }
    meta["trainer_state"] = str(f)
    # the evaluation reward is preferred over the training batches', as in any table
    run = frame_run(
        df,
        opts,
        name=name,
        source=f,
        fmt="trainer_state",
        meta=meta,
        present=present,
    )
    return [run]
