"""Generators as Ray actors (``fleet.num_generators``): two actors in a local Ray on 2 CPUs.

Every test here has ``distributed`` in its node id (the file's name), so ``pytest -k
distributed`` selects them. Each run starts two actor processes that import torch and
transformers, so the runs are few and short. CI installs the ``fleet`` extra; without Ray the
tests are skipped with the reason.
"""

import time

import pytest

torch = pytest.importorskip("torch")
ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'rlscaling[fleet]'")

from rlscaling.trainer.config import FleetConfig, TrainConfig  # noqa: E402
from rlscaling.trainer.loop import train  # noqa: E402
from rlscaling.trainer.model import build_tiny_model, build_tokenizer, save_model  # noqa: E402
from rlscaling.trainer.pipeline import GeneratorError  # noqa: E402
from rlscaling.trainer.pipeline.messages import Generate, Prompt, Start, UpdateWeights  # noqa: E402
from rlscaling.trainer.pipeline.orchestrator import Orchestrator  # noqa: E402
from rlscaling.trainer.pipeline.ray_fleet import GeneratorFleet  # noqa: E402
from rlscaling.trainer.rollout import SamplingParams  # noqa: E402
from rlscaling.trainer.runlog import read_jsonl  # noqa: E402
from rlscaling.trainer.weights import WeightBroadcaster, WeightStore  # noqa: E402

CPUS = 2

