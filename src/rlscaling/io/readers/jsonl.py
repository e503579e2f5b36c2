"""JSONL logs: one JSON object per line; a torn last line is skipped and counted.

A plain log is read by pyarrow's JSON reader (fast); anything else falls back to the exact
line-by-line reader, which answers or names the bad line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from rlscaling.io import rundir
from rlscaling.io.errors import InputError
from rlscaling.io.frames import (
    warn,
)
from rlscaling.io.readers.base import _records_frame
from rlscaling.io.readers.text import _read_raw, _read_text

# Line breaks that str.splitlines honours besides "\n" (UTF-8 encoded; the one-byte ones first).
JSONL_OTHER_LINE_BREAKS = (
    b"\r",
    b"\x0b",
    b"\x0c",
    b"\x1c",
    b"\x1d",
    b"\x1e",
    "\x85".encode(),
    "\u2028".encode(),
    "\u2029".encode(),
)


def _read_jsonl(p: Path) -> tuple[list[dict[str, Any]], int]:
    """Records of a JSONL file; a last line that does not parse is torn: skipped and counted
    (the run-directory contract's rule, :func:`rlscaling.io.rundir.parse_jsonl`)."""
    note = "; it is counted in metadata['omitted']['torn_last_line']"
    try:
        return rundir.parse_jsonl(_read_text(p), p, on_torn=lambda msg: warn(msg + note))
    except rundir.LogLineError as exc:
        raise InputError(str(exc)) from None


def _read_jsonl_frame(p: Path) -> tuple[pd.DataFrame, int]:
    """The table of a JSONL file and its torn-line count: pyarrow's reader for a plain file,
    the line-by-line reader for anything else (see :func:`_jsonl_frame_fast`)."""
    fast = _jsonl_frame_fast(p)
    if fast is not None:
        return fast
    records, torn = _read_jsonl(p)
    return _records_frame(records, p), torn


def _jsonl_frame_fast(p: Path) -> tuple[pd.DataFrame, int] | None:
    """The table of a JSONL file read by pyarrow's JSON reader, or None to use the exact reader.

    :func:`_read_jsonl` parses line by line with :func:`json.loads` and builds the frame with
    :func:`pandas.json_normalize`: about 10 s and 1 GB for a million lines, where pyarrow's
    reader (C++, multi-threaded) takes a small fraction. This path gives the same frame
    (nested objects flattened to ``a.b`` columns) and the same torn-last-line handling (skipped,
    warned, counted). Whenever the file is anything but plain -- pyarrow missing, another
    encoding, blank lines, line separators other than newline, a line that is not one JSON
    object, values pyarrow would turn into other types (timestamps, lists), or any parse
    error -- it returns None before warning, and the line-by-line reader gives its usual
    answer or its usual error naming the line.
    """
    try:
        import pyarrow as pa
        import pyarrow.json as pa_json
    except ImportError:
        return None
    raw = _read_raw(p)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:4096]:
        return None
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    # str.splitlines (the exact reader) also splits at these; keep line numbers identical.
    seps = JSONL_OTHER_LINE_BREAKS[:6] if raw.isascii() else JSONL_OTHER_LINE_BREAKS
    if any(sep in raw for sep in seps):
        return None
    # Work on offsets into ``raw`` rather than stripped or sliced copies of it (a copy of a
    # million-line log is ~100 MB).
    end = _rstrip_end(raw, len(raw))
    if end == 0:
        return None
    start = raw.rfind(b"\n", 0, end) + 1
    torn = 0
    try:
        last = json.loads(raw[start:end])
    except json.JSONDecodeError:
        torn = 1
    except UnicodeDecodeError:
        return None
    if not torn and not isinstance(last, dict):
        return None
    if torn:
        line_no = raw.count(b"\n", 0, start) + 1
        end = _rstrip_end(raw, start)
        if end == 0:
            return None
    n_lines = raw.count(b"\n", 0, end) + 1
    body = memoryview(raw)[:end]
    try:
        # Large blocks: type inference sees more rows at once, and on a few busy cores the
        # reader's threads gain little over a larger block.
        table = pa_json.read_json(
            pa.py_buffer(body), read_options=pa_json.ReadOptions(block_size=16 << 20)
        )
        while any(pa.types.is_struct(t) for t in table.schema.types):
            table = table.flatten()
    except (pa.ArrowException, ValueError):
        return None
    plain = (
        pa.types.is_integer,
        pa.types.is_floating,
        pa.types.is_boolean,
        pa.types.is_string,
        pa.types.is_large_string,
        pa.types.is_null,
    )
    if table.num_rows != n_lines or not all(any(ok(t) for ok in plain) for t in table.schema.types):
        return None  # blank lines, several objects on a line, or values of other types
    frame = table.to_pandas()
    if torn:
        warn(
            f"{p}: the last line ({line_no}) is incomplete (a write was cut off) and was "
            "skipped; it is counted in metadata['omitted']['torn_last_line']"
        )
    return frame, torn


def _rstrip_end(raw: bytes, end: int) -> int:
    """Offset after the last byte of ``raw[:end]`` that is not a space, tab or newline."""
    while end > 0 and raw[end - 1] in b" \t\n":
        end -= 1
    return end
