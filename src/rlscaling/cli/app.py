"""The ``rlscaling`` command line: the app and its commands, one module per command.

Commands: ``fit``, ``forecast``, ``compare``, ``backtest``, ``report`` (each reads run files
through :func:`rlscaling.load_runs`, prints tables and can write ``--json``, ``--csv`` and a
``--figure``), ``prior`` (learns the forecaster's prior from finished runs, for
``forecast --prior``), ``demo`` (the bundled runs end to end,
:func:`rlscaling.decide.demo.run_demo`) and the reference trainer's commands (``train``,
``sweep``...; listed without importing the trainer, which loads torch only when one of them
runs). The command modules import the library inside their command functions, so
``rlscaling --help`` loads neither pandas nor scipy.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rlscaling.cli.backtest import backtest_command
from rlscaling.cli.compare import compare_command
from rlscaling.cli.demo import demo
from rlscaling.cli.fit import fit
from rlscaling.cli.forecast import forecast_command
from rlscaling.cli.prior import prior_command
from rlscaling.cli.report import report_command
from rlscaling.cli.train import register_trainer_commands
from rlscaling.version import __version__

app = typer.Typer(
    help="Fit and forecast reward-vs-compute scaling curves of RL runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rlscaling {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Fit and forecast reward-vs-compute scaling curves of RL runs."""


app.command("fit")(fit)
app.command("forecast")(forecast_command)
app.command("compare")(compare_command)
app.command("backtest")(backtest_command)
app.command("prior")(prior_command)
app.command("report")(report_command)
app.command("demo")(demo)
register_trainer_commands(app)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover - python -m rlscaling.cli.app
    main()
