"""The `rlscaling` command line (see :mod:`rlscaling.cli.app`); one module per command."""

from rlscaling.cli.app import app, main

__all__ = ["app", "main"]
