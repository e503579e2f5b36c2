import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rlscaling import sigmoid
from rlscaling.cli import app
from rlscaling.cli.train import TRAINER_COMMANDS
from rlscaling.io.datasets import example_curves

runner = CliRunner()


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    paths = []
    for r in example_curves()[:3]:
        p = d / f"{r.name}.csv"
        r.to_frame().rename(columns={"compute": "gpu_hours", "reward": "val_acc"}).to_csv(
            p, index=False
        )
        paths.append(str(p))
    return paths


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_fit_writes_json_csv_png(csvs, tmp_path):
    res = invoke(
        "fit", *csvs, "--compute", "gpu_hours", "--reward", "val_acc", "--bootstrap", "50",
        "--json", tmp_path / "f.json", "--csv", tmp_path / "f.csv", "--figure", tmp_path / "f.png",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "scalerl_like" in res.stdout and "block-bootstrap" in res.stdout
    fits = json.loads((tmp_path / "f.json").read_text())
    assert len(fits) == 3 and "bootstrap" in fits[0]
    df = pd.read_csv(tmp_path / "f.csv")
    assert {"run", "A", "A_lower", "A_upper", "identified"} <= set(df.columns)
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_forecast_with_target(csvs, tmp_path):
    res = invoke(
        "forecast", csvs[0], "--budget", 30000, "--target-reward", 0.6, "--n-samples", 300,
        "--json", tmp_path / "fc.json", "--csv", tmp_path / "fc.csv",
        "--figure", tmp_path / "fc.png",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Forecast for scalerl_like" in res.stdout and "compute to reach" in res.stdout
    doc = json.loads((tmp_path / "fc.json").read_text())
    assert doc["forecast"]["forecast"][0]["budget"] == 30000
    assert doc["compute_to_reach"]["target"] == 0.6
    table = pd.read_csv(tmp_path / "fc.csv")
    assert list(table["budget"]) == [30000]
    # the probability of the target is in the JSON as in the CSV
    assert doc["prob_at_least"]["by_budget"] == pytest.approx(list(table["prob_at_least_0.6"]))
    assert (tmp_path / "fc.png").stat().st_size > 1000


def test_a_log_with_the_reward_every_few_steps_is_read_with_nan_policy_and_says_so(tmp_path):
    steps = np.arange(0, 410, 10)
    evals = steps % 50 == 0
    acc = np.where(evals, sigmoid(np.maximum(steps, 1.0), 0.7, 1.5, 300, 0.1), np.nan)
    p = tmp_path / "history.csv"
    pd.DataFrame({"_step": steps, "eval/accuracy": acc}).to_csv(p, index=False)
    refused = invoke("forecast", p, "--reward", "eval/accuracy")
    assert refused.exit_code == 2 and "Pass --nan-policy omit" in refused.stderr
    for cmd in ("fit", "forecast"):
        res = invoke(cmd, p, "--reward", "eval/accuracy", "--nan-policy", "omit")
        assert res.exit_code == 0, res.output
        # the rows without an evaluation are counted and told, not only dropped
        n = int((~evals).sum())
        assert f"note: history: rows left out in reading: {n} with a missing" in res.stderr


def test_prior_learned_from_finished_runs_is_what_forecast_prior_reads(tmp_path):
    from rlscaling.forecasting.prior import ForecastPrior

    data = Path(__file__).resolve().parents[1] / "src" / "rlscaling" / "data" / "calibration_runs"
    runs = str(data / "*" / "seed*")
    res = invoke("prior", runs, "--out", tmp_path / "p.json", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "Prior learned from 15 runs" in res.stdout and "multipliers by horizon" in res.stdout
    learned = ForecastPrior.from_dict(json.loads((tmp_path / "p.json").read_text()))
    assert len(learned.horizon_anchors) == 3 and learned.scores["cases"] == 45
    # 3 backtest cases of 2-4 evaluations: too few to learn the few-point settings, and said
    assert "runs of 2-4 evaluations: 3 backtest cases, fewer than the 10 needed" in res.stdout
    assert learned.few_point_weight == ForecastPrior().few_point_weight
    one = invoke("prior", runs, "--out", tmp_path / "q.json", "--one-scale", "--no-progress")
    assert "one interval scale for every horizon" in one.stdout
    assert "lag shift" in one.stdout
    assert json.loads((tmp_path / "q.json").read_text())["horizon_scales"] == []

    run = data / "scalerl" / "seed0"
    out = {}
    for prior in (tmp_path / "p.json", "pass_rate-flat", None):
        extra = ["--prior", prior] if prior is not None else []
        res = invoke("forecast", run, "--budget", 2e12, "--n-samples", 300, *extra)
        assert res.exit_code == 0, res.output
        out[prior] = res.stdout
    assert (
        "prior: 15 runs at fractions (0.25, 0.5, 0.75), intervals by horizon"
        in out[tmp_path / "p.json"]
    )
    assert "prior: bundled (pass_rate-flat settings)" in out["pass_rate-flat"]
    assert "prior: bundled" in out[None]
    # a prior that is not there, or not JSON, is an error naming --prior, not a traceback
    (tmp_path / "bad.json").write_text("not json")
    for bad in (tmp_path / "missing.json", tmp_path / "bad.json"):
        res = invoke("forecast", run, "--prior", bad)
        assert res.exit_code == 2 and "--prior" in res.output, res.output


def test_forecast_of_a_percentage_takes_its_range_and_hints_it(tmp_path):
    run = example_curves()[0].truncate(0.5)
    p = tmp_path / "pct.csv"
    frame = run.to_frame()
    frame["reward"] = 100 * frame["reward"]
    frame.to_csv(p, index=False)
    plain = invoke("forecast", p, "--n-samples", 200, "--json", tmp_path / "auto.json")
    assert plain.exit_code == 0, plain.output
    # read as a percentage by default; the note is written as this command's options
    assert "read as a percentage" in plain.stderr and "--reward-range none" in plain.stderr
    auto = json.loads((tmp_path / "auto.json").read_text())
    score = invoke(
        "forecast", p, "--n-samples", 200, "--reward-range", "none",
        "--json", tmp_path / "score.json",
    )  # fmt: skip
    assert score.exit_code == 0, score.output
    assert "--reward-range" not in score.stderr
    assert json.loads((tmp_path / "score.json").read_text())["forecast"]["kind"].startswith("score")
    ranged = invoke(
        "forecast", p, "--n-samples", 200, "--reward-range", "0,100",
        "--json", tmp_path / "fc.json",
    )  # fmt: skip
    assert ranged.exit_code == 0, ranged.output
    assert "--reward-range" not in ranged.stderr
    doc = json.loads((tmp_path / "fc.json").read_text())
    assert doc["forecast"]["kind"].startswith("pass_rate")
    assert 0 < doc["forecast"]["forecast"][0]["upper_0.9"] <= 100
    assert doc["forecast"]["forecast"] == auto["forecast"]["forecast"]
    bad = invoke("forecast", p, "--reward-range", "0;100")
    assert bad.exit_code == 2 and "LOW,HIGH" in bad.output


def test_compare_writes_tables(csvs, tmp_path):
    res = invoke(
        "compare", *csvs, "--n", 100, "--budget", 50000,
        "--json", tmp_path / "c.json", "--csv", tmp_path / "c.csv", "--figure", tmp_path / "c.png",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "P(A_i>A_j)" in res.stdout and "moe_like has the higher asymptote" in res.stdout
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["budget"] == 50000 and len(doc["pairwise"]) == 3
    assert len(pd.read_csv(tmp_path / "c.csv")) == 3
    assert len(pd.read_csv(tmp_path / "c_pairs.csv")) == 3
    assert (tmp_path / "c.png").exists()


def test_backtest_writes_tables(csvs, tmp_path):
    res = invoke(
        "backtest", *csvs, "--fractions", "0.3,0.6", "--n-samples", 100, "--no-progress",
        "--json", tmp_path / "b.json", "--csv", tmp_path / "b.csv", "--figure", tmp_path / "b.png",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert all(
        m in res.stdout for m in ("carry_last", "smoothed_level", "local_level", "curve_fit")
    )
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["fractions"] == [0.3, 0.6]
    assert len(pd.read_csv(tmp_path / "b.csv")) == 3 * 2 * 6  # auto and 5 baselines
    assert (tmp_path / "b.png").exists()


def test_demo_on_synthetic_curves_writes_everything(tmp_path):
    res = invoke("demo", "--out", tmp_path / "demo", "--n", 100, "--synthetic", "--no-report")
    assert res.exit_code == 0, res.output
    for name in ("fits.png", "forecasts.png", "compare.png", "summary.txt", "fits.json"):
        assert (tmp_path / "demo" / name).exists(), name
    doc = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert doc["synthetic"] is True
    assert len(doc["fits"]) == len(doc["forecasts_from_half"]) == 5
    assert "Comparison of 5 recipes" in (tmp_path / "demo" / "summary.txt").read_text()


def test_demo_on_the_bundled_calibration_runs_with_report(tmp_path):
    from rlscaling.io.datasets import calibration_runs

    runs = calibration_runs()
    recipes = {r.metadata["recipe"] for r in runs}
    res = invoke("demo", "--out", tmp_path / "demo", "--n", 100)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert doc["synthetic"] is False and len(doc["fits"]) == len(runs)
    assert {r["recipe"] for r in doc["comparison"]["recipes"]} == recipes
    html = (tmp_path / "demo" / "report" / "index.html").read_text()
    assert html.count("data:image/png;base64,") == len(recipes)
    # The console (demo.json) and the report compare the same pairs at the same compute.
    report = json.loads((tmp_path / "demo" / "report" / "report.json").read_text())
    ours, theirs = doc["comparison"], report["comparison"]
    assert ours["budget"] == theirs["budget"]
    for a, b in zip(ours["pairwise"], theirs["pairwise"], strict=True):
        assert (a["recipe_i"], a["recipe_j"], a["P_reward"]) == (
            b["recipe_i"], b["recipe_j"], b["P_reward"]
        )  # fmt: skip
    assert "carry-last" in (tmp_path / "demo" / "summary.txt").read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "no/such/file.csv"],
        ["forecast", "no/such/file.csv"],
        ["fit", "{csv}", "--reward", "nope"],
        ["forecast", "{csv}", "--method", "magic"],
        ["forecast", "{csv}", "--budget", "-5"],
        ["compare", "{csv}"],
        ["backtest", "{csv}", "--fractions", "0.5,x"],
        ["backtest", "{csv}", "--fractions", "1.5"],
        ["fit", "{csv}", "--figure", "{tmp}/f.unknown"],
    ],
)
def test_bad_input_is_one_error_line(csvs, tmp_path, args):
    args = [a.format(csv=csvs[0], tmp=tmp_path) for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_trainer_commands_are_listed_without_importing_torch():
    code = "import sys, rlscaling.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    names = list(TRAINER_COMMANDS)
    if names:
        res = runner.invoke(app, ["--help"])
        assert all(n in res.stdout for n in names)


# ---------------------------------------------------------------- errors, hints, version


def _one_error_line(res):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "Aborted" not in res.output
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["forecast", "{csv}", "--n-samples", "0"], "--n-samples"),
        (["forecast", "{csv}", "--n-samples", "-5"], "--n-samples"),
        (["backtest", "{csv}", "--n-samples", "0", "--no-progress"], "--n-samples"),
        (["report", "{csv}", "--out", "{tmp}/r", "--n-samples", "0"], "--n-samples"),
        (["compare", "{csv}", "{csv2}", "--n", "3"], "--n"),
        (["fit", "{csv}", "--bootstrap", "-1"], "--bootstrap"),
    ],
)
def test_bad_counts_are_refused_before_any_work(csvs, tmp_path, args, option):
    args = [a.format(csv=csvs[0], csv2=csvs[1], tmp=tmp_path) for a in args]
    line = _one_error_line(runner.invoke(app, args))
    assert option in line and ">= " in line


