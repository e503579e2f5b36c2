"""JSONL logs: one JSON object per line; a torn last line is skipped and counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlscaling.io.errors import InputError
from rlscaling.io.frames import (
    warn,
)
from rlscaling.io.readers.text import _read_text


def _read_jsonl(p: Path) -> tuple[list[dict[str, Any]], int]:
    """Records of a JSONL file; a last line that does not parse is torn: skipped and counted."""
    lines = [(i, ln) for i, ln in enumerate(_read_text(p).splitlines(), 1)]
    lines = [(i, ln) for i, ln in lines if ln.strip()]
    records: list[dict[str, Any]] = []
    torn = 0
    for k, (i, line) in enumerate(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if k == len(lines) - 1:
                torn = 1
                warn(
                    f"{p}: the last line ({i}) is incomplete (a write was cut off) and was "
                    "skipped; it is counted in metadata['omitted']['torn_last_line']"
                )
                break
            raise InputError(
                f"{p}: line {i} is not valid JSON ({exc.msg}); only a torn last line is "
                "skipped. Fix or remove the line."
            ) from None
        if not isinstance(rec, dict):
            raise InputError(f"{p}: line {i} is a JSON {type(rec).__name__}, not an object")
        records.append(rec)
    return records, torn
