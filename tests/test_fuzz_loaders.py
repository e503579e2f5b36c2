"""Fuzz the loaders with well-formed, defective and corrupted files of every format.

Every example checks that ``load_run``/``load_runs``

1. raise nothing but the library's own error (``InputError``; for an unreadable file its
   ``LoadError`` subclass), and that an error about a file names the file;
2. return only finite points, sorted by compute;
3. account for every row written: used, or counted in ``metadata["omitted"]`` (or merged).

Example counts are small by default; ``RLSCALING_FUZZ=slow`` turns them up (see
``tests/conftest.py``).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rlscaling.io.checks import InputError
from rlscaling.io.loaders import LoadError, load_run, load_runs

SLOW = os.environ.get("RLSCALING_FUZZ") == "slow" or settings.default.max_examples >= 1000

COMPUTE_COLS = ["compute", "flops", "total_flops", "gpu_hours", "x", "wall", "Compute"]
REWARD_COLS = ["reward", "eval/reward", "val_acc", "score", "y", "reward", "loss"]
STEP_COLS = ["step", "global_step", None]
FORMATS = [
    "csv", "tsv", "csv.gz", "jsonl", "parquet", "rundir", "wandb", "tensorboard", "trainer_state",
]  # fmt: skip
MISSING = object()  # a cell left out (empty in CSV, absent key in JSON)


def fuzz(fast: int, slow: int) -> settings:
    return settings(
        max_examples=slow if SLOW else fast,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows: a rising reward curve with per-row defects."""
    c_col = draw(st.sampled_from(COMPUTE_COLS))
    r_col = draw(st.sampled_from([c for c in REWARD_COLS if c != c_col]))
    s_col = draw(st.sampled_from(STEP_COLS))
    cols = [c for c in (s_col, c_col, r_col) if c is not None]
    with_size = draw(st.booleans())
    if with_size:
        cols.append("eval_size")
    n = draw(
        st.integers(3, 25) if draw(st.sampled_from([True] * 5 + [False])) else st.integers(0, 2)
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    compute = np.cumsum(rng.uniform(0.1, 2.0, n)) * 10.0 ** rng.uniform(-2, 20)
    if draw(st.booleans()):
        compute = np.r_[0.0, compute[1:]] if n else compute
    reward = 0.1 + 0.5 * (1 - np.exp(-np.arange(n) / 5)) + rng.normal(0, 0.01, n)
    clean = draw(st.booleans())  # half the tables have no defect at all
    rows = []
    for i in range(n):
        row: dict[str, Any] = {c_col: float(compute[i]), r_col: float(reward[i])}
        if s_col:
            row[s_col] = 10 * (i + 1)
        if with_size:
            row["eval_size"] = 256
        defects = ["nan", "missing", "inf", "text", "neg", "dup", "same"]
        defect = "none" if clean else draw(st.sampled_from(["none"] * 14 + defects))
        target = draw(st.sampled_from([c_col, r_col]))
        if defect == "nan":
            row[target] = float("nan")
        elif defect == "missing":
            row[target] = MISSING
        elif defect == "inf":
            row[target] = float("inf")
        elif defect == "text":
            row[target] = "n/a?"
        elif defect == "neg":
            row[c_col] = -row[c_col]
        elif defect in ("dup", "same") and rows:
            row = dict(rows[-1]) if defect == "same" else {**row, c_col: rows[-1][c_col]}
        rows.append(row)
    return cols, rows


def _cell(v: Any) -> str:
    if v is MISSING:
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def write(
    d: Path, fmt: str, cols: list[str], rows: list[dict[str, Any]], cut: int | None
) -> tuple[Path, int]:
    """Write the table; ``cut`` tears the last line after that many characters.

    Returns the path to load and the number of rows that are in the file (a line cut at 0
    characters is not in it).
    """
    n_rows = len(rows)
    if fmt in ("jsonl", "rundir"):
        lines = [
            json.dumps({k: v for k, v in r.items() if v is not MISSING}, allow_nan=True)
            for r in rows
        ]
        text = "".join(line + "\n" for line in lines)
        if cut is not None and lines:
            keep = min(cut, len(lines[-1]) - 1)
            text = "".join(line + "\n" for line in lines[:-1]) + lines[-1][:keep]
            n_rows -= keep == 0
        if fmt == "jsonl":
            path = d / "log.jsonl"
            path.write_text(text)
            return path, n_rows
        run = d / "run-1"
        run.mkdir()
        (run / "run.json").write_text(json.dumps({"name": "fuzz", "compute_unit": "FLOPs"}))
        (run / "eval.jsonl").write_text(text)
        return run, n_rows
    if fmt == "wandb":
        # a W&B chart export: one column per run and metric; a blank cell is a step the run
        # did not log: not a point, but a row of the file, counted as left out
        c_col, r_col = cols[-2:] if cols[-1] != "eval_size" else cols[-3:-1]
        header = ["Step", "fuzz - eval/reward", "fuzz - eval/reward__MIN"]
        lines = [",".join(header)]
        for r in rows:
            cell = _cell(r.get(r_col, MISSING))
            lines.append(",".join([_cell(r.get(c_col, MISSING)), cell, cell]))
        path = d / "wandb_export.csv"
        path.write_text("\n".join(lines) + "\n")
        return path, n_rows
    if fmt == "trainer_state":
        # a Hugging Face Trainer's log: an entry without the reward is another kind of logging
        # call (a training step beside evaluations), not a point; a torn line does not apply
        r_col = cols[-1] if cols[-1] != "eval_size" else cols[-2]
        log = [{k: v for k, v in r.items() if v is not MISSING} for r in rows]
        path = d / "trainer_state.json"
        path.write_text(json.dumps({"global_step": len(rows), "log_history": log}))
        return path, sum(r.get(r_col, MISSING) is not MISSING for r in rows)
    if fmt == "tensorboard":
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        r_col = cols[-1] if cols[-1] != "eval_size" else cols[-2]
        logdir = d / "tb"
        writer = EventFileWriter(str(logdir))
        n_rows = 0
        for i, r in enumerate(rows):
            v = r.get(r_col, MISSING)
            if v is MISSING:
                continue  # a tag not logged at this step: not a point
            value = v if isinstance(v, float) else float("nan")
            summary = Summary(value=[Summary.Value(tag="eval/reward", simple_value=value)])
            writer.add_event(Event(wall_time=1.0, step=10 * (i + 1), summary=summary))
            n_rows += 1
        writer.close()
        return logdir, n_rows
    if fmt == "parquet":
        df = pd.DataFrame([{k: (None if v is MISSING else v) for k, v in r.items()} for r in rows])
        df = df.reindex(columns=cols)
        path = d / "log.parquet"
        try:
            df.to_parquet(path)
        except Exception:  # mixed text and numbers in one column: store it as text
            df.astype(str).to_parquet(path)
        return path, n_rows
    sep = "\t" if fmt == "tsv" else ","
    lines = [sep.join(cols)] + [sep.join(_cell(r.get(c, MISSING)) for c in cols) for r in rows]
    text = "\n".join(lines) + "\n"
    if cut is not None and rows:
        keep = min(cut, len(lines[-1]) - 1)
        text = "\n".join(lines[:-1]) + "\n" + lines[-1][:keep]
        n_rows -= keep == 0
    path = d / f"log.{fmt}"
    if fmt == "csv.gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path, n_rows


def corrupt(path: Path, how: str, seed: int) -> None:
    """Damage a file the way disks, copies and editors do."""
    if path.is_dir() and not (path / "eval.jsonl").exists():
        files = sorted(path.glob("*tfevents*"))
        if not files:
            return
        target = files[0]
    else:
        target = path / "eval.jsonl" if path.is_dir() else path
    data = target.read_bytes()
    rng = np.random.default_rng(seed)
    if how == "truncate":
        target.write_bytes(data[: int(rng.integers(0, max(len(data), 1)))])
    elif how == "garbage":
        target.write_bytes(bytes(rng.integers(0, 256, 64, dtype=np.uint8)) + data)
    elif how == "utf16":
        target.write_bytes(data.decode("latin-1").encode("utf-16"))
    elif how == "empty":
        target.write_bytes(b"")
    elif how == "run_json" and path.is_dir():
        (path / "run.json").write_text(rng.choice(["[1, 2]", "{", '"name"', "null", "{}"]))


def check_loaded(runs: list[Any], n_rows: int | None) -> None:
    total = 0
    for run in runs:
        assert np.all(np.isfinite(run.compute)) and np.all(np.isfinite(run.reward))
        assert np.all(run.compute >= 0) and np.all(np.diff(run.compute) > 0)
        if run.eval_size is not None:
            assert np.all(np.isfinite(run.eval_size))
        omitted = run.metadata["omitted"]
        total += len(run) + sum(omitted.values()) + run.metadata.get("merged_duplicates", 0)
    if n_rows is not None:
        assert total == n_rows, (total, n_rows, [r.metadata["omitted"] for r in runs])


@fuzz(fast=150, slow=3000)
@given(
    table=tables(),
    fmt=st.sampled_from(FORMATS),
    cut=st.none() | st.integers(0, 40),
    damage=st.sampled_from(["none"] * 6 + ["truncate", "garbage", "utf16", "empty", "run_json"]),
    nan_policy=st.sampled_from(["raise", "omit", "omit"]),
    duplicates=st.sampled_from([None, "raise", "last", "mean"]),
    seed=st.integers(0, 2**32 - 1),
    many=st.booleans(),
)
def test_loaders_fuzz(table, fmt, cut, damage, nan_policy, duplicates, seed, many):
    cols, rows = table
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        path, n_rows = write(d, fmt, cols, rows, cut)
        if damage != "none":
            corrupt(path, damage, seed)
        # after damage the rows in the file are unknown; only the first two promises apply
        expected = (
            n_rows if damage == "none" or (damage == "run_json" and fmt != "rundir") else None
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if many:
                    runs = load_runs([path], nan_policy=nan_policy, duplicates=duplicates)
                else:
                    runs = [load_run(path, nan_policy=nan_policy, duplicates=duplicates)]
            except InputError as exc:
                msg = str(exc)
                event(f"{fmt}: refused ({type(exc).__name__}: {msg[msg.find(': ') + 2 :][:25]})")
                assert len(msg) > 20
                named = {str(path), path.name, str(path.parent), "run.json", "eval.jsonl"}
                assert any(s in msg for s in named), f"the error does not name the file: {msg}"
                if isinstance(exc, LoadError):
                    assert exc.path
                return
        event(f"{fmt}: loaded")
        check_loaded(runs, expected)