def test_truncated_gzip_names_the_file(tmp_path):
    import gzip

    data = gzip.compress(b"compute,reward\n" + b"".join(b"%d,0.%d\n" % (k, k) for k in range(1, 9)))
    path = tmp_path / "trunc.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    line = _one_error_line(runner.invoke(app, ["fit", str(path)]))
    assert "trunc.csv.gz" in line


def test_hints_speak_cli_options_not_python_keywords(tmp_path):
    path = tmp_path / "xy.csv"
    path.write_text("u,v\n1,0.1\n2,0.2\n3,0.3\n4,0.35\n5,0.4\n")
    line = _one_error_line(runner.invoke(app, ["fit", str(path)]))
    assert "--reward COLUMN" in line and "reward='" not in line
    line = _one_error_line(runner.invoke(app, ["fit", str(path), "--reward", "v"]))
    assert "--compute COLUMN" in line and "compute='" not in line
    # every option a hint names exists on the command that printed it
    opts = set(re.findall(r"--[a-z-]+", line))
    help_text = runner.invoke(app, ["fit", "--help"], terminal_width=200).stdout
    assert opts and all(o in help_text for o in opts), (opts, line)


def test_cli_message_rewrites_only_keyword_hints():
    from rlscaling.cli.common import cli_message

    msg = (
        "a.csv: 2 of 9 rows have a NaN, the first: compute=1e+18, reward=nan. Pass "
        "nan_policy='omit' to drop them; path='a.csv' holds 2 runs, pick one with run='<name>'"
    )
    out = cli_message(msg)
    assert "compute=1e+18, reward=nan" in out  # values are not hints
    assert "--nan-policy omit" in out and "--run NAME" in out and "path=" not in out
    # a command without --run is not told to use it
    assert "run='<name>'" in cli_message(msg, {"nan_policy"})


