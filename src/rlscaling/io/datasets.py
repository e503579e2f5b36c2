"""Bundled data sets.

``calibration_runs``: REAL training runs of the bundled reference trainer: a sweep of recipes x
seeds on countdown (three numbers) with a 1-layer model, each run to its plateau, a pass rate
well below 1 that depends on the recipe (see ``data/calibration_runs/README.md`` for configs,
machine, versions, wall time and the command that regenerates it).

``sorting_runs``: the earlier sweep on sorting six digits, where every recipe reaches the
task's ceiling of 1 (kept for what it shows: speed differences without ceiling differences;
``data/sorting_runs/README.md``).

``example_curves``: SYNTHETIC curves drawn from the sigmoid with parameters modelled on the
fitted values in Table 1 of Khatri et al. (2025), "The Art of Scaling Reinforcement Learning
Compute for LLMs" (arXiv 2510.13786), with realistic evaluation noise. They are not training
runs. The generating parameters are stored beside them (``example_params``). Regenerate with
``python examples/make_example_data.py``.
"""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path

import pandas as pd

from rlscaling.io.checks import InputError
from rlscaling.io.loaders import LoaderWarning, load_run
from rlscaling.io.runs import Run

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
    >>> from rlscaling.io.datasets import example_curves
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


def calibration_runs(recipes: list[str] | None = None) -> list[Run]:
    """The bundled calibration runs: real RL runs of the reference trainer, recipes x seeds.

    Each Run's compute is training FLOPs; ``metadata`` holds ``recipe`` (the sweep's recipe
    name, e.g. ``scalerl_no_zvf``), ``preset``, ``seed``, ``sweep`` and ``compute_unit``.
    The per-run training summaries (``train_summary.jsonl``) and configs (``run.json``) sit
    beside the curves in the package (:func:`calibration_dir`).

    Parameters
    ----------
    recipes : list of str, optional
        Only these recipes (default all).

    Examples
    --------
    >>> from rlscaling.io.datasets import calibration_runs
    >>> runs = calibration_runs()
    >>> sorted({r.metadata["recipe"] for r in runs})[:2]
    ['dapo', 'grpo']
    >>> runs[0].metadata["compute_unit"]
    'FLOPs'
    """
    return load_sweep_dir(calibration_dir(), recipes)


def sorting_runs(recipes: list[str] | None = None) -> list[Run]:
    """The earlier calibration sweep, on sorting six digits: recipes x seeds.

    Every recipe rises from a pass rate near 0.1 to 0.92-0.97 and its fitted asymptote sits on
    the task's ceiling of 1 (not identified): the recipes differ in speed (B, C_mid), not in
    where they end. Same layout and metadata as :func:`calibration_runs`.

    Parameters
    ----------
    recipes : list of str, optional
        Only these recipes (default all).

    Examples
    --------
    >>> from rlscaling.io.datasets import sorting_runs
    >>> sorted({r.metadata["recipe"] for r in sorting_runs()})
    ['dapo', 'grpo', 'scalerl', 'scalerl_no_zvf']
    """
    return load_sweep_dir(Path(str(_DATA / "sorting_runs")), recipes)


def load_sweep_dir(root: str | Path, recipes: list[str] | None = None) -> list[Run]:
    """Runs of a bundled sweep directory (``manifest.json`` + ``<recipe>/seed<k>/``)."""
    root = Path(root)
    if not (root / "manifest.json").is_file():
        raise InputError(f"{root} has no manifest.json: not a bundled sweep directory")
    manifest = json.loads((root / "manifest.json").read_text())
    known = list(dict.fromkeys(r["recipe"] for r in manifest["runs"]))
    if recipes is not None:
        unknown = sorted(set(recipes) - set(known))
        if unknown:
            raise InputError(f"recipes {unknown} are not bundled; choose from {known}")
    out = []
    for row in manifest["runs"]:
        if recipes is not None and row["recipe"] not in recipes:
            continue
        with warnings.catch_warnings():
            # The untrained model's evaluation at compute 0 is the run's R0; it is kept.
            warnings.simplefilter("ignore", LoaderWarning)
            run = load_run(root / row["out_dir"])
        run.metadata.setdefault("compute_unit", "FLOPs")
        out.append(run)
    return out


def calibration_dir() -> Path:
    """Directory of the bundled calibration runs (one ``<recipe>/seed<k>`` per run)."""
    return Path(str(_DATA / "calibration_runs"))
