"""The sweep: grid expansion, validation, parallel runs, skip-on-restart, resume, loading."""

import json
from pathlib import Path

import pytest

from rlscaling.trainer.config import ConfigError
from rlscaling.trainer.sweep import SweepConfig, load_sweep, sweep

BASE = {
    "steps": 4,
    "prompts_per_step": 4,
    "eval_every": 2,
    "checkpoint_every": 2,
    "task": {"name": "sorting", "difficulty": 3, "n_train": 64, "n_val": 8},
    "warmup": {"steps": 40, "batch_size": 16},
    "model": {"hidden_size": 64, "num_layers": 1, "num_heads": 2},
    "rollout": {"n_samples": 4, "think_budget": 6, "answer_budget": 6, "mode": "inline"},
    "off_policy_lag": 1,
}


def _sweep(tmp_path, **over):
    data = {
        "name": "t",
        "out_dir": str(tmp_path / "sw"),
        "base": BASE,
        "recipes": {"scalerl": {}, "grpo": {"recipe": "grpo"}},
        "seeds": [0],
    }
    data.update(over)
    return SweepConfig(**data)


def test_grid_is_seed_major_with_tags_and_dirs(tmp_path):
    sw = _sweep(tmp_path, seeds=[3, 5])
    runs = sw.runs()
    assert [(r.recipe, r.seed) for r in runs] == [
        ("scalerl", 3), ("grpo", 3), ("scalerl", 5), ("grpo", 5),
    ]  # fmt: skip
    assert runs[1].config.loss.name == "grpo" and runs[0].config.loss.name == "cispo"
    assert runs[3].config.tags == {"sweep": "t", "recipe": "grpo", "seed": 5}
    assert runs[3].config.seed == 5
    assert runs[3].out_dir.endswith("sw/grpo/seed5")
    assert runs[0].config.threads == 1 and runs[0].config.progress is False
    assert [r.recipe for r in sw.runs(["grpo"])] == ["grpo", "grpo"]


