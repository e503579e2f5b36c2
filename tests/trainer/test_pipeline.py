"""The generator-process pipeline: messages, the three modes, weights, errors, resume.

Each test that starts a generator process pays its start-up (a fresh interpreter importing
torch and transformers), so the runs are few and short.
"""

import itertools
import multiprocessing as mp

import pytest

torch = pytest.importorskip("torch")

from rollout_helpers import trainer_logprobs  # noqa: E402

from rlscaling.trainer.config import ModelConfig  # noqa: E402
from rlscaling.trainer.loop import train  # noqa: E402
from rlscaling.trainer.model import build_tiny_model, build_tokenizer, save_model  # noqa: E402
from rlscaling.trainer.pipeline import GeneratorClient, GeneratorError  # noqa: E402
from rlscaling.trainer.pipeline import run as pipeline_run  # noqa: E402
from rlscaling.trainer.pipeline.messages import (  # noqa: E402
    FROM_GENERATOR,
    TO_GENERATOR,
    FinishedGroup,
    Generate,
    GeneratorFailed,
    GeneratorStats,
    MessageError,
    Prompt,
    Ready,
    Shutdown,
    Start,
    UpdateWeights,
    WeightsLoaded,
    decode,
    encode,
)
from rlscaling.trainer.pipeline.orchestrator import Orchestrator  # noqa: E402
from rlscaling.trainer.rollout import Sample, SamplingParams  # noqa: E402
from rlscaling.trainer.runlog import read_jsonl  # noqa: E402
from rlscaling.trainer.weights import WeightStore, load_weights_file  # noqa: E402

PIPELINE_ONLY = {
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
}
TIMING = {"device_seconds", "tokens_per_second", "step_seconds"}


def _rows(path, drop=PIPELINE_ONLY | TIMING):
    return [{k: v for k, v in r.items() if k not in drop} for r in read_jsonl(path / "train.jsonl")]


def _curve(path):
    return [(r["step"], r["compute"], r["reward"], r["tokens"]) for r in read_jsonl(path)]


def _no_children():
    """No process started by this test process is left (multiprocessing or otherwise)."""
    assert mp.active_children() == []
    psutil = pytest.importorskip("psutil")
    spawned = [
        p
        for p in psutil.Process().children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline())  # not the resource tracker: it stays
    ]
    assert spawned == []


def _params(tok):
    return SamplingParams(
        temperature=1.0,
        length_control="truncation",
        think_budget=6,
        answer_budget=4,
        marker_ids=(tok.convert_tokens_to_ids("</think>"),),
        eos_id=tok.eos_token_id,
        pad_id=tok.pad_token_id,
    )


# ---- messages (no process) ----------------------------------------------------------------
def test_messages_round_trip_and_bad_ones_are_rejected():
    tok = build_tokenizer()
    sampling = _params(tok)
    sample = Sample(
        prompt_index=4,
        prompt_ids=[1, 5],
        response_ids=[7, 8, 2],
        logprobs=[-0.1, -0.2, -0.3],
        loss_mask=[1, 1, 1],
        versions=[3, 3, 4],
        finish="stop",
        text_ids=[7, 8],
    )
    to_gen = [
        Generate(
            prompts=[Prompt(request_id=0, prompt_index=4, prompt_ids=[1, 5])],
            n=2,
            seed=7,
            params=sampling,
        ),
        UpdateWeights(version=2, path="/dev/shm/x/v2.safetensors"),
        Shutdown(),
    ]
    group = FinishedGroup(
        request_id=0, prompt_index=4, samples=[sample], gen_seconds=0.5, gen_tokens=3
    )
    from_gen = [
        Ready(version=0, engine="torch", startup_seconds=1.0),
        group,
        WeightsLoaded(version=2, seconds=0.01),
        GeneratorStats(
            busy_seconds=1, idle_seconds=2, blocked_seconds=0, groups=1, tokens=3, version=2
        ),
        GeneratorFailed(message="ValueError: x", traceback="Traceback ..."),
    ]
    for msg in to_gen:
        data = encode(msg)
        assert isinstance(data, dict) and decode(data, TO_GENERATOR) == msg
    for msg in from_gen:
        assert decode(encode(msg), FROM_GENERATOR) == msg
    assert group.version == 3  # the oldest token's version
    back = decode(encode(group), FROM_GENERATOR).samples[0]
    assert isinstance(back, Sample) and back == sample  # one type on both sides of the queue
    assert back.prompt_index == 4 and back.version == 3 and back.text_ids == [7, 8]
    assert isinstance(decode(encode(to_gen[0]), TO_GENERATOR).params, SamplingParams)

    bad_sample = encode(group)
    bad_sample["samples"][0]["logprobs"] = [-0.1]
    with pytest.raises(MessageError, match=r"invalid group message: .*logprobs has 1 entries"):
        decode(bad_sample, FROM_GENERATOR)
    other_prompt = encode(group)
    other_prompt["samples"][0]["prompt_index"] = 5
    with pytest.raises(MessageError, match=r"samples of prompts \[5\] in the group of prompt 4"):
        decode(other_prompt, FROM_GENERATOR)
    bad_params = encode(to_gen[0])
    bad_params["params"]["temperature"] = 0.0
    with pytest.raises(MessageError, match=r"invalid generate message: params.temperature"):
        decode(bad_params, TO_GENERATOR)
    bad_params["params"] = {**encode(to_gen[0])["params"], "beam_width": 4}
    with pytest.raises(MessageError, match=r"invalid generate message: params.beam_width"):
        decode(bad_params, TO_GENERATOR)
    with pytest.raises(MessageError, match="invalid update_weights message: version"):
        decode({"kind": "update_weights", "version": "latest", "path": "p"}, TO_GENERATOR)
    with pytest.raises(MessageError, match=r"invalid shutdown message: .*[Ee]xtra"):
        decode({"kind": "shutdown", "now": True}, TO_GENERATOR)
    with pytest.raises(MessageError, match="invalid group message"):  # wrong direction
        decode(encode(group), TO_GENERATOR)
    with pytest.raises(MessageError, match="invalid \\? message"):
        decode({"version": 1}, TO_GENERATOR)
    with pytest.raises(MessageError, match="invalid list message"):
        decode([1, 2], FROM_GENERATOR)


