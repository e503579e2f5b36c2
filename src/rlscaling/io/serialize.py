"""JSON output: numpy scalars and arrays as plain numbers and lists (for ``json.dumps``)."""

from __future__ import annotations

from typing import Any

import numpy as np


def json_default(v: Any) -> Any:
    """``default=`` for :func:`json.dumps`: numpy values become Python ones, others their str.

    Examples
    --------
    >>> import json, numpy as np
    >>> json.dumps({"a": np.float64(0.5), "b": np.arange(2)}, default=json_default)
    '{"a": 0.5, "b": [0, 1]}'
    """
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