@pytest.mark.parametrize(
    ("over", "msg"),
    [
        ({"recipes": {}}, "at least one recipe"),
        ({"seeds": []}, "at least one seed"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"recipes": {"a/b": {}}}, "plain directory name"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_sweeps_are_refused(tmp_path, over, msg):
    with pytest.raises(ValueError, match=msg):
        _sweep(tmp_path, **over)


def test_bad_recipe_override_names_the_recipe(tmp_path):
    sw = _sweep(tmp_path, recipes={"broken": {"loss": {"name": "nope"}}})
    with pytest.raises(ConfigError, match="broken"):
        sw.runs()
    with pytest.raises(ConfigError, match="not in the sweep"):
        _sweep(tmp_path).runs(["missing"])


def test_load_sweep_resolves_base_relative_to_the_file(tmp_path):
    import yaml

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "sw.yaml").write_text(
        yaml.safe_dump({"out_dir": str(tmp_path / "o"), "base": "base.yaml", "seeds": [0, 1]})
    )
    sw = load_sweep(tmp_path / "sw.yaml")
    assert [r.config.steps for r in sw.runs()] == [4, 4]
    with pytest.raises(ConfigError, match="does not exist"):
        load_sweep(tmp_path / "nope.yaml")


def test_bundled_calibration_sweep_config_is_valid():
    root = Path(__file__).resolve().parents[2]
    sw = load_sweep(root / "examples/configs/calibration_sweep.yaml")
    runs = sw.runs(["scalerl", "grpo", "dapo", "scalerl_no_zvf"])
    assert len(runs) == 12
    no_zvf = next(r for r in runs if r.recipe == "scalerl_no_zvf")
    assert no_zvf.config.advantage.zero_variance_filter is False
    assert no_zvf.config.loss.name == "cispo"


def test_sweep_runs_in_parallel_skips_finished_and_resumes_longer(tmp_path):
    from rlscaling.io.loaders import load_runs

    sw = _sweep(tmp_path)
    rows = sweep(sw, workers=2, progress=False)
    assert {r["status"] for r in rows} == {"done"}
    assert all(r["step"] == 4 for r in rows)
    manifest = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert [r["recipe"] for r in manifest["runs"]] == ["scalerl", "grpo"]
    assert all(r["seconds"] > 0 for r in manifest["runs"])

    runs = load_runs([str(tmp_path / "sw" / "*" / "seed0")])
    by = {r.metadata["recipe"]: r for r in runs}
    assert set(by) == {"scalerl", "grpo"}
    assert by["grpo"].metadata["preset"] == "grpo" and by["grpo"].metadata["seed"] == 0
    first = (tmp_path / "sw/grpo/seed0/eval.jsonl").read_text()

    # A second invocation trains nothing and leaves the runs as they were.
    again = sweep(sw, workers=2, progress=False)
    assert {r["status"] for r in again} == {"skipped"}
    assert (tmp_path / "sw/grpo/seed0/eval.jsonl").read_text() == first

    # Longer runs continue from the last checkpoint: the first part of the curve is kept.
    longer = _sweep(tmp_path, base={**BASE, "steps": 6}, recipes={"grpo": {"recipe": "grpo"}})
    rows = sweep(longer, workers=1, progress=False)
    assert rows[0]["status"] == "done" and rows[0]["step"] == 6
    assert (tmp_path / "sw/grpo/seed0/eval.jsonl").read_text().startswith(first)


def test_sweep_cli_dry_run_lists_runs_and_reports_bad_files(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from rlscaling.trainer.cli import train_app

    (tmp_path / "sw.yaml").write_text(
        yaml.safe_dump({"out_dir": str(tmp_path / "o"), "base": BASE, "seeds": [0, 1]})
    )
    runner = CliRunner()
    res = runner.invoke(train_app, ["sweep", "--config", str(tmp_path / "sw.yaml"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "seed 0" in res.output and "seed 1" in res.output and "step 0/4" in res.output
    res = runner.invoke(train_app, ["sweep", "--config", str(tmp_path / "none.yaml")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_bundled_sweep_round_trip(tmp_path):
    """A finished sweep, bundled the documented way, loads back with its labels."""
    import runpy
    import sys

    from rlscaling.io.datasets import load_sweep_dir

    sw = _sweep(tmp_path, seeds=[0, 1], recipes={"grpo": {"recipe": "grpo"}})
    sweep(sw, workers=2, progress=False)
    root = Path(__file__).resolve().parents[2]
    argv = sys.argv
    sys.argv = ["bundle", str(tmp_path / "sw"), "--dest", str(tmp_path / "bundle")]
    try:
        runpy.run_path(str(root / "examples/bundle_calibration_runs.py"), run_name="__main__")
    finally:
        sys.argv = argv
    runs = load_sweep_dir(tmp_path / "bundle")
    assert [(r.metadata["recipe"], r.metadata["seed"]) for r in runs] == [("grpo", 0), ("grpo", 1)]
    original = (tmp_path / "sw/grpo/seed1/eval.jsonl").read_text().splitlines()
    assert len(runs[1]) == len(original)
    summary = (tmp_path / "bundle/grpo/seed0/train_summary.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in summary] == [2, 4]
    readme = (tmp_path / "bundle/README.md").read_text()
    assert "--recipes grpo" in readme and "Wall time per run" in readme
    assert not list((tmp_path / "bundle").rglob("checkpoints"))


def test_countdown_mix_sweep_config_is_valid():
    """Every recipe of the countdown_mix sweep validates and flips the switch it names."""
    root = Path(__file__).resolve().parents[2]
    sw = load_sweep(root / "examples/configs/countdown_mix_sweep.yaml")
    runs = {r.recipe: r.config for r in sw.runs() if r.seed == 0}
    assert runs["scalerl"].task.name == "countdown_mix" and runs["scalerl"].off_policy_lag == 2
    assert runs["grpo"].off_policy_lag == 0 and runs["grpo"].loss.name == "grpo"
    assert (
        runs["scalerl_bf16"].model.dtype == "bfloat16" and runs["scalerl_bf16"].model.fp32_lm_head
    )
    assert not runs["scalerl_bf16_no_fp32_head"].model.fp32_lm_head
    assert runs["scalerl_length_penalty"].rollout.length_control == "length_penalty"
    assert runs["scalerl_lag8"].off_policy_lag == 8
    assert runs["scalerl"].optim.fp32_master_weights