# columns that only a separate-process run writes, or that are wall-clock timings
RUN_ONLY = {
    "staleness_hist",
    "dropped_stale",
    "dropped_stale_total",
    "discarded_in_flight",
    "pushed_version",
    "gen_seconds",
    "train_seconds",
    "push_seconds",
    "wait_seconds",
    "trainer_idle_frac",
    "generator_idle_frac",
    "generator_busy_seconds",
    "generator_idle_seconds",
    "gen_tokens_per_second",
    "generator_groups",
    "device_seconds",
    "tokens_per_second",
    "step_seconds",
}


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with two CPUs and a small object store, shut down after the module."""
    ray.init(
        num_cpus=CPUS,
        object_store_memory=200 * 1024**2,
        include_dashboard=False,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


def _no_actor_left():
    """Every CPU is free again: the fleet's actors were stopped (resources come back
    asynchronously, so wait a little)."""
    for _ in range(100):
        if ray.available_resources().get("CPU", 0.0) == CPUS:
            return
        time.sleep(0.1)
    raise AssertionError(f"actors still hold CPUs: {ray.available_resources()}")


def _rows(path):
    return [{k: v for k, v in r.items() if k not in RUN_ONLY} for r in read_jsonl(path)]


def _curve(path):
    return [(r["step"], r["compute"], r["reward"], r["tokens"]) for r in read_jsonl(path)]


def test_distributed_fleet_starts_and_stops_its_own_local_ray(tmp_path, tiny_config):
    """Without a Ray session (and no fleet.address) the run starts a local Ray for its actor
    and shuts it down at the end. First in the file: the other tests share one session."""
    assert not ray.is_initialized(), "this test must run before the module's shared Ray"
    out = tmp_path / "own"
    train(
        tiny_config(
            out, steps=2, off_policy_lag=0, rollout={"mode": "sync"}, fleet={"num_generators": 1}
        )
    )
    assert not ray.is_initialized()
    assert [r["generator_groups"] for r in read_jsonl(out / "train.jsonl")] == [[4], [4]]


def test_distributed_two_actors_repeat_one_generator_exactly(tmp_path, tiny_config, local_ray):
    """off_policy_k with k = 2: both batches of a cycle are generated at once, one per actor,
    and the run is the single-generator run (itself the in-process loop with lag 1)."""
    fleet = tmp_path / "fleet"
    cfg = tiny_config(
        fleet,
        steps=4,
        off_policy_lag=2,
        rollout={"mode": "off_policy_k"},
        fleet={"num_generators": 2},
    )
    train(cfg)
    _no_actor_left()
    rows = read_jsonl(fleet / "train.jsonl")
    assert [r["staleness_hist"] for r in rows] == [[16, 0], [0, 16], [16, 0], [0, 16]]
    assert all(r["staleness_max"] <= 1 for r in rows)
    made = [r["generator_groups"] for r in rows]
    assert all(sum(m) == 4 for m in made)  # 4 prompts per step, none dropped
    assert all(sum(m[i] for m in made) > 0 for i in range(2))  # both actors generated

    inline = tmp_path / "inline"
    train(tiny_config(inline, steps=4, off_policy_lag=1))
    assert _rows(fleet / "train.jsonl") == _rows(inline / "train.jsonl")
    assert _curve(fleet / "eval.jsonl") == _curve(inline / "eval.jsonl")


def test_distributed_weights_by_gloo_broadcast_reach_every_actor(
    tmp_path, tiny_config, local_ray, monkeypatch
):
    """fleet.weight_sync: broadcast (gloo here; NCCL on GPUs): the starting weights and every
    update go through torch.distributed to both actors, so a sync run is still exactly the
    on-policy in-process run; no weight file is written."""
    calls = {"send": 0, "write": 0}
    real_send, real_write = WeightBroadcaster.send, WeightStore.write

    def send(self, model):
        calls["send"] += 1
        return real_send(self, model)

    def write(self, model, version):
        calls["write"] += 1
        return real_write(self, model, version)

    monkeypatch.setattr(WeightBroadcaster, "send", send)
    monkeypatch.setattr(WeightStore, "write", write)
    out = tmp_path / "broadcast"
    cfg = tiny_config(
        out,
        steps=3,
        off_policy_lag=0,
        rollout={"mode": "sync"},
        fleet={"num_generators": 2, "weight_sync": "broadcast"},
    )
    train(cfg)
    _no_actor_left()
    rows = read_jsonl(out / "train.jsonl")
    assert [r["generator_groups"] for r in rows] == [[4, 0], [0, 4], [4, 0]]  # alternating
    assert all(r["staleness_max"] == 0 for r in rows)
    assert calls == {"send": 3, "write": 0}  # versions 0 (the start), 1 and 2; no file
    inline = tmp_path / "inline"
    train(tiny_config(inline, steps=3, off_policy_lag=0))
    assert _rows(out / "train.jsonl") == _rows(inline / "train.jsonl")
    assert _curve(out / "eval.jsonl") == _curve(inline / "eval.jsonl")


def test_distributed_pipeline_keeps_the_lag_bound_and_resumes_on_one_generator(
    tmp_path, tiny_config, local_ray, monkeypatch
):
    """pipeline_k, k = 1, two actors and two batches more in flight than the bound allows:
    groups that come back too stale are dropped and counted, none is trained on; the run
    then resumes from its checkpoint with one generator process (the fleet may change)."""
    monkeypatch.setattr(Orchestrator, "extra_batches", 2)
    out = tmp_path / "pipe"

    def cfg(steps, generators):
        return tiny_config(
            out,
            steps=steps,
            eval_every=1,
            checkpoint_every=2,
            off_policy_lag=1,
            rollout={"mode": "pipeline_k"},
            fleet={"num_generators": generators},
        )

    train(cfg(4, 2))
    _no_actor_left()
    rows = read_jsonl(out / "train.jsonl")
    assert all(len(r["staleness_hist"]) == 2 and sum(r["staleness_hist"]) == 16 for r in rows)
    assert max(r["staleness_max"] for r in rows) <= 1
    dropped = [r["dropped_stale"] for r in rows]
    assert sum(dropped) > 0
    assert [r["dropped_stale_total"] for r in rows] == [sum(dropped[: i + 1]) for i in range(4)]
    made = [r["generator_groups"] for r in rows]
    assert [sum(m) for m in made] == [4 + d for d in dropped]  # dropped groups were made too
    assert all(sum(m[i] for m in made) > 0 for i in range(2))

    monkeypatch.setattr(Orchestrator, "extra_batches", 0)
    train(cfg(6, 0))  # one generator process, no Ray actors
    rows = read_jsonl(out / "train.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(r["staleness_max"] <= 1 for r in rows)
    assert "generator_groups" not in rows[-1]
    assert [c[0] for c in _curve(out / "eval.jsonl")] == list(range(7))


def test_distributed_fleet_dispatch_weights_and_errors(tmp_path, local_ray):
    """The dispatcher: batches alternate between idle actors, a weight update reaches every
    actor before later batches (their tokens carry the new version), ``loaded_version`` is
    the oldest any actor holds, and an actor's exception is raised here with its traceback."""
    tok = build_tokenizer()
    model = build_tiny_model(TrainConfig().model, tok, seed=0)
    save_model(model, tok, tmp_path / "model")
    store = WeightStore(root=tmp_path)
    cfg = TrainConfig(rollout={"mode": "sync"}, fleet={"num_generators": 2})
    start = Start(
        config=cfg.model_dump(mode="json"),
        model_dir=str(tmp_path / "model"),
        weights_path=store.write(model, 0),
        version=0,
    )
    params = SamplingParams(think_budget=4, answer_budget=2, eos_id=tok.eos_token_id)
    ids = tok("sort:321=")["input_ids"]

    def batch(first, seed):
        items = [Prompt(request_id=first + i, prompt_index=i, prompt_ids=ids) for i in range(2)]
        return Generate(prompts=items, n=2, seed=seed, params=params)

    with GeneratorFleet(start, 8, cfg.fleet, ordered=True, split_batches=False) as fleet:
        assert fleet.wait_ready(300).version == 0
        fleet.send(batch(0, 1))
        fleet.send(batch(2, 2))
        groups = [fleet.next_group() for _ in range(4)]
        assert [g.request_id for g in groups] == [0, 1, 2, 3]  # submission order
        assert [g.generator for g in groups] == [0, 0, 1, 1]  # one whole batch per actor
        assert {v for g in groups for s in g.samples for v in s.versions} == {0}

        fleet.send(UpdateWeights(version=1, path=store.write(model, 1)))
        fleet.send(batch(4, 3))
        fleet.send(batch(6, 4))
        groups = [fleet.next_group() for _ in range(4)]
        assert {g.generator for g in groups} == {0, 1}
        assert {v for g in groups for s in g.samples for v in s.versions} == {1}
        assert fleet.loaded_version == 1

        bad = Prompt(request_id=9, prompt_index=0, prompt_ids=[10**6])  # no such token id
        fleet.send(Generate(prompts=[bad], n=1, seed=0, params=params))
        with pytest.raises(GeneratorError, match=r"(?s)generator actor \d failed: IndexError"):
            fleet.next_group()
    _no_actor_left()
    store.close()