def test_weight_files_round_trip_with_tied_embeddings(tmp_path):
    tok = build_tokenizer()
    cfg = ModelConfig(hidden_size=64, num_layers=1, num_heads=2)
    a, b = build_tiny_model(cfg, tok, seed=1), build_tiny_model(cfg, tok, seed=2)
    store = WeightStore(root=tmp_path)
    path = store.write(a, 5)
    from safetensors.torch import load_file

    assert {"model.embed_tokens.weight", "lm_head.weight"} <= set(load_file(path))  # both names
    load_weights_file(b, path)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
    assert b.get_input_embeddings().weight.data_ptr() == b.lm_head.weight.data_ptr()  # still tied
    store.write(a, 6)
    store.release_before(6)
    assert sorted(p.name for p in store.dir.iterdir()) == ["v6.safetensors"]
    store.close()
    assert not store.dir.exists()


# ---- the generator process ----------------------------------------------------------------
def test_generator_uses_the_pushed_weights_and_reports_errors(tmp_path):
    """Log-probs the generator records equal the trainer's forward pass at the same version,
    before and after an update; an error in the generator is raised here with its traceback
    and leaves no process behind."""
    torch.set_num_threads(1)
    tok = build_tokenizer()
    model = build_tiny_model(ModelConfig(hidden_size=64, num_layers=1, num_heads=2), tok, seed=0)
    save_model(model, tok, tmp_path / "model")
    store = WeightStore(root=tmp_path)
    from rlscaling.trainer.config import TrainConfig

    cfg = TrainConfig(rollout={"mode": "pipeline_k"}, off_policy_lag=1)
    start = Start(
        config=cfg.model_dump(mode="json"),
        model_dir=str(tmp_path / "model"),
        weights_path=store.write(model, 0),
        version=0,
    )
    prompts = [tok(p)["input_ids"] for p in ["sort:321=", "12+34="]]
    params = _params(tok)

    def generate(client, seed, first_id):
        items = [
            Prompt(request_id=first_id + i, prompt_index=i, prompt_ids=ids)
            for i, ids in enumerate(prompts)
        ]
        client.send(Generate(prompts=items, n=3, seed=seed, params=params))
        groups = [client.next_group() for _ in prompts]
        assert [g.request_id for g in groups] == [first_id, first_id + 1]
        return [s for g in groups for s in g.samples]

    def max_gap(samples):
        logp, batch = trainer_logprobs(model, samples, tok.pad_token_id)
        return float(((logp - batch.old_logp).abs() * batch.loss_mask).max())

    with GeneratorClient(start, queue_size=8) as client:
        assert client.wait_ready(300).version == 0
        before = generate(client, 1, 0)
        assert {v for s in before for v in s.versions} == {0}
        assert max_gap(before) < 1e-5

        with torch.no_grad():  # the trainer's policy moves on: version 1
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        assert max_gap(before) > 1e-3  # so the check below can tell the versions apart
        client.send(UpdateWeights(version=1, path=store.write(model, 1)))
        after = generate(client, 1, 2)
        assert {v for s in after for v in s.versions} == {1}
        assert max_gap(after) < 1e-5
        assert client.loaded_version == 1

        bad = Prompt(request_id=9, prompt_index=0, prompt_ids=[10**6])  # no such token id
        client.send(Generate(prompts=[bad], n=1, seed=0, params=params))
        with pytest.raises(GeneratorError, match=r"(?s)IndexError.*generator traceback"):
            client.next_group()
    assert client.process.exitcode is not None
    _no_children()
    store.close()


