"""The trainer's run directory as a contract: file names, log keys and the JSONL reader.

The reference trainer (``rlscaling.trainer.runlog``) writes run directories and the library's
loader (``rlscaling.load_run``) reads them; both take the names and the reader from here, so
the two sides cannot drift apart. This module imports only the standard library: reading a
run directory never needs torch.

Each JSONL line is written whole and flushed, so a reader sees complete lines and, if a
write was cut off, a torn last line. :func:`read_jsonl` skips that line and counts it; a bad
line anywhere else is corruption and raises :class:`LogLineError`.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / EVAL_FILE
>>> _ = path.write_text('{"step": 0, "reward": 0.1}\\n{"step": 10, "rew')
>>> read_jsonl(path)
([{'step': 0, 'reward': 0.1}], 1)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
"""Config, versions, compute unit, model size, task, seed, recipe (one JSON object)."""
EVAL_FILE = "eval.jsonl"
"""One line per evaluation (step 0 included), with :data:`EVAL_KEYS`."""
TRAIN_FILE = "train.jsonl"
"""One line per optimiser step, with at least :data:`TRAIN_KEYS`."""
REWOUND_FILE = "rewound.jsonl"
"""Log lines a resume moved out of the logs (they came after its checkpoint), tagged by file."""
CHECKPOINTS_DIR = "checkpoints"
"""Model and optimiser state for resume."""
BASE_MODEL_DIR = "base_model"
"""The starting policy after the warm-up (a Hugging Face model directory)."""

EVAL_KEYS = (
    "step",
    "compute",
    "device_seconds",
    "reward",
    "n_prompts",
    "n_samples",
    "tokens",
    "truncated_frac",
    "mean_len",
)
"""Keys of every ``eval.jsonl`` line: step, cumulative training FLOPs, device-seconds, mean
pass rate, prompts x samples per prompt evaluated, cumulative generated tokens, truncated
share and mean length of the evaluation responses."""

TASK_REWARD_PREFIX = "reward_"
"""In a multi-task run each ``eval.jsonl`` line also has, per task label ``<t>``, the task's
pass rate ``reward_<t>`` and its validation prompts ``n_prompts_<t>`` (same ``n_samples``);
``reward`` and ``n_prompts`` stay those of all tasks together. ``run.json`` lists the labels
under ``"tasks"``. ``load_run(path, reward="reward_<t>")`` reads one task's curve."""
TASK_PROMPTS_PREFIX = "n_prompts_"


def task_reward_key(label: str) -> str:
    """``eval.jsonl`` key of a task's pass rate in a multi-task run (``reward_<label>``)."""
    return TASK_REWARD_PREFIX + label


def task_prompts_key(label: str) -> str:
    """``eval.jsonl`` key of a task's validation prompt count (``n_prompts_<label>``)."""
    return TASK_PROMPTS_PREFIX + label


TRAIN_KEYS = (
    "step",
    "compute",
    "device_seconds",
    "tokens",
    "reward",
    "kept_prompts",
    "filtered_prompts",
    "active_prompts",
    "retired_prompts",
    "truncated_frac",
    "interrupted_frac",
    "mean_response_len",
    "staleness_mean",
    "staleness_max",
)
"""Keys every ``train.jsonl`` line has in every rollout mode; the update's metrics (loss,
clip fraction, entropy, ...) and each mode's own columns come on top."""


class LogLineError(ValueError):
    """A line of a JSONL log, other than the last, is not a JSON object (corruption)."""


def read_jsonl(
    path: str | Path, on_torn: Callable[[str], None] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The records of a JSONL log and the number of torn last lines skipped (0 or 1).

    Parameters
    ----------
    path : the file (it must exist).
    on_torn : called with a message naming the file and the line when the last line is torn
        (e.g. to warn); the line is skipped either way and counted in the result.

    Blank lines are skipped. A line other than the last that does not parse, or any line that
    is not a JSON object, raises :class:`LogLineError` naming the file and the line.
    """
    path = Path(path)
    return parse_jsonl(path.read_text(encoding="utf-8"), path, on_torn)


def parse_jsonl(
    text: str, source: str | Path, on_torn: Callable[[str], None] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """:func:`read_jsonl` on text already read (``source`` names it in messages): the one
    torn-last-line rule, shared by the trainer's logs and ``load_run``'s JSONL reader."""
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1)]
    lines = [(i, ln) for i, ln in lines if ln.strip()]
    records: list[dict[str, Any]] = []
    for k, (i, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if k == len(lines) - 1:
                if on_torn is not None:
                    on_torn(
                        f"{source}: the last line ({i}) is incomplete (a write was cut off) "
                        "and was skipped"
                    )
                return records, 1
            raise LogLineError(
                f"{source}: line {i} is not valid JSON ({exc.msg}); only a torn last line is "
                "skipped. Fix or remove the line."
            ) from None
        if not isinstance(record, dict):
            raise LogLineError(
                f"{source}: line {i} is a JSON {type(record).__name__}, not an object"
            )
        records.append(record)
    return records, 0