def test_distributed_fleet_refuses_what_the_cluster_cannot_place(tmp_path, local_ray):
    cfg = TrainConfig(rollout={"mode": "sync"}, fleet={"num_generators": 3})
    start = Start(config=cfg.model_dump(mode="json"), model_dir="m", weights_path="w", version=0)
    with pytest.raises(ValueError, match=r"fleet.num_generators=3 .* needs 3 CPUs; .* has 2"):
        GeneratorFleet(start, 4, cfg.fleet, ordered=True, split_batches=False)
    vllm = TrainConfig(
        rollout={"mode": "sync", "engine": "vllm"},
        fleet={"num_generators": 1, "tensor_parallel_size": 2},
    )
    start = Start(config=vllm.model_dump(mode="json"), model_dir="m", weights_path="w", version=0)
    with pytest.raises(ValueError, match=r"tensor_parallel_size=2 .* the Ray cluster has 0"):
        GeneratorFleet(start, 4, vllm.fleet, ordered=True, split_batches=True)
    with pytest.raises(ValueError, match=r"fleet\.num_generators=2 needs a separate-process"):
        TrainConfig(fleet={"num_generators": 2}, rollout={"mode": "inline"})
    with pytest.raises(ValueError, match=r"fleet\.tensor_parallel_size=2 applies to the vllm"):
        TrainConfig(fleet={"tensor_parallel_size": 2}, rollout={"mode": "sync"})


@pytest.mark.vllm
@pytest.mark.parametrize("weight_sync", ["files", "broadcast"])
def test_distributed_two_vllm_actors_share_each_batch(
    tmp_path, tiny_config, local_ray, weight_sync
):
    """vLLM engines (a seed per request) split every batch across the actors; on-policy, the
    behaviour log-probs of both are the trainer's own, so every update reached each of them
    (from a file, or received by each vLLM worker from the broadcast). Splitting changes no
    sample: the run is exactly the one-generator-process run."""
    pytest.importorskip("vllm")
    out = tmp_path / "vllm"
    cfg = tiny_config(
        out,
        steps=3,
        off_policy_lag=0,
        rollout={"mode": "sync", "engine": "vllm"},
        fleet={"num_generators": 2, "weight_sync": weight_sync},
    )
    train(cfg)
    _no_actor_left()
    rows = read_jsonl(out / "train.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert [r["generator_groups"] for r in rows] == [[2, 2]] * 3  # 4 prompts, split in two
    assert all(r["staleness_max"] == 0 for r in rows)
    gaps = [r["logprob_gap"] for r in rows if r.get("logprob_gap") is not None]
    assert gaps and max(gaps) < 1e-4
    if weight_sync == "files":  # one comparison is enough (each vLLM run costs ~20 s)
        single = tmp_path / "single"
        train(cfg.model_copy(update={"out_dir": str(single), "fleet": FleetConfig()}))
        assert _rows(out / "train.jsonl") == _rows(single / "train.jsonl")
        assert _curve(out / "eval.jsonl") == _curve(single / "eval.jsonl")


def test_distributed_address_option_sets_the_cluster(monkeypatch, tmp_path):
    """``rlscaling train --address ...`` joins that Ray cluster (fleet.address), verbatim."""
    from typer.testing import CliRunner

    import rlscaling.trainer.loop as loop
    from rlscaling.cli import app

    seen = {}

    def fake_train(cfg):
        seen["cfg"] = cfg
        return loop.RunResult(tmp_path, cfg.steps, [{"reward": 0.5}])

    monkeypatch.setattr(loop, "train", fake_train)
    args = ["train", "--set", "rollout.mode=sync", "--set", "fleet.num_generators=2"]
    res = CliRunner().invoke(app, [*args, "--address", "[::1]:6379", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert seen["cfg"].fleet.address == "[::1]:6379"  # as YAML, a parse error
    assert seen["cfg"].fleet.num_generators == 2