def test_version():
    from rlscaling import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"rlscaling {__version__}"


def test_python_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "rlscaling.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("rlscaling ")


def _trainer_or_skip():
    if "train" not in list(TRAINER_COMMANDS):
        pytest.skip("the trainer is not installed")
    try:
        import rlscaling.trainer.cli  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the trainer needs the train extra: {exc}")


@pytest.mark.parametrize("value", ["!!python/object/apply:os.system ['echo hi']", "[1,"])
def test_train_set_with_a_python_tag_or_bad_yaml_is_one_error(value):
    _trainer_or_skip()
    res = runner.invoke(app, ["train-config", "--set", f"loss.eps_max={value}"])
    line = _one_error_line(res)
    assert "--set" in line and "not plain YAML" in line


def test_sweep_with_bad_yaml_is_one_error(tmp_path):
    _trainer_or_skip()
    bad = tmp_path / "sweep.yaml"
    bad.write_text("recipes: [a, b\nseeds: 3\n")
    line = _one_error_line(runner.invoke(app, ["sweep", "--config", str(bad), "--dry-run"]))
    assert "sweep.yaml" in line and "not valid YAML" in line


# ---------------------------------------------------------------- outputs a reader can read


def test_backtest_columns_say_their_unit(csvs):
    res = invoke("backtest", *csvs, "--fractions", "0.5", "--n-samples", 100, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "share of each run's reward range" in res.stdout and "%" in res.stdout


def test_fit_figure_has_a_panel_per_run_and_one_extrapolated_entry(csvs, tmp_path):
    from rlscaling import fit_sigmoid
    from rlscaling.io.loaders import load_runs
    from rlscaling.plot import plot_fits

    fits = [fit_sigmoid(r, warn=False) for r in load_runs(csvs)]
    fig = plot_fits(fits)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 3
    assert {ax.get_title().split(" ")[0] for ax in panels} == {f.data.name for f in fits}
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert labels.count("extrapolated") == 1 and len(labels) == 3
    assert all(ax.get_legend() is None for ax in panels)


def test_shared_axes_plot_gets_no_per_run_title_and_one_extrapolated_entry(csvs):
    from rlscaling import fit_sigmoid
    from rlscaling.io.loaders import load_runs
    from rlscaling.plot import new_axes

    ax = new_axes()
    for r in load_runs(csvs):
        fit_sigmoid(r, warn=False).plot(ax=ax, extend=3.0, level=None)
    assert ax.get_title() == ""
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels.count("extrapolated") == 1


def test_forecast_figure_shows_the_path_and_labels_its_shades(csvs, tmp_path):
    from rlscaling import forecast
    from rlscaling.cli.forecast import _forecast_path
    from rlscaling.io.loaders import load_run
    from rlscaling.plot import plot_forecast

    run = load_run(csvs[0]).truncate(0.5)
    fc = forecast(run, [4 * run.compute.max()], n_samples=200)
    path = _forecast_path(run, fc, {"method": "auto", "n_samples": 200, "seed": 0})
    assert len(path.budget) == 16 and path.budget.max() == pytest.approx(fc.budget[0])
    ax = plot_forecast(path)
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"80% interval", "90% interval", "forecast"} <= labels
    line = next(ln for ln in ax.lines if ln.get_label() == "forecast")
    assert len(line.get_xdata()) == 17  # from the last observation along all 16 budgets


