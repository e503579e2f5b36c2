"""The reference trainer's run directories (``run.json``, ``eval.jsonl``; the contract is
:mod:`rlscaling.io.rundir`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlscaling.io import rundir
from rlscaling.io.errors import InputError, LoadError
from rlscaling.io.frames import (
    LoadOptions,
    frame_run,
    warn,
)
from rlscaling.io.readers.base import _records_frame
from rlscaling.io.runs import Run


def _is_rundir(p: Path) -> bool:
    return (p / "run.json").is_file() or (p / "eval.jsonl").is_file()


def _read_rundir(d: Path, opts: LoadOptions, name: str | None = None) -> Run:
    meta_path, eval_path = d / rundir.RUN_FILE, d / rundir.EVAL_FILE
    info: dict[str, Any] = {}
    if meta_path.is_file():
        try:
            info = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise LoadError(meta_path, f"is not valid JSON: {exc}") from None
        if not isinstance(info, dict):
            raise LoadError(
                meta_path,
                f"must hold a JSON object (name, config, compute_unit, ...), got a JSON "
                f"{type(info).__name__}; fix or remove the file (eval.jsonl holds the points)",
            )
    if not eval_path.is_file():
        raise InputError(f"{d} has no eval.jsonl: the run has not been evaluated yet")
    try:  # the trainer's own reader: the writer and this loader share one contract
        note = "; it is counted in metadata['omitted']['torn_last_line']"
        records, torn = rundir.read_jsonl(eval_path, on_torn=lambda msg: warn(msg + note))
    except rundir.LogLineError as exc:
        raise InputError(str(exc)) from None
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    meta: dict[str, Any] = {}
    for key in ("recipe", "seed", "model", "task"):
        if key in info or key in config:
            meta[key] = info.get(key, config.get(key))
    if "recipe" in meta:
        meta["preset"] = meta["recipe"]
    # A sweep's labels (its recipe name, e.g. an ablation of a preset) win over the preset.
    tags = info.get("tags") or config.get("tags") or {}
    if isinstance(tags, dict):
        meta.update(tags)
    unit = info.get("compute_unit", "FLOPs")
    df = _records_frame(records, eval_path)
    # A multi-task run's per-task curve (reward="reward_<task>") is evaluated on that task's
    # prompts: its eval size is n_prompts_<task> x n_samples, not the whole split's.
    tasks = info.get("tasks") if isinstance(info.get("tasks"), list) else []
    if tasks:
        meta["tasks"] = list(tasks)
    if isinstance(opts.reward, str) and opts.reward.startswith(rundir.TASK_REWARD_PREFIX):
        label = opts.reward[len(rundir.TASK_REWARD_PREFIX) :]
        if opts.reward not in df.columns:
            known = [rundir.task_reward_key(t) for t in tasks] or "none (a single-task run)"
            raise InputError(
                f"reward={opts.reward!r} is not a curve of {d}; its per-task curves: {known}"
            )
        prompts_col = rundir.task_prompts_key(label)
        if prompts_col in df.columns and opts.eval_size is None:
            df = df.assign(n_prompts=df[prompts_col])
        meta["task_curve"] = label
    name = name or _rundir_name(d, info)
    return frame_run(
        df, opts, name=name, source=d, fmt="rundir", meta=meta, torn=torn, default_unit=unit
    )


def _rundir_name(d: Path, info: dict[str, Any] | None = None) -> str:
    if info is None:
        try:
            info = json.loads((d / "run.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            info = {}
    if not isinstance(info, dict):
        info = {}  # reading the run says what is wrong with run.json; a name is only a label
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    return str(info.get("name") or info.get("run_name") or config.get("run_name") or d.name)
