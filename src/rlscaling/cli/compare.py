"""``rlscaling compare``: compare recipes by A, B, C_mid (seeds pooled)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from rlscaling.cli.common import (
    CsvOpt,
    FigureOpt,
    FilesArg,
    JsonOpt,
    LevelOpt,
    LoadOptions,
    ProgressOpt,
    SeedOpt,
    _ci,
    _write_figure,
    check_count,
    clean_errors,
    console,
    reported_warnings,
    with_load_options,
    write_csv,
    write_json,
)
from rlscaling.io.errors import InputError


@clean_errors
@with_load_options()
def compare_command(
    files: FilesArg,
    budget: Annotated[
        float | None, typer.Option("--budget", help="Compare rewards here (default 4x observed).")
    ] = None,
    method: Annotated[str, typer.Option("--method", help="bootstrap or mcmc.")] = "bootstrap",
    n: Annotated[int, typer.Option("--n", help="Draws per recipe.")] = 1000,
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="Metadata key naming each run's recipe.")
    ] = None,
    level: LevelOpt = 0.9,
    seed: SeedOpt = 0,
    progress: ProgressOpt = None,
    json_path: JsonOpt = None,
    csv_path: CsvOpt = None,
    figure: FigureOpt = None,
    *,
    load: LoadOptions,
) -> None:
    """Compare recipes: A, B, C_mid with intervals, P(i beats j) and where curves cross."""
    from rlscaling.decide.compare import compare

    check_count(n, "--n", 10)
    with reported_warnings():
        runs = load(files)
        if group_by is not None:
            _check_group_by(runs, group_by)
        cmp = compare(
            runs,
            budget=budget,
            level=level,
            n=n,
            method=method,
            seed=seed,
            group_by=group_by,  # type: ignore[arg-type]
            progress=progress,
        )
    print_comparison(cmp)
    write_json(json_path, cmp.to_dict())
    write_csv(csv_path, cmp.table)
    if csv_path is not None:
        pairs = cmp.pairwise.merge(
            cmp.crossovers, on=["recipe_i", "recipe_j"], suffixes=("", "_crossing")
        )
        write_csv(csv_path.with_name(csv_path.stem + "_pairs.csv"), pairs)
    _write_figure(figure, cmp.plot)


def _check_group_by(runs: list[Any], key: str) -> None:
    """Refuse ``--group-by KEY`` when a run does not carry it, saying what each run does carry
    (the library's own message advises a dict of runs, which a command line cannot pass)."""
    lacking = [r.name for r in runs if r.metadata.get(key) is None]
    if lacking:
        # the keys with one value per run (a recipe, a seed, the source file): those a run
        # could be grouped by
        keys = sorted(
            {k for r in runs for k, v in r.metadata.items() if isinstance(v, str | int | float)}
        )
        more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
        shown = ", ".join(lacking[:3]) + more
        who = f"run {shown} has" if len(lacking) == 1 else f"runs {shown} have"
        raise InputError(
            f"--group-by {key}: {who} no {key!r} (a column with one value on every "
            f"row of a run, or a run.json entry); the runs carry {keys or 'no such keys'}. "
            "Add the column to the files, or leave --group-by out to group by 'recipe' "
            "where the runs have one"
        )


def print_comparison(cmp: Any) -> None:
    """Tables of a :class:`~rlscaling.Comparison`, then each pair's verdict and crossing."""
    console.print(comparison_tables(cmp))
    for (_, p), (_, x) in zip(cmp.pairwise.iterrows(), cmp.crossovers.iterrows(), strict=True):
        console.print(f"{p['recipe_i']} vs {p['recipe_j']}: {p['verdict']}", highlight=False)
        console.print(f"  {x['statement']}", highlight=False)
    for note in cmp.notes:
        console.print(f"note: {note}", highlight=False)


def comparison_tables(cmp: Any) -> Table:
    """Per-recipe and pairwise tables of a :class:`~rlscaling.Comparison`, stacked in one grid."""
    lv = f"{cmp.level * 100:g}%"
    recipes = Table(title=f"Recipes ({cmp.method}, {lv} intervals; budget {cmp.budget:.4g})")
    for col in ("recipe", "runs", "A", "B", "C_mid", "reward at budget", "identified"):
        recipes.add_column(col, justify="left" if col in ("recipe", "identified") else "right")
    # The numbers come from the result's to_frame() (one row per recipe and quantity).
    frame = cmp.to_frame().set_index(["recipe", "param"])
    fmts = {"A": ".3f", "B": ".2f", "C_mid": ".3g", "reward_at_budget": ".3f"}
    for _, r in cmp.table.iterrows():
        cells = [
            _ci(*frame.loc[(r["recipe"], p), ["estimate", "lower", "upper"]], fmt)
            for p, fmt in fmts.items()
        ]
        recipes.add_row(
            str(r["recipe"]), str(r["n_runs"]), *cells, "yes" if r["identified"] else "NO"
        )
    pairs = Table(title="Pairs")
    at = f"P(reward_i>reward_j) at {cmp.budget:.3g}"
    for col in ("i vs j", "P(A_i>A_j)", "P(B_i>B_j)", at):
        pairs.add_column(col, justify="left" if col == "i vs j" else "right")
    for _, p in cmp.pairwise.iterrows():
        pairs.add_row(
            f"{p['recipe_i']} vs {p['recipe_j']}",
            f"{p['P_A']:.2f}",
            f"{p['P_B']:.2f}",
            f"{p['P_reward']:.2f}",
        )
    grid = Table.grid()
    grid.add_row(recipes)
    grid.add_row(pairs)
    return grid
