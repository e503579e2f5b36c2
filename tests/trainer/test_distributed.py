"""The sharded learner (torch.distributed, gloo on CPU, world size 2) against one process.

Each test starts its ranks with ``torch.multiprocessing`` and the environment ``torchrun``
sets; they are selected by ``pytest -k distributed``.
"""

import itertools

import pytest

torch = pytest.importorskip("torch")

from distributed_helpers import one_update, spawn  # noqa: E402


def test_distributed_nccl_on_cpu_is_refused_clearly():
    from rlscaling.trainer.distributed import init_learner_group

    with pytest.raises(ValueError, match=r"learner.backend='nccl' needs CUDA.*use.*gloo"):
        init_learner_group(torch.device("cpu"), "nccl", 1.0)


CASES = [
    # ScaleRL's loss and aggregation, the whole batch in one pass per rank
    {"loss": "cispo", "aggregation": "prompt", "micro_batch_size": 0, "rows": 6,
     "dtype": "float32"},
    # the same with the gradient clipped (its norm is taken over every rank's shard)
    {"loss": "cispo", "aggregation": "prompt", "micro_batch_size": 0, "rows": 6,
     "dtype": "float32", "max_grad_norm": 0.1},
    # 5 rows in micro-batches of 2: rank 0 holds 2 rows (one real micro-batch and one empty,
    # run as a zero-weighted pass), rank 1 holds 3; token-level mean
    {"loss": "ppo", "aggregation": "token", "micro_batch_size": 2, "rows": 5,
     "dtype": "float32"},
    # per-sample mean, bfloat16 model with FP32 master weights
    {"loss": "grpo", "aggregation": "sample", "micro_batch_size": 0, "rows": 4,
     "dtype": "bfloat16"},
]  # fmt: skip


def _one_process(tmp_path, cases):
    out = tmp_path / "ws1.pt"
    one_update(0, cases, str(out), None)
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_distributed_update_gives_the_one_process_gradient(tmp_path, strategy):
    single = _one_process(tmp_path, CASES)
    out = tmp_path / "ws2.pt"
    spawn(one_update, 2, CASES, str(out), strategy)
    sharded = torch.load(out, weights_only=True)
    for case, a, b in zip(CASES, single, sharded, strict=True):
        low = case["dtype"] != "float32"
        tol = {"rtol": 2e-2, "atol": 1e-3} if low else {"rtol": 1e-5, "atol": 1e-7}
        assert a["grads"].keys() == b["grads"].keys() and a["grads"]
        for name in a["grads"]:
            torch.testing.assert_close(b["grads"][name], a["grads"][name], **tol, msg=name)
        for name in a["weights"]:
            torch.testing.assert_close(b["weights"][name], a["weights"][name], **tol, msg=name)
        assert a["metrics"].keys() == b["metrics"].keys()
        rel = 1e-2 if low else 1e-4  # bfloat16 gradients are all-reduced in bfloat16
        for name, value in a["metrics"].items():
            assert b["metrics"][name] == pytest.approx(value, rel=rel, abs=1e-6), (case, name)


# ---- whole runs: world size 2 against one process ----

TIMING = {"device_seconds", "tokens_per_second", "step_seconds"}
APPROX = {"loss", "grad_norm", "ratio_mean", "ratio_max", "clip_frac", "entropy", "logprob_gap"}


def _run_config(tiny_config, out, **over):
    # CPU and gloo whatever the machine has: the ranks of these tests share one host
    base = {"steps": 4, "eval_every": 1, "checkpoint_every": 2, "device": "cpu"}
    return tiny_config(out, **{**base, **over}).model_dump(mode="json")


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory, tiny_config):
    """The reference: four steps in one process."""
    from rlscaling.trainer.loop import train

    out = tmp_path_factory.mktemp("distributed") / "ws1"
    train(_run_config(tiny_config, out))
    return out