def test_fit_warns_about_a_declining_run_like_forecast(tmp_path):
    from rlscaling.forecasting.ensemble import decline_note

    c = np.geomspace(100, 1e5, 40)
    y = sigmoid(c, 0.7, 2.0, 1000, 0.1) - 0.25 * (c > 1e4) * np.log10(c / 1e4)
    df = pd.DataFrame({"compute": c, "reward": y + 0.002 * np.sin(np.arange(40))})
    path = tmp_path / "declining.csv"
    df.to_csv(path, index=False)
    from rlscaling.io.loaders import load_run

    note = decline_note(load_run(path))
    assert note is not None
    res = runner.invoke(app, ["fit", str(path)])
    assert res.exit_code == 0, res.output
    assert f"warning: declining: {note}" in res.stderr
    fc = runner.invoke(app, ["forecast", str(path), "--n-samples", "200"])
    assert note in fc.stderr


def test_comparison_names_the_compute_of_its_reward_probability(csvs):
    res = invoke("compare", *csvs, "--n", 100, "--budget", 50000)
    assert res.exit_code == 0, res.output
    assert "P(reward_i>reward_j) at 5e+04" in res.stdout


def test_demo_announces_its_steps_and_quiet_silences_them(tmp_path):
    res = runner.invoke(
        app, ["demo", "--out", str(tmp_path / "d"), "--n", "50", "--synthetic", "--no-report"]
    )
    assert res.exit_code == 0, res.output
    assert "[1/4] fitting 5 runs" in res.stderr and "[3/4] comparing" in res.stderr
    quiet = runner.invoke(
        app,
        ["demo", "--out", str(tmp_path / "q"), "--n", "50", "--synthetic", "--no-report", "-q"],
    )
    assert quiet.exit_code == 0 and "[1/4]" not in quiet.stderr


