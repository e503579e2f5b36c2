"""The update's metrics over micro-batches: each reduced by its kind (max by max, ...)."""

import copy

import pytest

torch = pytest.importorskip("torch")

from rollout_helpers import trainer_logprobs  # noqa: E402

from rlscaling.trainer.config import ModelConfig, TrainConfig  # noqa: E402
from rlscaling.trainer.model import build_tiny_model, build_tokenizer  # noqa: E402
from rlscaling.trainer.policy import collate  # noqa: E402
from rlscaling.trainer.rollout import Sample  # noqa: E402
from rlscaling.trainer.update import make_optimizer, policy_update, reduce_metrics  # noqa: E402


def test_reduce_metrics_by_hand():
    parts = [
        ({"ratio_mean": 1.0, "ratio_max": 3.0, "ratio_min": 0.5, "n_clipped": 2.0}, 0.25),
        ({"ratio_mean": 2.0, "ratio_max": 2.0, "ratio_min": 0.8, "n_clipped": 5.0}, 0.75),
        ({"ratio_mean": 1.0, "ratio_max": 1.0, "ratio_min": 1.0, "n_clipped": 0.0}, 0.0),
    ]
    out = reduce_metrics(parts)
    # mean weighted by token share: 0.25 * 1 + 0.75 * 2; the share-0 micro-batch (no loss
    # tokens) is left out, else its placeholder 1.0 would be the minimum
    assert out == {"ratio_mean": 1.75, "ratio_max": 3.0, "ratio_min": 0.5, "n_clipped": 7.0}
    assert reduce_metrics([({"ratio_max": 1.0}, 0.0)]) == {"ratio_max": 0.0}