def _same_run(path, reference):
    """Same curve (steps, compute, tokens, rewards) and the same train.jsonl up to float
    rounding of the update's numbers: the gradient is summed over ranks in another order."""
    from rlscaling.trainer.runlog import read_jsonl

    evals, ref_evals = read_jsonl(path / "eval.jsonl"), read_jsonl(reference / "eval.jsonl")
    assert [(e["step"], e["compute"], e["tokens"], e["reward"]) for e in evals] == [
        (e["step"], e["compute"], e["tokens"], e["reward"]) for e in ref_evals
    ]
    rows, ref_rows = read_jsonl(path / "train.jsonl"), read_jsonl(reference / "train.jsonl")
    assert [r["step"] for r in rows] == [r["step"] for r in ref_rows] == [1, 2, 3, 4]
    for row, ref in zip(rows, ref_rows, strict=True):
        assert row.keys() == ref.keys()
        for key, value in ref.items():
            if key in APPROX:
                assert row[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
            elif key not in TIMING:
                assert row[key] == value, key
    assert any(e["reward"] > 0 for e in ref_evals)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_distributed_run_at_world_size_2_repeats_the_one_process_run(
    tmp_path, tiny_config, one_process_run, strategy
):
    from distributed_helpers import run_dir_params, train_run

    out = tmp_path / "ws2"
    spawn(train_run, 2, _run_config(tiny_config, out, learner={"strategy": strategy}))
    _same_run(out, one_process_run)
    params, ref = run_dir_params(out), run_dir_params(one_process_run)
    assert params.keys() == ref.keys()
    for name in ref:  # AdamW divides by sqrt(v): near-zero gradients show rounding most
        torch.testing.assert_close(params[name], ref[name], rtol=0, atol=1e-5, msg=name)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_distributed_kill_at_world_size_2_resumes_at_world_size_1(
    tmp_path, tiny_config, one_process_run, strategy
):
    from distributed_helpers import train_run

    from rlscaling.trainer.loop import train
    from rlscaling.trainer.runlog import read_jsonl

    out = tmp_path / "killed"
    # rank 0 dies inside step 4: after the checkpoint of step 2 and the logs of step 3
    with pytest.raises(Exception, match="simulated kill"):
        config = _run_config(tiny_config, out, learner={"strategy": strategy})
        spawn(train_run, 2, config, 4)
    assert max(r["step"] for r in read_jsonl(out / "eval.jsonl")) == 3
    with pytest.warns(UserWarning, match="resuming"):
        train(_run_config(tiny_config, out))  # one process
    _same_run(out, one_process_run)


def test_distributed_one_process_checkpoint_resumes_sharded_at_world_size_2(
    tmp_path, tiny_config, one_process_run
):
    """The other direction: a one-process checkpoint (AdamW state after two steps) is loaded
    into FSDP's shards and the run goes on as in one process."""
    from distributed_helpers import train_run

    from rlscaling.trainer.loop import train
    from rlscaling.trainer.runlog import read_jsonl

    out = tmp_path / "ws1_then_ws2"
    train(_run_config(tiny_config, out, steps=2))
    assert [r["step"] for r in read_jsonl(out / "train.jsonl")] == [1, 2]
    spawn(train_run, 2, _run_config(tiny_config, out, learner={"strategy": "fsdp"}))
    _same_run(out, one_process_run)


def test_distributed_ledger_sums_every_ranks_device_seconds(tmp_path, tiny_config):
    """Rank 0 updates for "1000 s" and rank 1 for "2000 s" (timers stubbed, generation 0 s):
    each trained step adds 3000 device-seconds to the ledger."""
    from distributed_helpers import train_with_fixed_update_seconds

    from rlscaling.trainer.runlog import read_jsonl

    out = tmp_path / "ws2"
    spawn(train_with_fixed_update_seconds, 2, _run_config(tiny_config, out, steps=3))
    rows = read_jsonl(out / "train.jsonl")
    seconds = [0.0] + [r["device_seconds"] for r in rows]
    added = [b - a for a, b in itertools.pairwise(seconds)]
    trained = [r["kept_prompts"] > 0 for r in rows]
    assert any(trained)
    assert added == [3000.0 if t else 0.0 for t in trained]


def test_distributed_cli_nproc_starts_the_ranks(tmp_path, tiny_config):
    """``rlscaling train --nproc 2`` starts two learner ranks through torch.distributed.run;
    the run directory is rank 0's and the summary line is printed once."""
    import os
    import subprocess
    import sys

    import yaml

    from rlscaling.trainer.runlog import read_jsonl

    out = tmp_path / "cli"
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_run_config(tiny_config, out, steps=2)))
    command = [sys.executable, "-m", "rlscaling.cli", "train", "-c", str(path), "--nproc", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("final reward") == 1, done.stdout
    assert [r["step"] for r in read_jsonl(out / "train.jsonl")] == [1, 2]
    # a second --nproc inside the ranks torchrun started is refused, naming the clash
    env = {**os.environ, "WORLD_SIZE": "2"}
    inside = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert inside.returncode == 2 and "drop --nproc" in inside.stderr


def test_distributed_generator_process_mode_repeats_the_one_process_run(tmp_path, tiny_config):
    """``rollout.mode: sync`` (the generator in its own process, started by rank 0) at world
    size 2 gives the one-process sync run."""
    from distributed_helpers import train_run

    from rlscaling.trainer.loop import train
    from rlscaling.trainer.runlog import read_jsonl

    over = {"steps": 2, "rollout": {"mode": "sync"}, "off_policy_lag": 0}
    train(_run_config(tiny_config, tmp_path / "ws1", **over))
    spawn(train_run, 2, _run_config(tiny_config, tmp_path / "ws2", **over))
    for name in ("eval.jsonl", "train.jsonl"):
        one, two = (read_jsonl(tmp_path / ws / name) for ws in ("ws1", "ws2"))
        assert [r["step"] for r in one] == [r["step"] for r in two]
        for a, b in zip(one, two, strict=True):
            for key in ("compute", "reward", "tokens", "kept_prompts", "loss", "grad_norm"):
                if key in a:
                    assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (name, key)


def test_distributed_fsdp_bfloat16_checkpoint_holds_fp32_master_weights(tmp_path, tiny_config):
    """FSDP keeps FP32 shards and computes in bfloat16; its whole checkpoint is the one-process
    format (FP32 master weights beside AdamW's state), which a one-process run resumes."""
    from distributed_helpers import train_run

    from rlscaling.trainer import checkpoint as ckpt
    from rlscaling.trainer.loop import train
    from rlscaling.trainer.model import load_model
    from rlscaling.trainer.runlog import read_jsonl

    out = tmp_path / "bf16"
    over = {"model": {"dtype": "bfloat16"}, "steps": 2}
    spawn(train_run, 2, _run_config(tiny_config, out, learner={"strategy": "fsdp"}, **over))
    latest = out / "checkpoints" / "latest"
    state = ckpt.load_state(latest)["optimizer"]
    model, _ = load_model(latest / "model", "bfloat16")
    params = [p for p in model.parameters() if p.requires_grad]
    assert len(state["master"]) == len(params) == len(state["inner"]["state"])
    moved = 0
    for master, p in zip(state["master"], params, strict=True):
        assert master.dtype == torch.float32
        torch.testing.assert_close(master.to(torch.bfloat16), p.detach(), rtol=0, atol=0)
        moved += int((master != master.to(torch.bfloat16).float()).any())
    assert moved  # the masters hold more than the bfloat16 weights
    train(_run_config(tiny_config, out, **{**over, "steps": 3}))  # one process resumes
    assert [r["step"] for r in read_jsonl(out / "train.jsonl")] == [1, 2, 3]