def test_the_listed_trainer_commands_are_the_trainers_own():
    # The table lets `rlscaling --help` list the trainer's commands without importing it; it
    # must say what rlscaling.trainer.cli defines (names and first docstring lines).
    _trainer_or_skip()
    import typer

    from rlscaling.trainer.cli import train_app

    group = typer.main.get_command(train_app)
    own = {
        name: " ".join((cmd.callback.__doc__ or "").split("\n\n")[0].split())
        for name, cmd in group.commands.items()
    }
    assert own == TRAINER_COMMANDS


def test_the_reward_column_read_is_said_and_a_held_out_one_wins(tmp_path):
    steps = np.arange(0, 410, 10)
    evals = steps % 50 == 0
    acc = sigmoid(np.maximum(steps, 1.0), 0.7, 1.5, 300, 0.1)
    p = tmp_path / "history.csv"
    pd.DataFrame(
        {"Step": steps, "train/reward": acc + 0.2, "eval/accuracy": np.where(evals, acc, np.nan)}
    ).to_csv(p, index=False)
    res = invoke("fit", p, "--nan-policy", "omit", "--json", tmp_path / "f.json")
    assert res.exit_code == 0, res.output
    assert "note: history: reward read from column 'eval/accuracy'" in res.stderr
    # the training batches' reward is named, with this command line's way to take it
    assert "not the training batches' 'train/reward' (pass --reward train/reward" in res.stderr
    from rlscaling import fit_sigmoid

    fitted = json.loads((tmp_path / "f.json").read_text())[0]["params"]["A"]
    assert fitted == pytest.approx(fit_sigmoid(steps[evals], acc[evals], warn=False).A)
    asked = invoke("fit", p, "--reward", "train/reward")
    assert asked.exit_code == 0, asked.output
    assert "reward read from column" not in asked.stderr
    assert "training batches" not in asked.stderr


