"""Parquet tables (pyarrow, the ``io`` extra)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rlscaling.io.errors import LoadError
from rlscaling.io.readers.base import IO_EXTRA


def _read_parquet(p: Path) -> pd.DataFrame:
    try:
        import pyarrow
    except ImportError:
        raise ImportError(f"reading Parquet needs pyarrow: {IO_EXTRA}") from None
    try:
        return pd.read_parquet(p)
    except pyarrow.ArrowException as exc:
        raise LoadError(
            p, f"is not a readable Parquet file ({exc}); it may be truncated or another format"
        ) from None
