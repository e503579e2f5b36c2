"""End-to-end: a seconds-long run writes a valid run directory; resume continues the curve."""

import json

import pytest

torch = pytest.importorskip("torch")

from rlscaling.io import rundir  # noqa: E402
from rlscaling.trainer import loop  # noqa: E402
from rlscaling.trainer.loop import train  # noqa: E402
from rlscaling.trainer.runlog import read_jsonl  # noqa: E402

EVAL_KEYS = {"step", "compute", "device_seconds", "reward", "n_prompts", "n_samples", "tokens"}
RUN_KEYS = {"config", "versions", "compute_unit", "model_params", "task", "seed", "recipe"}


def _curve(path):
    return [
        (r["step"], r["compute"], r["reward"], r["tokens"], r["n_prompts"])
        for r in read_jsonl(path / "eval.jsonl")
    ]


def test_smoke_run_writes_a_valid_run_dir(tmp_path, tiny_config):
    out = tmp_path / "run"
    result = train(tiny_config(out))
    meta = json.loads((out / "run.json").read_text())
    assert RUN_KEYS <= set(meta)
    assert meta["compute_unit"] == "FLOPs" and meta["recipe"] == "scalerl"
    assert meta["task"] == "sorting" and isinstance(meta["model_params"], int)
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [0, 2, 4]
    for e in evals:
        assert EVAL_KEYS <= set(e)
        assert set(e) == set(rundir.EVAL_KEYS)  # the contract the loader reads
        assert 0.0 <= e["reward"] <= 1.0 and e["n_prompts"] == 8 and e["n_samples"] == 4
    computes = [e["compute"] for e in evals]
    assert computes[0] == 0.0 and computes[1] > 0 and computes[2] > computes[1]
    assert evals[2]["device_seconds"] > evals[1]["device_seconds"] > 0
    train_rows = read_jsonl(out / "train.jsonl")
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    for r in train_rows:
        assert {"kept_prompts", "filtered_prompts", "staleness_mean", "truncated_frac"} <= set(r)
        assert set(rundir.TRAIN_KEYS) <= set(r)
        assert r["staleness_max"] <= 1  # off_policy_lag = 1
    assert (out / "checkpoints" / "latest" / "model" / "config.json").exists()
    assert (out / "base_model" / "tokenizer.json").exists()
    assert result.final_reward == evals[-1]["reward"]


def test_flops_follow_the_formula(tmp_path, tiny_config):
    out = tmp_path / "run"
    train(tiny_config(out, steps=1, eval_every=1))
    n = json.loads((out / "run.json").read_text())["flops_params"]
    row = read_jsonl(out / "train.jsonl")[0]
    # compute = 2N (prompt + generated tokens) + 6N (trained tokens); bounds from token counts
    gen = row["tokens"]
    assert row["compute"] >= 2 * n * gen
    assert row["compute"] % (2 * n) == 0


def test_resume_after_kill_continues_the_same_curve(tmp_path, monkeypatch, tiny_config):
    full = tmp_path / "full"
    train(tiny_config(full, steps=6, eval_every=1, checkpoint_every=2))

    killed = tmp_path / "killed"
    calls = {"n": 0}
    real_score = loop.score_samples

    def dying_score(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # dies inside step 4, after checkpoint 2 and the logs of step 3
            raise KeyboardInterrupt
        return real_score(*args, **kwargs)

    monkeypatch.setattr(loop, "score_samples", dying_score)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(killed, steps=6, eval_every=1, checkpoint_every=2))
    assert max(r["step"] for r in read_jsonl(killed / "eval.jsonl")) == 3
    monkeypatch.setattr(loop, "score_samples", real_score)
    train(tiny_config(killed, steps=6, eval_every=1, checkpoint_every=2))
    assert _curve(killed) == _curve(full)
    assert any(e["reward"] > 0 for e in read_jsonl(full / "eval.jsonl"))
    timing = {"device_seconds", "tokens_per_second", "step_seconds"}

    def rows(path):
        return [
            {k: v for k, v in r.items() if k not in timing}
            for r in read_jsonl(path / "train.jsonl")
        ]

    assert [r["step"] for r in rows(killed)] == [1, 2, 3, 4, 5, 6]
    assert rows(killed) == rows(full)  # same losses, rewards, kept prompts, staleness


def test_resume_refuses_a_different_config(tmp_path, tiny_config):
    out = tmp_path / "run"
    train(tiny_config(out, steps=2))
    with pytest.raises(ValueError, match=r"different config.*loss"):
        train(tiny_config(out, steps=4, loss={"name": "ppo"}))
    train(tiny_config(out, steps=4))  # more steps of the same run is fine
    assert [r["step"] for r in read_jsonl(out / "eval.jsonl")] == [0, 2, 4]


@pytest.mark.parametrize("recipe", ["grpo", "dapo"])
def test_other_presets_run(tmp_path, recipe, tiny_config):
    out = tmp_path / recipe
    cfg = tiny_config(out, recipe=recipe, steps=2, off_policy_lag=0, micro_batch_size=5)
    result = train(cfg)
    assert json.loads((out / "run.json").read_text())["recipe"] == recipe
    assert len(result.evals) == 2


def test_cli_train_and_bad_config(tmp_path, tiny_config):
    from typer.testing import CliRunner

    from rlscaling.trainer.cli import train_app

    cfg = tiny_config(tmp_path / "cli", steps=2)
    path = tmp_path / "c.yaml"
    import yaml

    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    runner = CliRunner()
    res = runner.invoke(train_app, ["train", "--config", str(path), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "final reward" in res.output
    assert (tmp_path / "cli" / "eval.jsonl").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss:\n  name: cipso\n")
    res = runner.invoke(train_app, ["train", "--config", str(bad)])
    assert res.exit_code == 2
    assert "unknown loss 'cipso'; choose one of cispo" in res.output


def test_starts_from_a_local_hf_model_dir(tmp_path, tiny_config):
    first = tmp_path / "first"
    train(tiny_config(first, steps=1))
    second = tmp_path / "second"
    cfg = tiny_config(
        second,
        steps=1,
        model={"path": str(first / "base_model")},
        warmup={"steps": 0},
    )
    result = train(cfg)
    # same base weights, same validation split and eval seed: same step-0 reward
    assert result.evals[0]["reward"] == read_jsonl(first / "eval.jsonl")[0]["reward"]
    assert json.loads((second / "run.json").read_text())["base_model"]["source"] == str(
        first / "base_model"
    )


def test_bf16_run_with_fp32_master_weights_resumes_the_same_curve(tmp_path, tiny_config):
    """A bfloat16 model stepped through FP32 master weights: the master copies travel in the
    checkpoint, so a run stopped at step 2 and continued gives the uninterrupted curve."""
    over = {"model": {"dtype": "bfloat16"}, "optim": {"lr": 1e-4}}
    full = tmp_path / "full"
    train(tiny_config(full, steps=4, eval_every=1, checkpoint_every=2, **over))
    part = tmp_path / "part"
    train(tiny_config(part, steps=2, eval_every=1, checkpoint_every=2, **over))
    train(tiny_config(part, steps=4, eval_every=1, checkpoint_every=2, **over))
    assert _curve(part) == _curve(full)
    rows = read_jsonl(full / "train.jsonl")
    assert all(r["grad_norm"] > 0 for r in rows if r["kept_prompts"])
