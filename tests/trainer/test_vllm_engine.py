"""vLLM rollout engine: agreement with the torch engine and the trainer, weight sync, in-flight
updates, length control, shutdown. One engine is shared by the whole module (start-up and the
first log-prob call, which compiles a kernel, take most of the time)."""

import copy
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("vllm", reason="needs the vllm extra: pip install 'rlscaling[vllm]'")

from rollout_helpers import interruption_params as _params  # noqa: E402
from rollout_helpers import trainer_logprobs  # noqa: E402

from rlscaling.trainer.config import ModelConfig  # noqa: E402
from rlscaling.trainer.model import build_tiny_model, build_tokenizer  # noqa: E402
from rlscaling.trainer.rollout import TorchEngine, VLLMEngine  # noqa: E402
from rlscaling.trainer.weights import write_weights  # noqa: E402

pytestmark = pytest.mark.vllm

PROMPTS = ["1+2=", "123+456=", "sort:98765=", "7="]


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def _sharpen(model, factor=5.0):
    # A freshly initialised model is nearly uniform and greedy decoding repeats one token;
    # larger weights give varied sequences and clear argmax margins.
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.mul_(factor)
    return model


@pytest.fixture(scope="module")
def model(tok):
    # head_dim = 64 / 2 = 32: the smallest head vLLM's CPU attention accepts
    cfg = ModelConfig(hidden_size=64, num_layers=2, num_heads=2, max_positions=128)
    return _sharpen(build_tiny_model(cfg, tok, seed=3)).eval()


def _children() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module")
def engine(model):
    before = _children()  # e.g. multiprocessing's resource tracker from earlier tests
    # With numba loaded (arviz loads it elsewhere in the suite), llvmlite's ffi.lib sits in
    # sys.modules and once made vLLM's start-up scan of modules fail: start with it loaded.
    try:
        import llvmlite.binding  # noqa: F401
    except ImportError:
        pass
    eng = VLLMEngine(model, max_num_seqs=64, seed=0)
    eng.children_before = before
    yield eng
    eng.close()


@pytest.fixture
def restore(engine, model):
    """Put the module model's weights back after a test that pushes others."""
    yield
    engine.update_weights(model, 0)


def _prompts(tok):
    return [tok(p)["input_ids"] for p in PROMPTS]


def _gap(model, samples, tok, temperature=1.0, forced_too=True):
    """Max |engine log-prob - trainer FP32 forward log-prob| over the response tokens."""
    logp, b = trainer_logprobs(model, samples, tok.pad_token_id, temperature)
    mask = b.response_mask if forced_too else b.loss_mask
    return ((logp - b.old_logp).abs() * mask).max().item()


@pytest.mark.parametrize("length_control", ["truncation", "interruption"])
def test_greedy_matches_the_torch_engine(engine, model, tok, length_control):
    prompts = _prompts(tok)
    probe = _params(tok, top_k=1, length_control="truncation", think_budget=12)
    first = TorchEngine(model).generate(prompts, [0, 1, 2, 3], 1, probe, 0)
    # a marker the greedy model actually emits, so both the marker and the budget rules fire
    marker = (first[1].response_ids[3],)
    forced = (*_params(tok).interruption_ids[:2], marker[0])  # "ok" + the marker
    params = _params(
        tok, top_k=1, length_control=length_control, marker_ids=marker, interruption_ids=forced
    )
    ours = engine.generate(prompts, [0, 1, 2, 3], 2, params, 0)
    ref = TorchEngine(model).generate(prompts, [0, 1, 2, 3], 2, params, 0)
    for a, b in zip(ours, ref, strict=True):
        assert a.response_ids == b.response_ids
        assert a.loss_mask == b.loss_mask
        assert (a.finish, a.interrupted) == (b.finish, b.interrupted)
        assert a.prompt_index == b.prompt_index and a.prompt_ids == b.prompt_ids
    assert len({tuple(s.response_ids) for s in ours}) > 2  # not one degenerate sequence
    if length_control == "interruption":
        assert any(s.interrupted for s in ours) and not all(s.interrupted for s in ours)


