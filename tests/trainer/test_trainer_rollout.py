"""Torch rollout engine: log-prob agreement with the trainer, length control, snapshots."""

import pytest

torch = pytest.importorskip("torch")

from rollout_helpers import interruption_params as _params  # noqa: E402
from rollout_helpers import trainer_logprobs  # noqa: E402

from rlscaling.trainer.config import ModelConfig  # noqa: E402
from rlscaling.trainer.model import (  # noqa: E402
    build_tiny_model,
    build_tokenizer,
    load_model,
    save_model,
)
from rlscaling.trainer.rollout import (  # noqa: E402
    ENGINES,
    TorchEngine,
    register_engine,
)
from rlscaling.trainer.rollout.torch_engine import filter_logits  # noqa: E402


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return build_tiny_model(ModelConfig(hidden_size=64, num_layers=2, num_heads=2), tok, seed=3)


PROMPTS = ["1+2=", "123+456=", "sort:98765=", "7="]


@pytest.mark.parametrize("length_control", ["interruption", "truncation"])
def test_sampling_and_training_logprobs_agree_fp32(model, tok, length_control):
    eng = TorchEngine(model)
    prompts = [tok(p)["input_ids"] for p in PROMPTS]  # different lengths: left padding
    samples = eng.generate(prompts, [0, 1, 2, 3], 4, _params(tok, length_control=length_control), 0)
    logp, b = trainer_logprobs(model, samples, tok.pad_token_id)
    assert ((logp - b.old_logp).abs() * b.response_mask).max().item() < 1e-5


def test_logprobs_agree_at_other_temperature(model, tok):
    eng = TorchEngine(model)
    prompts = [tok(p)["input_ids"] for p in PROMPTS]
    samples = eng.generate(prompts, [0, 1, 2, 3], 2, _params(tok, temperature=0.7), 1)
    logp, b = trainer_logprobs(model, samples, tok.pad_token_id, temperature=0.7)
    assert ((logp - b.old_logp).abs() * b.response_mask).max().item() < 1e-5


def test_interruption_forces_the_phrase_and_masks_it(model, tok):
    # an untrained model rarely emits </think>: it gets interrupted at the budget
    eng = TorchEngine(model)
    params = _params(tok, think_budget=3, think_budget_jitter=2)
    samples = eng.generate([tok("1+1=")["input_ids"]], [0], 16, params, 5)
    forced = list(params.interruption_ids)
    interrupted = [s for s in samples if s.interrupted]
    assert interrupted
    for s in interrupted:
        k = s.response_ids.index(forced[0], 3) if forced[0] in s.response_ids[3:] else None
        assert k is not None and 3 <= k <= 5
        assert s.response_ids[k : k + len(forced)] == forced
        assert s.loss_mask[k : k + len(forced)] == [0] * len(forced)
        assert all(m == 1 for m in s.loss_mask[:k])
        # the answer after the marker is at most answer_budget tokens
        assert len(s.response_ids) - (k + len(forced)) <= params.answer_budget


def test_truncation_caps_length(model, tok):
    eng = TorchEngine(model)
    params = _params(tok, length_control="truncation", think_budget=3, answer_budget=2)
    samples = eng.generate([tok("1+1=")["input_ids"]], [0], 16, params, 2)
    assert all(len(s.response_ids) <= 5 for s in samples)
    assert all(not s.interrupted for s in samples)
    assert any(s.truncated for s in samples)
    assert all(s.finish == "stop" for s in samples if not s.truncated)


def test_same_seed_same_samples(model, tok):
    eng = TorchEngine(model)
    p = [tok("12+3=")["input_ids"]]
    a = eng.generate(p, [0], 4, _params(tok), 11)
    b = eng.generate(p, [0], 4, _params(tok), 11)
    assert [s.response_ids for s in a] == [s.response_ids for s in b]


def test_snapshot_lags_until_sync_and_then_matches_trainer(tok):
    model = build_tiny_model(ModelConfig(hidden_size=64, num_layers=1, num_heads=2), tok, seed=0)
    eng = TorchEngine(model, hold_snapshot=True, version=0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    samples = eng.generate([tok("5+5=")["input_ids"]], [0], 4, _params(tok), 0)
    assert all(s.version == 0 for s in samples)
    logp, b = trainer_logprobs(model, samples, tok.pad_token_id)
    assert ((logp - b.old_logp).abs() * b.response_mask).max().item() > 1e-3  # stale
    eng.update_weights(model, 1)
    samples = eng.generate([tok("5+5=")["input_ids"]], [0], 4, _params(tok), 0)
    assert all(s.version == 1 for s in samples)
    logp, b = trainer_logprobs(model, samples, tok.pad_token_id)
    assert ((logp - b.old_logp).abs() * b.response_mask).max().item() < 1e-5


def test_engine_state_round_trip(tok, model):
    eng = TorchEngine(model, hold_snapshot=True, version=3)
    other = TorchEngine(
        build_tiny_model(ModelConfig(hidden_size=64, num_layers=2, num_heads=2), tok, seed=9),
        hold_snapshot=True,
    )
    other.load_state_dict(eng.state_dict())
    assert other.version == 3
    p = [tok("9+9=")["input_ids"]]
    a = eng.generate(p, [0], 3, _params(tok), 4)
    b = other.generate(p, [0], 3, _params(tok), 4)
    assert [s.logprobs for s in a] == [s.logprobs for s in b]


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    k2 = filter_logits(logits, top_k=2)
    assert torch.isinf(k2[0, 2:]).all() and torch.isfinite(k2[0, :2]).all()
    p = filter_logits(logits, top_p=0.7)  # keeps 0.5 and 0.3 (cumulative 0.8 >= 0.7)
    assert torch.isfinite(p[0, :2]).all() and torch.isinf(p[0, 2:]).all()


def test_saved_model_loads_with_auto_classes(tmp_path, model, tok):
    save_model(model, tok, tmp_path / "m")
    m2, t2 = load_model(tmp_path / "m")
    assert t2("12+3=")["input_ids"] == tok("12+3=")["input_ids"]
    assert m2.config.hidden_size // m2.config.num_attention_heads >= 32
    x = torch.tensor([tok("12+3=")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(m2(x).logits, model(x).logits)


def test_engine_registry():
    assert "torch" in ENGINES.names()
    with pytest.raises(ValueError, match="already registered"):
        register_engine("torch")(TorchEngine)


def test_interruption_point_is_drawn_from_the_window_and_seeded(model, tok):
    """Interruption at a random point of [think_budget, think_budget + jitter] (ScaleRL: 10k to
    12k thinking tokens): several points of the window are used, the same seed repeats them."""
    eng = TorchEngine(model)
    params = _params(tok, think_budget=3, think_budget_jitter=4)
    forced = list(params.interruption_ids)

    def points(seed):
        out = []
        for s in eng.generate([tok("1+1=")["input_ids"]], [0], 32, params, seed):
            if s.interrupted:
                out.append(s.response_ids.index(forced[0], 3))
        return out

    first = points(11)
    assert first == points(11)
    assert set(first) <= set(range(3, 8)) and len(set(first)) >= 3