# ---- the three modes ----------------------------------------------------------------------
def test_sync_reproduces_the_in_process_loop_on_policy(tmp_path, tiny_config):
    train(tiny_config(tmp_path / "inline", steps=3, eval_every=1, off_policy_lag=0))
    sync = tmp_path / "sync"
    train(tiny_config(sync, steps=3, eval_every=1, off_policy_lag=0, rollout={"mode": "sync"}))
    _no_children()
    rows = read_jsonl(sync / "train.jsonl")
    assert [r["staleness_hist"] for r in rows] == [[16]] * 3  # 4 prompts x 4 samples, lag 0
    assert all(r["staleness_max"] == 0 and r["dropped_stale"] == 0 for r in rows)
    assert [r["pushed_version"] for r in rows] == [1, 2, 2]  # no push after the last step
    assert all(0 <= r["trainer_idle_frac"] <= 1 and r["gen_seconds"] > 0 for r in rows)
    # same seeds, same weights: exactly the in-process loop's samples, losses and evaluations
    assert _rows(sync) == _rows(tmp_path / "inline")
    assert _curve(sync / "eval.jsonl") == _curve(tmp_path / "inline" / "eval.jsonl")


def test_off_policy_k_pushes_every_k_steps(tmp_path, tiny_config):
    off = tmp_path / "off"
    train(tiny_config(off, steps=4, off_policy_lag=2, rollout={"mode": "off_policy_k"}))
    rows = read_jsonl(off / "train.jsonl")
    # two batches per policy: lags 0 then 1, and the weights move at steps 2 and 4 only
    assert [r["staleness_hist"] for r in rows] == [[16, 0], [0, 16], [16, 0], [0, 16]]
    assert [r["pushed_version"] for r in rows] == [0, 2, 2, 2]
    # the in-process loop refreshing every 2 steps (lag 1) is the same schedule
    inline = tmp_path / "inline"
    train(tiny_config(inline, steps=4, off_policy_lag=1))
    assert _rows(off) == _rows(inline)


def test_pipeline_k_never_trains_beyond_the_lag_and_counts_drops(
    tmp_path, tiny_config, monkeypatch
):
    # two batches more in flight than the bound allows: those groups come back too stale
    monkeypatch.setattr(Orchestrator, "extra_batches", 2)
    out = tmp_path / "pipe"
    train(tiny_config(out, steps=5, off_policy_lag=1, rollout={"mode": "pipeline_k"}))
    _no_children()
    rows = read_jsonl(out / "train.jsonl")
    assert all(len(r["staleness_hist"]) == 2 and sum(r["staleness_hist"]) == 16 for r in rows)
    assert max(r["staleness_max"] for r in rows) <= 1
    dropped = [r["dropped_stale"] for r in rows]
    assert sum(dropped) > 0
    assert [r["dropped_stale_total"] for r in rows] == [sum(dropped[: i + 1]) for i in range(5)]
    assert [r["pushed_version"] for r in rows] == [1, 2, 3, 4, 4]