@pytest.fixture(scope="module")
def sweep_csv(tmp_path_factory):
    """One CSV of six runs (a run column), their recipe and seed in columns."""
    steps = np.arange(10, 410, 20)
    parts = []
    for recipe, a in (("cispo", 0.7), ("grpo", 0.6), ("dapo", 0.75)):
        for seed in (0, 1):
            acc = sigmoid(steps.astype(float), a + 0.01 * seed, 1.5, 120, 0.1)
            cols = {"run": f"{recipe}-s{seed}", "recipe": recipe, "seed": seed}
            parts.append(pd.DataFrame({**cols, "step": steps, "eval/accuracy": acc}))
    p = tmp_path_factory.mktemp("sweep") / "multi.csv"
    pd.concat(parts).to_csv(p, index=False)
    return p


def test_compare_and_backtest_group_a_table_by_its_recipe_column(sweep_csv):
    res = invoke("compare", sweep_csv, "--group-by", "recipe", "--n", 50, "--budget", 800)
    assert res.exit_code == 0, res.output
    assert "note: all 6 runs: reward read from column 'eval/accuracy'" in res.stderr
    # three recipes of two seeds each, not six runs alone
    assert "cispo vs grpo" in res.stdout and "cispo-s0" not in res.stdout
    # the step warning is said once, not once per run
    assert res.stderr.count("using the step column") == 1
    line = _one_error_line(invoke("compare", sweep_csv, "--group-by", "lr", "--n", 50))
    assert "--group-by lr" in line and "'recipe'" in line and "dict" not in line
    bt = invoke("backtest", sweep_csv, "--fractions", "0.5", "--n-samples", 50, "--no-progress")
    assert bt.exit_code == 0, bt.output
    assert "ranking at 50%" in bt.stdout


def test_report_table_counts_refusals(csvs, tmp_path):
    """The report's table showed coverage and errors without saying how many runs each method
    answered."""
    res = invoke(
        "report", *csvs, "--out", tmp_path / "r", "--fractions", "0.5", "--n-samples", 50,
        "--no-progress",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "refused" in res.stdout and "runs" in res.stdout
    assert "cut at 50% of its compute" in (tmp_path / "r" / "index.html").read_text()


def test_backtest_table_and_lines_name_the_forecast_as_the_json_does(csvs, tmp_path):
    """rich read "[auto]" in "forecast[auto]" as markup: the table and the refusal lines said
    "forecast" while the JSON and CSV said "forecast[auto]"."""
    res = invoke(
        "backtest", *csvs, "--fractions", "0.5", "--n-samples", 50, "--no-progress",
        "--json", tmp_path / "b.json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    methods = {r["method"] for r in json.loads((tmp_path / "b.json").read_text())["summary"]}
    assert "forecast[auto]" in methods
    assert "│ forecast[auto]" in res.stdout
    assert "at 50%: the forecast" in res.stdout


def test_prior_summary_says_how_short_runs_are_forecast():
    from rlscaling.cli.prior import _few_point_line
    from rlscaling.forecasting.prior import ForecastPrior

    few = {"cases_by_kind": {"few_points": 40}}
    skewed = ForecastPrior(few_point_weight=0.5, few_point_scale=0.4, few_point_skew=1.5)
    line = _few_point_line(replace(skewed, scores=few))
    assert line.endswith(
        "(40 backtest cases): trend share 0.5, interval scale 0.400 x 1.50 above the point "
        "and / 1.50 below"
    )
    assert _few_point_line(ForecastPrior(scores=few)).endswith(", symmetric")
    assert "0 backtest cases, fewer than the 10 needed" in _few_point_line(ForecastPrior())
