"""Bundled data sets.

``example_curves``: SYNTHETIC curves drawn from the sigmoid with parameters modelled on the
fitted values in Table 1 of Khatri et al. (2025), "The Art of Scaling Reinforcement Learning
Compute for LLMs" (arXiv 2510.13786), with realistic evaluation noise. They are not training
runs. The generating parameters are stored beside them (``example_params``). Regenerate with
``python examples/make_example_data.py``.
"""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd

from rlscaling.inputs import InputError
from rlscaling.runs import Run

_DATA = resources.files("rlscaling") / "data"


def example_params() -> pd.DataFrame:
    """True parameters (and noise settings) of the bundled synthetic example curves."""
    with (_DATA / "example_params.json").open() as fh:
        meta = json.load(fh)
    return pd.DataFrame(meta["curves"]).set_index("name")


def example_curves() -> list[Run]:
    """All bundled synthetic example curves as Runs (metadata holds the true parameters).

    Examples
    --------
    >>> from rlscaling.datasets import example_curves
    >>> runs = example_curves()
    >>> runs[0].metadata["synthetic"]
    True
    """
    with (_DATA / "example_curves.csv").open() as fh:
        df = pd.read_csv(fh)
    params = example_params()
    runs = []
    for name, g in df.groupby("curve", sort=False):
        meta = {"synthetic": True, "compute_unit": "GPU-hours", **params.loc[name].to_dict()}
        runs.append(
            Run(
                g["compute"].to_numpy(),
                g["reward"].to_numpy(),
                eval_size=g["eval_size"].to_numpy(),
                name=str(name),
                metadata=meta,
            )
        )
    return runs


def load_example(name: str = "scalerl_like") -> Run:
    """One bundled synthetic example curve by name.

    Examples
    --------
    >>> from rlscaling import load_example
    >>> load_example("scalerl_like").name
    'scalerl_like'
    """
    runs = {r.name: r for r in example_curves()}
    if name not in runs:
        raise InputError(f"name={name!r} is not a bundled example; choose from {sorted(runs)}")
    return runs[name]
