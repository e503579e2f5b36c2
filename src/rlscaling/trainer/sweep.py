"""``sweep(config)``: a grid of recipes x seeds, each a full training run in its own directory.

A sweep file names a base config (shared by every run), the recipes (each a preset plus
overrides: an ablation is a recipe that flips one switch of a preset) and the seeds. Every
(recipe, seed) becomes ``<out_dir>/<recipe>/seed<k>``. Finished runs are skipped, a killed run
resumes from its last checkpoint (``train`` does that), and runs spread over worker processes,
one per core by default, each training with one torch thread: on a CPU, one run per core is
faster in total than two threads per run.

Examples
--------
>>> from rlscaling.trainer.sweep import SweepConfig
>>> sw = SweepConfig(
...     out_dir="runs/sw",
...     base={"steps": 10, "task": {"name": "addition"}},
...     recipes={"scalerl": {}, "grpo": {"recipe": "grpo"}},
...     seeds=[0, 1],
... )
>>> [(r.recipe, r.seed, r.out_dir) for r in sw.runs()][:2]
[('scalerl', 0, 'runs/sw/scalerl/seed0'), ('grpo', 0, 'runs/sw/grpo/seed0')]
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rlscaling.trainer.config import ConfigError, TrainConfig, deep_merge
from rlscaling.trainer.runlog import read_jsonl


class SweepConfig(BaseModel):
    """A grid of recipes x seeds over one base config.

    Parameters
    ----------
    name : label written into every run's tags.
    out_dir : root directory; each run goes to ``<out_dir>/<recipe>/seed<k>``.
    base : TrainConfig fields shared by all runs (a mapping, or the path of a YAML config).
    recipes : recipe name -> overrides applied on top of ``base`` (``{"recipe": "grpo"}``
        picks a preset; ``{"advantage": {"zero_variance_filter": False}}`` is an ablation).
    seeds : run seeds; each seed changes the run's sampling, not the task split or base model.
    workers : parallel runs (default: one per CPU core).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "sweep"
    out_dir: str = "runs/sweep"
    base: dict[str, Any] | str = Field(default_factory=dict)
    recipes: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"scalerl": {}})
    seeds: list[int] = Field(default_factory=lambda: [0])
    workers: int | None = Field(None, ge=1)

    @field_validator("recipes")
    @classmethod
    def _names(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not v:
            raise ValueError("recipes must name at least one recipe")
        for name in v:
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"recipe name {name!r} must be a plain directory name")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("seeds must list at least one seed")
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        return v

    def base_dict(self) -> dict[str, Any]:
        if isinstance(self.base, str):
            import yaml

            path = Path(self.base)
            if not path.is_file():
                raise ConfigError(f"sweep base config {self.base!r} does not exist")
            return yaml.safe_load(path.read_text()) or {}
        return dict(self.base)

    def runs(self, recipes: list[str] | None = None) -> list[SweepRun]:
        """The runs of the grid (optionally only some recipes), each with a validated config."""
        if recipes:
            unknown = sorted(set(recipes) - set(self.recipes))
            if unknown:
                raise ConfigError(
                    f"recipes {unknown} are not in the sweep; it has {sorted(self.recipes)}"
                )
        base = self.base_dict()
        out = []
        # Seed-major order: a sweep stopped early still has every recipe at seed 0.
        for seed in self.seeds:
            for name, over in self.recipes.items():
                if recipes and name not in recipes:
                    continue
                d = f"{self.out_dir}/{name}/seed{seed}"
                data = deep_merge(deep_merge(base, over), {"seed": seed, "out_dir": d})
                data["run_name"] = f"{name}/seed{seed}"
                data["tags"] = {"sweep": self.name, "recipe": name, "seed": seed}
                data.setdefault("progress", False)
                data.setdefault("threads", 1)
                try:
                    cfg = TrainConfig(**data)
                except ValidationError as exc:
                    raise ConfigError(f"sweep recipe {name!r}, seed {seed}:\n{exc}") from None
                out.append(SweepRun(name, seed, d, cfg))
        return out


@dataclass(frozen=True)
class SweepRun:
    """One cell of the grid."""

    recipe: str
    seed: int
    out_dir: str
    config: TrainConfig

    def progress(self) -> tuple[int, float | None]:
        """(last evaluated step, last eval reward) read from the run directory."""
        evals = read_jsonl(Path(self.out_dir) / "eval.jsonl")
        if not evals:
            return 0, None
        return int(evals[-1]["step"]), float(evals[-1]["reward"])

    @property
    def done(self) -> bool:
        return self.progress()[0] >= self.config.steps


