"""The reference trainer's commands (``train``, ``train-presets``, ``train-config``, ``sweep``).

They are listed in ``rlscaling --help`` from :data:`TRAINER_COMMANDS` (names and help lines),
so listing them imports neither the trainer nor torch. Running one imports
:mod:`rlscaling.trainer.cli` and hands it the arguments; a test checks that the table and the
trainer's own commands agree.
"""

from __future__ import annotations

import typer

#: command name -> help line, as :mod:`rlscaling.trainer.cli` defines them
TRAINER_COMMANDS = {
    "train": "Train with RL and write a run directory (resumes if it holds a checkpoint).",
    "train-presets": "List the recipe presets and what each sets.",
    "train-config": "Print the fully resolved config as YAML (defaults, preset and overrides "
    "applied).",
    "sweep": "Train a grid of recipes x seeds (finished runs skipped, killed runs resumed).",
}


def register_trainer_commands(app: typer.Typer) -> None:
    """Add every trainer command to ``app`` as a thin command that loads the trainer when run."""
    for name, help_line in TRAINER_COMMANDS.items():
        _register(app, name, help_line)


def _register(app: typer.Typer, name: str, help_line: str) -> None:
    @app.command(
        name,
        help=f"[trainer] {help_line}",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def _run(ctx: typer.Context) -> None:
        run_trainer_command(name, list(ctx.args))


def run_trainer_command(name: str, args: list[str]) -> None:
    """Run the trainer's command ``name`` with ``args`` (imports the trainer, and torch, now)."""
    try:
        from rlscaling.trainer.cli import train_app
    except ImportError as exc:
        typer.echo(
            f"error: the trainer needs the 'train' extra (pip install 'rlscaling[train]'): {exc}",
            err=True,
        )
        raise typer.Exit(2) from None
    cmd = typer.main.get_command(train_app)
    # A one-command typer app becomes a plain command, several become a group.
    argv = [name, *args] if hasattr(cmd, "commands") else args
    cmd.main(args=argv, prog_name="rlscaling", standalone_mode=True)
