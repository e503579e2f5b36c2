"""The run directory: ``run.json``, ``eval.jsonl``, ``train.jsonl`` (and ``checkpoints/``).

File names, the keys every line carries and the reader are the library's run-directory
contract (:mod:`rlscaling.io.rundir`), which the loader of run directories uses too. Each JSONL
line is written whole with one ``write`` and flushed, so a reader sees either a complete line
or a torn last line it can skip. On resume the logs are cut back to the checkpoint's step so a
killed run continues the same curve without duplicates.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from rlscaling.io import rundir


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Complete lines of a run log; none if it does not exist yet.

    A torn last line (a write cut off) is skipped; a bad line before it raises
    :class:`rlscaling.io.rundir.LogLineError` (see :func:`rlscaling.io.rundir.read_jsonl`).
    """
    path = Path(path)
    return rundir.read_jsonl(path)[0] if path.exists() else []


class RunWriter:
    """Writes the files of one run directory."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.eval_path = self.dir / rundir.EVAL_FILE
        self.train_path = self.dir / rundir.TRAIN_FILE
        self.run_path = self.dir / rundir.RUN_FILE
        self.rewound_path = self.dir / rundir.REWOUND_FILE

    def write_run(self, meta: dict[str, Any]) -> None:
        tmp = self.run_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(_clean(meta), indent=2) + "\n")
        os.replace(tmp, self.run_path)

    def _append(self, path: Path, record: dict[str, Any]) -> None:
        line = json.dumps(_clean(record)) + "\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()

    def append_eval(self, record: dict[str, Any]) -> None:
        """Append an evaluation (the trainer's have :data:`rlscaling.io.rundir.EVAL_KEYS`)."""
        self._append(self.eval_path, record)

    def append_train(self, record: dict[str, Any]) -> None:
        """Append a step (the trainer's have at least :data:`rlscaling.io.rundir.TRAIN_KEYS`)."""
        self._append(self.train_path, record)

    def truncate_after(self, step: int) -> int:
        """Rewind the logs to ``step``: lines with a later step (and a torn last line) leave
        ``eval.jsonl``/``train.jsonl`` and are appended to ``rewound.jsonl``, tagged with
        their file, so nothing a run wrote is deleted. Returns the number of lines moved."""
        moved = 0
        for path in (self.eval_path, self.train_path):
            if not path.exists():
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            keep, drop = [], []
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    drop.append({"file": path.name, "torn_line": line})
                    continue
                if isinstance(record, dict) and record.get("step", 0) > step:
                    drop.append({"file": path.name, **record})
                else:
                    keep.append(line)
            if not drop:
                continue
            with open(self.rewound_path, "a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(_clean(r)) + "\n" for r in drop))
                fh.flush()
                os.fsync(fh.fileno())
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
            os.replace(tmp, path)
            moved += len(drop)
        return moved

    def reset(self) -> None:
        for path in (self.eval_path, self.train_path):
            if path.exists():
                path.unlink()
