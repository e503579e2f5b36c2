"""What the readers share: the ``runs=`` filter, a file's stem as a run name, JSON records as
a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rlscaling.io.errors import InputError
from rlscaling.io.frames import (
    LoadOptions,
)

IO_EXTRA = 'pip install "rlscaling[io]"'


# what a table handed over in memory is called in messages and metadata["source"]
FRAME_SOURCE = Path("DataFrame")


def source_words(p: Path) -> str:
    """How a message names a source: ``path='<p>'``, or ``the DataFrame``."""
    return "the DataFrame" if p == FRAME_SOURCE else f"path={str(p)!r}"


def _choose(names: list[str], opts: LoadOptions, p: Path) -> list[str]:
    """Which of the runs a source holds to read: those named by run=, checked before reading."""
    if opts.run is not None:
        wanted = [opts.run] if isinstance(opts.run, str) else list(opts.run)
        kept = [n for n in names if n in wanted]
        if not kept and opts.one:
            raise InputError(
                f"run={opts.run!r} is not among the runs in {source_words(p)}: {names}"
            )
        return kept
    if opts.one and len(names) > 1:
        raise InputError(
            f"{source_words(p)} holds {len(names)} runs: {names}. Pick one with run='<name>', "
            "or use load_runs() to get them all."
        )
    return names


def _stem(p: Path) -> str:
    name = p.name
    for s in reversed(p.suffixes):
        name = name.removesuffix(s)
    return name or p.name


def _records_frame(records: list[dict[str, Any]], p: Path) -> pd.DataFrame:
    if not records:
        raise InputError(f"{p} holds no complete records")
    return pd.json_normalize(records)
