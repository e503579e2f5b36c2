import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from rlscaling.cli import _trainer_commands, app
from rlscaling.datasets import example_curves

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
    assert list(pd.read_csv(tmp_path / "fc.csv")["budget"]) == [30000]
    assert (tmp_path / "fc.png").stat().st_size > 1000


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
    assert "carry_last" in res.stdout and "curve_fit" in res.stdout
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["fractions"] == [0.3, 0.6]
    assert len(pd.read_csv(tmp_path / "b.csv")) == 3 * 2 * 4
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
    from rlscaling.datasets import calibration_runs

    runs = calibration_runs()
    recipes = {r.metadata["recipe"] for r in runs}
    res = invoke("demo", "--out", tmp_path / "demo", "--n", 100)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert doc["synthetic"] is False and len(doc["fits"]) == len(runs)
    assert {r["recipe"] for r in doc["comparison"]["recipes"]} == recipes
    html = (tmp_path / "demo" / "report" / "index.html").read_text()
    assert html.count("data:image/png;base64,") == len(recipes)
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
    names = [n for n, _ in _trainer_commands()]
    if names:
        res = runner.invoke(app, ["--help"])
        assert all(n in res.stdout for n in names)
