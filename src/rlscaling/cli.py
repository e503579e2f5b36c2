"""The ``rlscaling`` command line.

Errors in files or options print one clear line (``error: ...``) and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rlscaling.inputs import InputError

app = typer.Typer(
    help="Fit and forecast reward-vs-compute scaling curves of RL runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


@app.callback()
def _root() -> None:
    """Fit and forecast reward-vs-compute scaling curves of RL runs."""


F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(func: F) -> F:
    """Turn user-facing errors into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, FileNotFoundError, ValueError, KeyError) as exc:
            msg = exc.args[0] if exc.args else exc
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def fits_table(fits: list[Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("run", "A", "B", "C_mid", "R0", "n", "R^2", "identified"):
        table.add_column(col, justify="right" if col not in ("run", "identified") else "left")
    for f in fits:
        se = f.stderr
        table.add_row(
            f.data.name or "run",
            f"{f.A:.3f} ± {se['A']:.3f}",
            f"{f.B:.2f} ± {se['B']:.2f}",
            f"{f.C_mid:.4g}",
            f"{f.R0:.3f}",
            str(f.n_used),
            f"{f.r2:.3f}",
            "yes" if f.identified else "NO: " + "; ".join(f.identification_issues),
        )
    return table


def save_figure(ax: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(path, dpi=120)


@app.command()
@clean_errors
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the figure and summary.")] = Path(
        "out/demo"
    ),
) -> None:
    """Fit the bundled example curves; write a figure, a text summary and a JSON of the fits."""
    from rlscaling.datasets import example_curves
    from rlscaling.fit import fit_sigmoid
    from rlscaling.plot import new_axes

    runs = example_curves()
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [fit_sigmoid(r) for r in runs]
    console.print(fits_table(fits, "Bundled example curves (synthetic)"))
    ax = new_axes()
    ax.figure.set_size_inches(8, 5)
    for f in fits:
        f.plot(ax=ax, extend=3.0, level=None)
    ax.set_xlabel("compute (GPU-hours)")
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    save_figure(ax, out / "fits.png")
    (out / "summary.txt").write_text("\n\n".join(f.summary() for f in fits) + "\n")
    (out / "fits.json").write_text(json.dumps([f.to_dict() for f in fits], indent=2) + "\n")
    console.print(f"wrote {out / 'fits.png'}, {out / 'summary.txt'}, {out / 'fits.json'}")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
