"""Text files (CSV, TSV, JSONL), plain or compressed (gzip, bz2, xz, zip), and the torn last
line of a CSV."""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import zipfile
from pathlib import Path

from rlscaling.io.errors import LoadError

# Characters a number written to a CSV cannot end with: a last line ending in one of them
# (``9e18,0.``) was cut off mid-write.
NUMBER_CUT = (".", "e", "E", "+", "-")


def _read_text(p: Path) -> str:
    """The decompressed text of ``p``: UTF-8 (a BOM is dropped) or UTF-16 with a BOM."""
    raw = _read_raw(p)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16, as spreadsheet programs save it
        return raw.decode("utf-16")
    if b"\x00" in raw[:4096]:
        raise LoadError(
            p,
            "is binary, not a text table (it holds NUL bytes); pass format='parquet' or "
            "format='tensorboard' if it is one of those, or export it as CSV",
        )
    return raw.decode("utf-8-sig")


def _read_raw(p: Path) -> bytes:
    """The decompressed bytes of ``p`` (gzip, bz2, xz or a zip holding one file)."""
    name = p.name.lower()
    if name.endswith(".gz"):
        with gzip.open(p, "rb") as fh:
            raw = fh.read()
    elif name.endswith(".bz2"):
        raw = bz2.decompress(p.read_bytes())
    elif name.endswith(".xz"):
        raw = lzma.decompress(p.read_bytes())
    elif name.endswith(".zip"):
        with zipfile.ZipFile(p) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise LoadError(p, f"a zip file must hold exactly one table, found {members}")
            raw = zf.read(members[0])
    else:
        raw = p.read_bytes()
    return raw


def _split_torn_csv(text: str, sep: str) -> tuple[str, str | None]:
    """Split off a last CSV line that a cut-off write left incomplete: (rest, torn line or None).

    Only a last line without its newline can be torn. It counts as torn when it has fewer
    fields than the header, an empty field, or a field that stops where a number cannot end
    (``9e18,0.``): read as it stands it would be a wrong point, e.g. reward 0.
    """
    if not text or text.endswith(("\n", "\r")):
        return text, None
    head, _, last = text.rpartition("\n")
    if not head.strip() or not last.strip():
        return text, None
    header = next(csv.reader([head.splitlines()[0]], delimiter=sep), [])
    fields = next(csv.reader([last], delimiter=sep), [])
    torn = (
        len(fields) < len(header)
        or any(not f.strip() for f in fields)
        or any(f.strip().endswith(NUMBER_CUT) for f in fields)
    )
    return (head + "\n", last) if torn else (text, None)
