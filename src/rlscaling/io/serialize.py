"""JSON output: numpy scalars and arrays as plain numbers and lists (for ``json.dumps``)."""

from __future__ import annotations

from typing import Any


def json_default(v: Any) -> Any:
    """``default=`` for :func:`json.dumps`: numpy values become Python ones, others their str.

    Examples
    --------
    >>> import json, numpy as np
    >>> json.dumps({"a": np.float64(0.5), "b": np.arange(2)}, default=json_default)
    '{"a": 0.5, "b": [0, 1]}'
    """
    # numpy scalars and arrays both have tolist() (a scalar gives a Python number); testing
    # for it keeps numpy out of this module, which the command line imports for --help.
    if type(v).__module__ == "numpy" and hasattr(v, "tolist"):
        return v.tolist()
    return str(v)