@pytest.mark.parametrize("length_control", ["truncation", "interruption"])
def test_logprobs_match_the_trainer_fp32_forward(engine, model, tok, length_control):
    samples = engine.generate(
        _prompts(tok), [0, 1, 2, 3], 4, _params(tok, length_control=length_control), 1
    )
    assert _gap(model, samples, tok) < 1e-5  # forced tokens included (temperature 1)
    assert all(isinstance(x, float) for s in samples for x in s.logprobs)
    assert all(s.versions == [0] * len(s.response_ids) for s in samples)


def test_logprobs_at_another_temperature(engine, model, tok):
    samples = engine.generate(_prompts(tok), [0, 1, 2, 3], 2, _params(tok, temperature=0.7), 2)
    assert _gap(model, samples, tok, temperature=0.7, forced_too=False) < 1e-5


def test_interruption_forces_the_phrase_with_loss_mask_0(engine, model, tok):
    params = _params(tok, think_budget=3, think_budget_jitter=2)
    samples = engine.generate([tok("1+1=")["input_ids"]], [0], 16, params, 5)
    forced = list(params.interruption_ids)
    interrupted = [s for s in samples if s.interrupted]
    assert interrupted
    for s in interrupted:
        k = next(i for i in range(3, 6) if s.response_ids[i : i + len(forced)] == forced)
        assert s.loss_mask[:k] == [1] * k
        assert s.loss_mask[k : k + len(forced)] == [0] * len(forced)
        assert all(m == 1 for m in s.loss_mask[k + len(forced) :])
        assert len(s.response_ids) - (k + len(forced)) <= params.answer_budget
    assert len({s.response_ids.index(forced[0], 3) for s in interrupted}) > 1  # jitter
    assert _gap(model, samples, tok) < 1e-5


def test_truncation_caps_length(engine, tok):
    params = _params(tok, length_control="truncation", think_budget=3, answer_budget=2)
    samples = engine.generate([tok("1+1=")["input_ids"]], [0], 16, params, 2)
    assert all(len(s.response_ids) <= 5 for s in samples)
    assert all(not s.interrupted and 0 not in s.loss_mask for s in samples)
    assert any(s.truncated for s in samples)
    assert all(s.response_ids[-1] == tok.eos_token_id for s in samples if not s.truncated)


def test_prompts_beyond_one_step_token_budget(engine, model, tok):
    # 64 prompts of ~100 tokens exceed vLLM's 4096-token step budget; a prompt split across
    # steps used to crash seeded sampling on CPU ("CPU Generator does not use offset")
    prompts = [tok("sort:" + "0123456789"[i % 10] * 95 + "=")["input_ids"] for i in range(16)]
    params = _params(tok, think_budget=3, answer_budget=2, length_control="truncation")
    samples = engine.generate(prompts, list(range(16)), 4, params, 0)
    assert len(samples) == 64 and all(1 <= len(s.response_ids) <= 5 for s in samples)
    assert _gap(model, samples[::8], tok) < 1e-5


def test_seeds(engine, tok):
    p = [tok("12+3=")["input_ids"]]
    a = engine.generate(p, [0], 4, _params(tok), 11)
    b = engine.generate(p, [0], 4, _params(tok), 11)
    c = engine.generate(p, [0], 4, _params(tok), 12)
    assert [s.response_ids for s in a] == [s.response_ids for s in b]
    assert [s.response_ids for s in a] != [s.response_ids for s in c]
    assert len({tuple(s.response_ids) for s in a}) > 1  # the n samples differ


