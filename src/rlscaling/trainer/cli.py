"""``rlscaling train``: a typer sub-app (mounted by the main CLI).

Commands: ``train --config FILE [--set key.sub=value ...] [--out-dir DIR] [--quiet]
[--nproc N] [--address RAY_ADDRESS]``, ``train-presets`` (list the recipe presets),
``train-config`` (print the resolved config as YAML). Mount with ``app.add_typer(train_app)``
(no name) so these become top-level commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from rlscaling.trainer.config import PRESETS, ConfigError, TrainConfig, deep_merge, parse_override

train_app = typer.Typer(
    help="Reference RL trainer (needs the 'train' extra).", no_args_is_help=True
)


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override, e.g. loss.eps_max=4")
]
RecipeOpt = Annotated[str | None, typer.Option("--recipe", help=f"preset: {', '.join(PRESETS)}")]


def _yaml_problem(exc: Exception) -> str:
    """One line from a PyYAML error: what is wrong and where (its str() spans lines)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def _resolve(config: Path | None, sets: list[str], recipe: str | None) -> TrainConfig:
    import yaml

    from rlscaling.trainer.config import load_config

    overrides: dict = {}
    for item in sets:
        try:
            parsed = parse_override(item)
        except yaml.YAMLError as exc:
            # safe_load refuses tags such as !!python/object; say which --set and why.
            raise ConfigError(
                f"--set {item!r}: the value is not plain YAML (a number, string, list or "
                f"mapping; tags like !!python/... are refused): {_yaml_problem(exc)}"
            ) from None
        overrides = deep_merge(overrides, parsed)
    if recipe:
        overrides["recipe"] = recipe
    if config is not None:
        return load_config(config, overrides)
    from pydantic import ValidationError

    try:
        return TrainConfig(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid config:\n{exc}") from None


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


@train_app.command("train")
def train_command(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    recipe: RecipeOpt = None,
    out_dir: Annotated[str | None, typer.Option("--out-dir", "-o", help="run directory")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=1,
            help="learner processes on this machine (one per GPU): starts them with "
            "torch.distributed.run (torchrun); see learner.strategy",
        ),
    ] = 1,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Ray cluster for the generator actors (fleet.address), e.g. auto or "
            "ray://head:10001; with fleet.num_generators >= 1",
        ),
    ] = None,
) -> None:
    """Train with RL and write a run directory (resumes if it holds a checkpoint)."""
    extra = list(set_ or [])
    if out_dir:
        extra.append(f"out_dir={out_dir}")
    if address:
        # quoted: the value is read as YAML, and an address must stay a string
        extra.append(f"fleet.address={json.dumps(address)}")
    if quiet:
        extra.append("progress=false")
    try:
        cfg = _resolve(config, extra, recipe)
    except ConfigError as exc:
        _fail(exc)
    if nproc > 1:
        _launch(nproc, config, list(set_ or []), recipe, out_dir, quiet, address)
        return
    from rlscaling.trainer.loop import train

    try:
        result = train(cfg)
    except ValueError as exc:
        _fail(exc)
    if os.environ.get("RANK", "0") == "0":  # under torchrun every rank returns here
        typer.echo(
            f"{result.out_dir}: {len(result.evals)} evaluations, "
            f"final reward {result.final_reward:.3f}"
        )


def _launch(
    nproc: int,
    config: Path | None,
    sets: list[str],
    recipe: str | None,
    out_dir: str | None,
    quiet: bool,
    address: str | None = None,
) -> None:
    """Run this command again in ``nproc`` processes on this machine with
    ``torch.distributed.run`` (what ``torchrun --standalone --nproc_per_node N`` does); for
    several machines, run ``torchrun ... -m rlscaling.cli train ...`` on each instead."""
    if "WORLD_SIZE" in os.environ:
        _fail(
            ValueError(
                f"--nproc {nproc} inside a run torchrun started (WORLD_SIZE="
                f"{os.environ['WORLD_SIZE']}): drop --nproc, torchrun already sets the processes"
            )
        )
    args = ["train"]
    if config is not None:
        args += ["--config", str(config)]
    for item in sets:
        args += ["--set", item]
    if recipe:
        args += ["--recipe", recipe]
    if out_dir:
        args += ["--out-dir", out_dir]
    if quiet:
        args.append("--quiet")
    if address:
        args += ["--address", address]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command = [*launcher, f"--nproc_per_node={nproc}", "-m", "rlscaling.cli", *args]
    code = subprocess.run(command, check=False).returncode
    if code:
        raise typer.Exit(code=code)


@train_app.command("train-presets")
def presets_command() -> None:
    """List the recipe presets and what each sets."""
    for name, body in PRESETS.items():
        typer.echo(f"{name}: {json.dumps(body)}")


@train_app.command("train-config")
def show_config_command(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    recipe: RecipeOpt = None,
) -> None:
    """Print the fully resolved config as YAML (defaults, preset and overrides applied)."""
    import yaml

    try:
        cfg = _resolve(config, list(set_ or []), recipe)
    except ConfigError as exc:
        _fail(exc)
    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


@train_app.command("sweep")
def sweep_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="sweep YAML file")],
    recipes: Annotated[
        str | None, typer.Option("--recipes", help="comma-separated subset of the recipes")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-j", help="parallel runs (default: cores)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the runs and exit")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live table")] = False,
) -> None:
    """Train a grid of recipes x seeds (finished runs skipped, killed runs resumed)."""
    import yaml

    from rlscaling.trainer.sweep import load_sweep, sweep

    try:
        sw = load_sweep(config)
        chosen = [r.strip() for r in recipes.split(",")] if recipes else None
        runs = sw.runs(chosen)
    except ConfigError as exc:
        _fail(exc)
    except yaml.YAMLError as exc:
        _fail(ConfigError(f"--config {str(config)!r}: not valid YAML: {_yaml_problem(exc)}"))
    if dry_run:
        for r in runs:
            state = "done" if r.done else f"step {r.progress()[0]}/{r.config.steps}"
            typer.echo(f"{r.recipe:24s} seed {r.seed:<4d} {r.out_dir}  ({state})")
        return
    try:
        rows = sweep(sw, recipes=chosen, workers=workers, progress=not quiet)
    except RuntimeError as exc:
        _fail(exc)
    n_new = sum(r["status"] == "done" for r in rows)
    typer.echo(
        f"{len(rows)} runs: {n_new} trained, {len(rows) - n_new} already finished; "
        f"manifest {Path(sw.out_dir) / 'sweep.json'}"
    )