# ---- stopping and resuming ----------------------------------------------------------------
def test_pipeline_stops_cleanly_and_resumes_the_same_curve(tmp_path, tiny_config, monkeypatch):
    def cfg(steps):
        return tiny_config(
            out,
            steps=steps,
            eval_every=1,
            checkpoint_every=2,
            off_policy_lag=1,
            rollout={"mode": "pipeline_k"},
        )

    out = tmp_path / "run"
    train(cfg(4))
    first = _curve(out / "eval.jsonl")
    assert [c[0] for c in first] == [0, 1, 2, 3, 4]

    calls = {"n": 0}
    real_score = pipeline_run.score_samples

    def dying_score(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # Ctrl-C inside step 8: checkpoint 6 written, step 7 logged
            raise KeyboardInterrupt
        return real_score(*args, **kwargs)

    monkeypatch.setattr(pipeline_run, "score_samples", dying_score)
    with pytest.raises(KeyboardInterrupt):
        train(cfg(8))
    _no_children()
    assert max(r["step"] for r in read_jsonl(out / "train.jsonl")) == 7

    monkeypatch.setattr(pipeline_run, "score_samples", real_score)
    train(cfg(8))
    _no_children()
    evals = _curve(out / "eval.jsonl")
    assert evals[:5] == first  # the first N steps are untouched
    assert [c[0] for c in evals] == list(range(9))
    assert all(b[1] > a[1] for a, b in itertools.pairwise(evals))  # compute grows
    rows = read_jsonl(out / "train.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert all(r["staleness_max"] <= 1 for r in rows)
    # at checkpoint 6, k + 1 = 2 batches of 4 prompts were in flight (for steps 7 and 8); the
    # resumed run generated them again from the checkpoint's weights and counts them (the
    # 4-step run ended with nothing in flight)
    assert [r["discarded_in_flight"] for r in rows] == [0] * 6 + [8, 8]


# ---- with the vLLM engine (continuous batching, in-flight updates) ------------------------
@pytest.mark.vllm
@pytest.mark.parametrize("mode", ["sync", "pipeline_k"])
def test_pipeline_with_the_vllm_engine(tmp_path, tiny_config, mode):
    pytest.importorskip("vllm")
    out = tmp_path / mode
    cfg = tiny_config(out, steps=4, off_policy_lag=1, rollout={"mode": mode, "engine": "vllm"})
    train(cfg)
    _no_children()
    rows = read_jsonl(out / "train.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert max(r["staleness_max"] for r in rows) <= (0 if mode == "sync" else 1)
    if mode == "sync":
        # on-policy: the generator's behaviour log-probs are the trainer's own, so every
        # pushed update reached vLLM (a stale LM head or layer would show up here)
        gaps = [r["logprob_gap"] for r in rows if r.get("logprob_gap") is not None]
        assert gaps and max(gaps) < 1e-4


# ---- the schedule of each mode, without a process ----------------------------------------
class _FakeClient:
    """Records what the orchestrator sends; hands back groups at chosen versions."""

    loaded_version = 0

    def __init__(self):
        self.sent = []

    def send(self, msg):
        self.sent.append(msg)


def _orchestrator(tmp_path, mode, k, steps, start=0):
    from types import SimpleNamespace

    from rlscaling.trainer.config import TrainConfig
    from rlscaling.trainer.sampler import PromptSampler

    tok = build_tokenizer()
    cfg = TrainConfig(
        steps=steps, prompts_per_step=2, off_policy_lag=k, rollout={"mode": mode, "n_samples": 2}
    )
    run = SimpleNamespace(
        cfg=cfg,
        start=start,
        model=torch.nn.Linear(2, 2),
        params=_params(tok),
        prompt_ids=[[1, 5 + i] for i in range(10)],
        sampler=PromptSampler(10, seed=0, npr=False),
    )
    client = _FakeClient()
    return Orchestrator(run, client, WeightStore(root=tmp_path)), client


def _schedule(orch, client, first_step, steps):
    """Per step: what was sent before it was trained ("g<seed batch>" / "w<version>")."""
    from rlscaling.trainer.steps import step_seed

    seeds = {step_seed(0, j, 1): j for j in range(orch.steps)}
    out = []
    orch.plan(first_step)
    for step in range(first_step, steps):
        out.append(
            [
                f"w{m.version}" if isinstance(m, UpdateWeights) else f"g{seeds[m.seed]}"
                for m in client.sent
            ]
        )
        client.sent.clear()
        for rid in list(orch.pending)[: orch.batch]:  # the step trains one batch
            del orch.pending[rid]
        orch.after_update(step + 1)
    return out


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("sync", [["g0"], ["w1", "g1"], ["w2", "g2"], ["w3", "g3"], ["w4", "g4"]]),
        ("off_policy_k", [["g0", "g1"], [], ["w2", "g2", "g3"], [], ["w4", "g4"]]),
        ("pipeline_k", [["g0", "g1", "g2"], ["w1", "g3"], ["w2", "g4"], ["w3"], ["w4"]]),
    ],
)
def test_each_mode_submits_and_pushes_on_its_schedule(tmp_path, mode, expected):
    orch, client = _orchestrator(tmp_path, mode, k=2, steps=5)
    assert _schedule(orch, client, 0, 5) == expected
    assert orch.max_lag == {"sync": 0, "off_policy_k": 1, "pipeline_k": 2}[mode]


def test_off_policy_k_resumed_mid_cycle_resubmits_the_rest_of_the_cycle(tmp_path):
    orch, client = _orchestrator(tmp_path, "off_policy_k", k=3, steps=7)
    _schedule(orch, client, 0, 4)  # steps 0-3 trained: batches 4 and 5 are in flight
    state = orch.state_dict()
    assert len(state["pending"]) == 4 and state["batches"] == 6

    again, client = _orchestrator(tmp_path, "off_policy_k", k=3, steps=7, start=4)
    again.load_state_dict(state)
    assert again.discarded == 4
    # the two batches go out again with their own seeds; the next push is at step 6
    assert _schedule(again, client, 4, 7) == [["g4", "g5"], [], ["w6", "g6"]]