def test_update_weights_reaches_the_engine(engine, model, tok, restore):
    new = copy.deepcopy(model)
    with torch.no_grad():
        for p in new.parameters():
            p.add_(0.05 * torch.randn_like(p, generator=torch.Generator().manual_seed(1)))
    engine.update_weights(new, 1)
    samples = engine.generate(_prompts(tok), [0, 1, 2, 3], 2, _params(tok), 3)
    assert all(s.versions == [1] * len(s.response_ids) for s in samples)
    assert _gap(new, samples, tok) < 1e-5  # the new weights...
    assert _gap(model, samples, tok) > 1e-2  # ...and not the old ones


def _always_emits(model, token):
    """A copy of ``model`` that puts (nearly) all probability on ``token`` in any context.

    A large constant in one embedding column dominates the residual stream, so the final
    norm's output points along that column; the tied LM head then favours the row with the
    largest entry there.
    """
    out = copy.deepcopy(model)
    with torch.no_grad():
        w = out.get_input_embeddings().weight
        w[:, 0] = 50.0
        w[token, 0] = 53.0
    return out


def test_in_flight_update_switches_mid_sequence(engine, model, tok, restore, tmp_path):
    x = tok.convert_tokens_to_ids("#")
    biased = _always_emits(model, x)
    ids = torch.tensor([tok("3+4=12")["input_ids"]])
    with torch.no_grad():
        probs = biased(ids).logits.softmax(-1)[0, :, x]
    assert probs.min() > 0.999  # the construction works in the trainer's forward
    params = _params(tok, length_control="truncation", marker_ids=(), answer_budget=40)
    for i, p in enumerate(_prompts(tok)):
        engine.submit(p, i, 4, params, 7)
    assert engine.in_flight() == 4
    done = []
    for _ in range(10):  # one decoding step per poll
        done += engine.poll()
    engine.update_weights_from_file(str(write_weights(biased, tmp_path / "w.safetensors")), 1)
    while engine.in_flight():
        done += engine.poll()
    samples = [s for g in done for s in g]
    assert sorted(g[0].prompt_index for g in done) == [0, 1, 2, 3]
    assert all(len(g) == 4 for g in done)
    crossed = [s for s in samples if 1 in s.versions]
    assert len(crossed) >= 12  # all but the few that ended with </s> before the switch
    before, after = [], []
    for s in crossed:
        k = s.versions.index(1)
        assert k == 10 and s.versions == [0] * k + [1] * (len(s.versions) - k)
        before += s.response_ids[:k]
        after += s.response_ids[k:]
        assert min(s.logprobs[k:]) > -1e-3  # new policy: log p(x) ~ 0
    assert before.count(x) / len(before) < 0.1
    assert after.count(x) == len(after)


def test_state_dict_restores_a_lagging_engine(engine, model, tok, restore):
    new = copy.deepcopy(model)
    with torch.no_grad():
        new.model.norm.weight.mul_(1.5)
    engine.hold_snapshot = True
    try:
        engine.update_weights(new, 4)
        state = engine.state_dict()
        engine.update_weights(model, 5)
        engine.load_state_dict(state)
    finally:
        engine.hold_snapshot = False
    assert engine.version == 4
    samples = engine.generate(_prompts(tok), [0, 1, 2, 3], 2, _params(tok), 4)
    assert all(s.version == 4 for s in samples)
    assert _gap(new, samples, tok) < 1e-5


def test_streamed_groups_with_one_seed_differ(engine, tok):
    # the pipeline submits a step's groups with one seed; they must not share random draws
    p = tok("5+5=")["input_ids"]
    for _ in range(2):
        engine.submit(p, 0, 2, _params(tok), 9)
    done = []
    while engine.in_flight():
        done += engine.poll()
    assert len(done) == 2
    assert [s.response_ids for s in done[0]] != [s.response_ids for s in done[1]]


def test_close_is_clean(engine, tok):
    shm = engine._weights_path
    engine.close()
    engine.close()  # idempotent
    assert _children() <= engine.children_before  # vLLM ran in this process, left nothing
    assert not shm.exists()
    with pytest.raises(RuntimeError, match="closed"):
        engine.generate([tok("1=")["input_ids"]], [0], 1, _params(tok), 0)
    torch.set_num_threads(1)  # the real function again, not vLLM's no-op replacement
    assert torch.get_num_threads() == 1
    assert os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0"