def load_sweep(path: str | Path) -> SweepConfig:
    """Read a sweep YAML file; a relative ``base`` path is taken relative to the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {str(path)!r} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    if isinstance(data.get("base"), str) and not Path(data["base"]).is_absolute():
        data["base"] = str(path.parent / data["base"])
    try:
        return SweepConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid sweep:\n{exc}") from None


def _train_one(config: dict[str, Any]) -> dict[str, Any]:
    """Worker: train one run (a fresh process; one torch thread) and time it."""
    from rlscaling.trainer.loop import train

    t0 = time.perf_counter()
    result = train(TrainConfig(**config))
    return {"out_dir": str(result.out_dir), "seconds": time.perf_counter() - t0}


def sweep(
    config: SweepConfig | dict | str | Path,
    recipes: list[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
    on_update: Callable[[list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every (recipe, seed) of a sweep that has not finished; return one row per run.

    Parameters
    ----------
    config : a :class:`SweepConfig`, a mapping, or the path of a sweep YAML file.
    recipes : run only these recipes of the sweep.
    workers : parallel runs (default: the sweep's ``workers``, else one per CPU core).
    progress : show a live table (runs done, step, current reward, time left).
    on_update : called with the status rows every few seconds (for custom views).

    Returns
    -------
    list of dict: recipe, seed, out_dir, status (``done``/``skipped``/``failed``), step,
    reward, seconds (wall time of this invocation's training), error.

    ``<out_dir>/sweep.json`` records the same rows plus the sweep config and the machine.
    """
    sw = _as_sweep(config)
    runs = sw.runs(recipes)
    n_workers = workers or sw.workers or max(1, os.cpu_count() or 1)
    rows = {
        (r.recipe, r.seed): {
            "recipe": r.recipe,
            "seed": r.seed,
            "out_dir": r.out_dir,
            "status": "skipped" if r.done else "pending",
            "seconds": None,
            "error": None,
        }
        for r in runs
    }
    todo = [r for r in runs if not r.done]
    view = _StatusView(runs, rows, progress)
    started = time.perf_counter()
    if todo:
        ctx = get_context("spawn")  # fork would copy torch's thread pools into the children
        with ProcessPoolExecutor(max_workers=min(n_workers, len(todo)), mp_context=ctx) as pool:
            futures: dict[Future, SweepRun] = {}
            for r in todo:
                futures[pool.submit(_train_one, r.config.model_dump(mode="json"))] = r
                rows[(r.recipe, r.seed)]["status"] = "queued"
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=5.0, return_when=FIRST_COMPLETED)
                for fut in finished:
                    r = futures[fut]
                    row = rows[(r.recipe, r.seed)]
                    try:
                        row["seconds"] = fut.result()["seconds"]
                        row["status"] = "done"
                    except Exception as exc:  # a failed run must not stop the others
                        row["status"], row["error"] = "failed", f"{type(exc).__name__}: {exc}"
                view.refresh(time.perf_counter() - started)
                if on_update is not None:
                    on_update(list(rows.values()))
    view.close(time.perf_counter() - started)
    for r in runs:
        step, reward = r.progress()
        rows[(r.recipe, r.seed)].update(step=step, reward=reward)
    out = list(rows.values())
    _write_manifest(sw, out, time.perf_counter() - started)
    failed = [
        f"{x['recipe']}/seed{x['seed']}: {x['error']}" for x in out if x["status"] == "failed"
    ]
    if failed:
        raise RuntimeError(f"{len(failed)} sweep run(s) failed:\n" + "\n".join(failed))
    return out


def _as_sweep(config: SweepConfig | dict | str | Path) -> SweepConfig:
    if isinstance(config, SweepConfig):
        return config
    if isinstance(config, dict):
        return SweepConfig(**config)
    return load_sweep(config)


def _write_manifest(sw: SweepConfig, rows: list[dict[str, Any]], seconds: float) -> None:
    import platform

    from rlscaling.trainer.setup import versions

    path = Path(sw.out_dir) / "sweep.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(path.read_text()) if path.is_file() else {}
    # Wall time per run accumulates over invocations (a resumed run adds its remainder).
    before = {(r["recipe"], r["seed"]): r.get("seconds") for r in old.get("runs", [])}
    for row in rows:
        prev = before.get((row["recipe"], row["seed"]))
        if row["status"] == "skipped":
            row["seconds"] = prev
        elif prev and row["seconds"] is not None:
            row["seconds"] += prev
    doc = {
        "sweep": sw.model_dump(mode="json"),
        "versions": versions(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "wall_seconds_last_invocation": seconds,
        "runs": rows,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")


class _StatusView:
    """A live table of the sweep (rich), or nothing when ``progress`` is off."""

    def __init__(self, runs: list[SweepRun], rows: dict, enabled: bool) -> None:
        self.runs, self.rows, self.enabled = runs, rows, enabled
        self.start_steps = sum(min(r.progress()[0], r.config.steps) for r in runs)
        self.live = None
        if enabled:
            from rich.live import Live

            self.live = Live(self._table(0.0), refresh_per_second=1, transient=False)
            self.live.start()

    def _table(self, elapsed: float) -> Any:
        from rich.table import Table

        total = sum(r.config.steps for r in self.runs)
        done_steps = 0
        t = Table(title="sweep")
        for col in ("recipe", "seed", "status", "step", "reward"):
            t.add_column(col)
        for r in self.runs:
            step, reward = r.progress()
            done_steps += min(step, r.config.steps)
            row = self.rows[(r.recipe, r.seed)]
            status = row["status"]
            if status in ("queued",) and step > 0:
                status = "running"
            t.add_row(
                r.recipe,
                str(r.seed),
                status,
                f"{step}/{r.config.steps}",
                "-" if reward is None else f"{reward:.3f}",
            )
        n_done = sum(row["status"] in ("done", "skipped") for row in self.rows.values())
        left = ""
        if elapsed > 0 and 0 < done_steps < total:
            rate = (done_steps - self.start_steps) / elapsed
            if rate > 0:
                left = f", about {(total - done_steps) / rate / 60:.0f} min left"
        t.caption = f"{n_done}/{len(self.runs)} runs done, {elapsed / 60:.1f} min{left}"
        return t

    def refresh(self, elapsed: float) -> None:
        if self.live is not None:
            self.live.update(self._table(elapsed))

    def close(self, elapsed: float) -> None:
        if self.live is not None:
            self.live.update(self._table(elapsed))
            self.live.stop()