def test_micro_batches_report_the_batch_max_ratio():
    """CISPO's ratio_max with one sample per micro-batch equals the whole batch's (it was the
    token-weighted mean of the per-micro-batch maxima)."""
    torch.manual_seed(0)
    tok = build_tokenizer()
    model = build_tiny_model(ModelConfig(hidden_size=64, num_layers=1, num_heads=2), tok, seed=0)
    ids = [tok("sort:321=")["input_ids"], tok("12+34=")["input_ids"]]
    samples = [
        Sample(
            prompt_index=i // 2,
            prompt_ids=ids[i // 2],
            response_ids=torch.randint(5, 60, (4,)).tolist(),
            logprobs=[0.0] * 4,
            loss_mask=[1, 1, 1, 0],
            versions=[0] * 4,
            finish="truncated",
        )
        for i in range(4)
    ]
    logp, _ = trainer_logprobs(model, samples, tok.pad_token_id)
    ratio = torch.tensor([1.5, 3.0, 0.7, 2.0])  # per sample: behaviour = trainer - log(ratio)
    for s, row, r in zip(samples, logp, ratio, strict=True):
        s.logprobs = (row[: len(s.response_ids)] - torch.log(r)).tolist()
    batch = collate(
        [s.prompt_ids for s in samples],
        [s.response_ids for s in samples],
        tok.pad_token_id,
        [s.loss_mask for s in samples],
        [s.logprobs for s in samples],
    )
    adv, groups = torch.tensor([1.0, -1.0, 0.5, -0.5]), torch.tensor([0, 0, 1, 1])

    def update(micro_batch_size):
        m = copy.deepcopy(model)
        cfg = TrainConfig(micro_batch_size=micro_batch_size, loss={"name": "cispo"})
        opt, sched = make_optimizer(m, cfg.optim)
        return policy_update(m, opt, sched, batch, adv, groups, cfg)

    whole, split = update(0), update(1)
    assert whole["ratio_max"] == pytest.approx(3.0, rel=1e-4)
    assert split["ratio_max"] == pytest.approx(whole["ratio_max"], rel=1e-6)
    assert split["ratio_mean"] == pytest.approx(whole["ratio_mean"], rel=1e-5)
    assert whole["ratio_mean"] == pytest.approx(float(ratio.mean()), rel=1e-4)  # equal lengths


def _bf16_steps(master: bool, steps: int = 10):
    """A bf16 linear layer of weights 1.0 stepped by AdamW at lr 1e-3 with a constant gradient:
    each step moves an FP32 weight by 1e-3 (Adam's first steps have |m / sqrt(v)| = 1), less
    than half the bfloat16 spacing just below 1.0 (2**-9 = 0.00195)."""
    from rlscaling.trainer.config import OptimConfig
    from rlscaling.trainer.update import clip_and_step

    layer = torch.nn.Linear(4, 1, bias=False)
    torch.nn.init.ones_(layer.weight)
    layer = layer.to(torch.bfloat16)
    cfg = OptimConfig(lr=1e-3, weight_decay=0.0, max_grad_norm=1e6, fp32_master_weights=master)
    opt, sched = make_optimizer(layer, cfg)
    x = torch.ones(1, 4, dtype=torch.bfloat16)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        layer(x).sum().backward()
        clip_and_step(layer, opt, cfg.max_grad_norm)
        sched.step()
    return layer, opt


def test_pure_bf16_rounds_small_updates_away():
    layer, _ = _bf16_steps(master=False)
    assert torch.equal(layer.weight, torch.ones_like(layer.weight))  # ten steps lost


def test_fp32_master_weights_keep_small_updates():
    from rlscaling.trainer.update import FP32MasterWeights

    layer, opt = _bf16_steps(master=True)
    assert isinstance(opt, FP32MasterWeights)
    # the FP32 copy moved 10 x 1e-3; the model holds it rounded to bf16 (253/256, the nearest)
    assert torch.allclose(opt.master[0], torch.full((1, 4), 0.99), atol=1e-6)
    assert torch.equal(layer.weight, torch.full((1, 4), 253 / 256, dtype=torch.bfloat16))
    assert layer.weight.dtype == torch.bfloat16


def test_master_weights_resume_from_the_fp32_copy(tmp_path):
    """A checkpoint holds the FP32 copies: a resume continues from 0.99, not from the rounded
    0.98828 of the model, and the saved state loads with weights_only=True."""
    layer, opt = _bf16_steps(master=True)
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    fresh, fresh_opt = _bf16_steps(master=True, steps=0)
    fresh.load_state_dict(layer.state_dict())
    fresh_opt.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert torch.equal(fresh_opt.master[0], opt.master[0])
    assert fresh_opt.inner.state_dict()["state"][0]["step"] == 10
    _, plain = _bf16_steps(master=False, steps=0)
    with pytest.raises(ValueError, match="no FP32 master weights"):
        fresh_opt.load_state_dict(plain.state_dict())


def test_fp32_model_steps_its_own_parameters():
    from rlscaling.trainer.config import OptimConfig

    layer = torch.nn.Linear(4, 1)
    opt, _ = make_optimizer(layer, OptimConfig(fp32_master_weights=True))
    assert isinstance(opt, torch.optim.AdamW)  # nothing to keep: the weights are FP32


@pytest.mark.parametrize("master", [True, False])
def test_bf16_warmup_uses_fp32_master_weights(master):
    """The supervised warm-up of a bf16 model steps FP32 master weights too. At lr 1e-6 a step
    is below half the bf16 spacing of every weight larger than ~5e-4 (typical |w| ~ 0.013):
    without master weights almost none moves in 40 steps; with them the sum of the steps
    crosses the spacing of the smaller weights."""
    from rlscaling.trainer.tasks import get_task
    from rlscaling.trainer.warmup import supervised_warmup

    cfg = TrainConfig(
        model={"hidden_size": 64, "num_layers": 1, "num_heads": 2, "dtype": "bfloat16"},
        task={"name": "sorting", "difficulty": 3},
        warmup={"steps": 40, "lr": 1e-6, "batch_size": 4},
        optim={"fp32_master_weights": master},
    )
    tok = build_tokenizer()
    model = build_tiny_model(cfg.model, tok, seed=0)
    before = copy.deepcopy(model)
    rng = __import__("numpy").random.default_rng(0)
    problems = [get_task("sorting").generate(rng, 3) for _ in range(32)]
    supervised_warmup(model, tok, problems, cfg, "cpu")
    w0 = before.model.layers[0].mlp.down_proj.weight
    w1 = model.model.layers[0].mlp.down_proj.weight
    assert w1.dtype == torch.bfloat16
    moved = (w1 != w0).float().mean().item()
    # measured: 34% of the weights moved with master weights, 2% without
    assert moved > 0.2 if master else moved < 0.05