def test_default_kv_cache_holds_every_sequence_at_once(model, tok, caplog):
    # vLLM's CPU cache comes in blocks of 128 tokens: sized per token, 512 sequences of at
    # most 64 tokens got room for 320 and ran in two waves. 512 one-token samples must be
    # scheduled in a single step.
    eng = VLLMEngine(model, max_num_seqs=512, max_model_len=64, seed=0)
    try:
        assert eng.max_concurrent >= 512
        scheduler = eng._engine.engine_core.engine_core.scheduler
        schedule, sizes = scheduler.schedule, []

        def counting(*args, **kwargs):
            out = schedule(*args, **kwargs)
            sizes.append(len(out.num_scheduled_tokens))
            return out

        scheduler.schedule = counting
        prompts = [tok(f"{i}+{i}=")["input_ids"] for i in range(64)]
        params = _params(tok, answer_budget=1, marker_ids=(), length_control="truncation")
        samples = eng.generate(prompts, list(range(64)), 8, params, 0)
        assert len(samples) == 512 and all(len(s.response_ids) == 1 for s in samples)
        assert sizes[0] == 512
    finally:
        eng.close()
    # too small a cache on purpose: the engine says how many sequences fit
    with caplog.at_level("WARNING", logger="rlscaling.trainer.rollout.vllm_engine"):
        small = VLLMEngine(
            model, max_num_seqs=512, max_model_len=64, kv_cache_memory_bytes=32 << 20
        )
    try:
        assert small.max_concurrent < 512
        assert f"holds {small.max_concurrent} sequences" in caplog.text
    finally:
        small.close()


def test_train_runs_with_the_vllm_engine(tmp_path, tiny_config):
    from rlscaling.trainer.loop import train
    from rlscaling.trainer.runlog import read_jsonl

    cfg = tiny_config(
        tmp_path,
        steps=2,
        eval_every=2,
        warmup={"steps": 10},
        rollout={"engine": "vllm"},
        off_policy_lag=0,
        advantage={"zero_variance_filter": False},  # every step updates and logs the gap
    )
    result = train(cfg)
    rows = read_jsonl(tmp_path / "train.jsonl")
    assert [r["step"] for r in rows] == [1, 2] and len(result.evals) == 2
    # weights pushed after every step: on-policy ratios of 1 up to rounding
    assert all(r["logprob_gap"] < 1e-5 and r["staleness_max"] == 0 for r in rows)


@pytest.mark.parametrize("fp32_head", [True, False])
def test_fp32_lm_head_in_a_bf16_engine(model, tok, fp32_head):
    """With fp32_lm_head a bfloat16 engine projects onto the vocabulary in float32 (vLLM's
    head_dtype): the logits leave the head as float32, cast from bfloat16 hidden states and
    weights, as the trainer's FP32 head computes them; without it they are bfloat16."""
    from vllm.model_executor.layers import logits_processor

    seen = []
    real = logits_processor.LogitsProcessor._apply_head

    def recording(self, lm_head, hidden, bias):
        out = real(self, lm_head, hidden, bias)
        seen.append((hidden.dtype, out.dtype))
        return out

    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    eng = VLLMEngine(bf16, dtype="bfloat16", max_num_seqs=16, fp32_lm_head=fp32_head)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(logits_processor.LogitsProcessor, "_apply_head", recording)
            params = _params(tok, length_control="truncation")
            samples = eng.generate(_prompts(tok), [0, 1, 2, 3], 2, params, 1)
    finally:
        eng.close()
    head = torch.float32 if fp32_head else torch.bfloat16
    assert seen and set(seen) == {(torch.bfloat16, head)}
    # behaviour log-probs stay close to the trainer's FP32-head forward of the bf16 model
    # (the rest of the gap is the bf16 backbone: vLLM's CPU kernels round differently)
    assert _gap(bf16, samples, tok) < 0.1
