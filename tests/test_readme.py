"""The README runs as written on a fresh clone.

Every ```python block runs on its own (a reader pastes one block, not the page) in an empty
directory. Every `rlscaling ...` command in a ```bash block names a command and options that
exist and paths that a clone has; the cheap ones (fit, forecast, compare, backtest) are run.
"""

import glob
import re
import shlex
import warnings
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from rlscaling.cli import app
from rlscaling.cli.train import TRAINER_COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RUN_FOR_REAL = {"fit", "forecast", "compare", "backtest"}


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def _cli_lines() -> list[list[str]]:
    """Argument lists of every `rlscaling` call in the bash blocks (`&&` chains split)."""
    calls = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and Path(words[0]).name == "rlscaling":
                    calls.append(words[1:])
    return calls


PYTHON_BLOCKS = _blocks("python")
CLI_LINES = _cli_lines()


def test_readme_has_what_these_tests_check():
    assert len(PYTHON_BLOCKS) >= 2 and len(CLI_LINES) >= 7
    assert {args[0] for args in CLI_LINES} >= RUN_FOR_REAL | {"demo", "report"}


@pytest.mark.parametrize("k", range(len(PYTHON_BLOCKS)))
def test_python_block_runs_on_its_own(k, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = compile(PYTHON_BLOCKS[k], f"README.md, python block {k + 1}", "exec")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(code, {"__name__": "__readme__"})  # the README's own code


def _command(name: str) -> click.Command:
    trainer = list(TRAINER_COMMANDS)
    if name in trainer:
        try:
            from rlscaling.trainer.cli import train_app
        except ImportError as exc:
            pytest.skip(f"the trainer needs the train extra: {exc}")
        group = typer.main.get_command(train_app)
    else:
        group = typer.main.get_command(app)
    assert name in group.commands, f"README names a command that does not exist: {name}"
    return group.commands[name]


def _path_like(word: str) -> bool:
    return "/" in word or word.endswith((".csv", ".yaml", ".jsonl", ".gz", ".parquet"))


@pytest.mark.parametrize("args", CLI_LINES, ids=[" ".join(a)[:60] for a in CLI_LINES])
def test_cli_line_names_real_options_and_paths(args, tmp_path, monkeypatch):
    cmd = _command(args[0])
    options = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    takes_value = {o for p in cmd.params if not getattr(p, "is_flag", False) for o in p.opts}
    outputs = {"--out", "-o", "--figure", "--json", "--csv"}
    words, k = args[1:], 0
    inputs: list[str] = []
    while k < len(words):
        w = words[k]
        if w.startswith("-"):
            assert w in options, f"{args[0]} has no option {w}"
            if w in takes_value:
                if w not in outputs and _path_like(words[k + 1]):
                    inputs.append(words[k + 1])
                k += 1
        elif _path_like(w):
            inputs.append(w)
        k += 1
    for path in inputs:
        assert glob.glob(str(ROOT / path)), f"{path} does not exist in a clone"
    if args[0] in RUN_FOR_REAL:
        monkeypatch.chdir(tmp_path)  # outputs (--figure fits.png) land here
        absolute = [str(ROOT / w) if w in inputs else w for w in args]
        res = CliRunner().invoke(app, absolute)
        assert res.exit_code == 0, res.output
