"""Loss math against hand-computed values, and the loss registry conformance suite."""

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from rlscaling.trainer.losses import (  # noqa: E402
    AGGREGATIONS,
    LOSSES,
    aggregate,
    aggregation_weights,
    get_loss,
    register_aggregation,
    register_loss,
)

CFG = SimpleNamespace(
    eps_max=5.0, clip_low=0.2, clip_high=0.28, gspo_clip_low=3e-3, gspo_clip_high=5e-3
)


def _grad(name, logp0, old, adv, mask, cfg=CFG, weights=None):
    logp = logp0.clone().requires_grad_()
    per_tok, metrics = get_loss(name)(logp, old, adv, mask, cfg)
    w = mask if weights is None else weights
    (per_tok * w).sum().backward()
    return logp.grad, per_tok.detach(), metrics


def test_cispo_gradient_is_truncated_weight_times_advantage():
    # rho = [0.5, 1, 8] on row 0 (8 is truncated to eps_max = 5), [2, 1, 1] on row 1
    old = torch.log(torch.tensor([[0.4, 0.5, 0.05], [0.1, 0.3, 0.3]]))
    new = torch.log(torch.tensor([[0.2, 0.5, 0.4], [0.2, 0.3, 0.3]]))
    adv = torch.tensor([1.5, -2.0])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    norm = mask.sum()
    grad, per_tok, metrics = _grad("cispo", new, old, adv, mask, weights=mask / norm)
    w = torch.tensor([[0.5, 1.0, 5.0], [2.0, 1.0, 1.0]])
    expected = -w * adv[:, None] * mask / norm
    torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-6)
    # the value is -sg(w) * A * logp; the weight contributes no gradient of its own
    torch.testing.assert_close(per_tok, -w * adv[:, None] * new, rtol=1e-5, atol=1e-6)
    assert metrics["clip_frac"] == pytest.approx(1 / 5)


def test_cispo_weight_is_stop_gradient_even_off_policy():
    # with a gradient through rho the derivative would be -A*rho*(1 + log p); it must be -A*rho
    old = torch.log(torch.tensor([[0.25]]))
    new = torch.log(torch.tensor([[0.5]]))
    grad, _, _ = _grad("cispo", new, old, torch.tensor([1.0]), torch.ones(1, 1))
    assert grad.item() == pytest.approx(-2.0)


def test_ppo_clips_both_sides_asymmetrically():
    # ratios: 0.5 (below 1-0.2), 1.1 (inside), 1.5 (above 1+0.28)
    old = torch.zeros(2, 3)
    new = torch.log(torch.tensor([[0.5, 1.1, 1.5], [0.5, 1.1, 1.5]]))
    adv = torch.tensor([1.0, -1.0])
    mask = torch.ones(2, 3)
    grad, per_tok, m = _grad("ppo", new, old, adv, mask)
    # A>0: clipped at the top (1.5 -> no gradient); low side not active (min picks rho*A)
    # A<0: clipped at the bottom (0.5 -> no gradient); high side not active
    expected = torch.tensor([[-0.5, -1.1, 0.0], [0.0, 1.1, 1.5]])
    torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        per_tok, torch.tensor([[-0.5, -1.1, -1.28], [0.8, 1.1, 1.5]]), rtol=1e-5, atol=1e-6
    )
    assert m["clip_frac"] == pytest.approx(2 / 6)
    assert m["clip_frac_high"] == pytest.approx(1 / 6)
    assert m["clip_frac_low"] == pytest.approx(1 / 6)


def test_grpo_is_symmetric():
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.25, 1.1]]))  # 1.25 > 1 + 0.2 clipped by GRPO, not by PPO
    adv = torch.tensor([1.0])
    g_grpo, _, _ = _grad("grpo", new, old, adv, torch.ones(1, 2))
    g_ppo, _, _ = _grad("ppo", new, old, adv, torch.ones(1, 2))
    torch.testing.assert_close(g_grpo, torch.tensor([[0.0, -1.1]]))
    torch.testing.assert_close(g_ppo, torch.tensor([[-1.25, -1.1]]))


def test_gspo_uses_one_sequence_ratio():
    old = torch.zeros(1, 3)
    new = torch.tensor([[0.001, -0.001, 0.003]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # masked token does not enter the ratio
    grad, _, _ = _grad("gspo", new, old, torch.tensor([1.0]), mask)
    s = 1.0  # exp(mean(0.001, -0.001)) = 1
    torch.testing.assert_close(grad, torch.tensor([[-s, -s, 0.0]]))
    # a sequence ratio beyond 1 + 5e-3 with positive advantage is clipped: no gradient
    grad2, _, m = _grad(
        "gspo", torch.full((1, 2), 0.01), torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2)
    )
    torch.testing.assert_close(grad2, torch.zeros(1, 2))
    assert m["clip_frac"] == 1.0


def test_aggregation_modes_by_hand():
    # 2 samples x 3 tokens; sample 0 has 3 tokens, sample 1 has 1
    per_tok = torch.tensor([[1.0, 2.0, 3.0], [10.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    same = torch.tensor([0, 0])
    diff = torch.tensor([0, 1])
    assert aggregate(per_tok, mask, same, "token").item() == pytest.approx(16 / 4)
    assert aggregate(per_tok, mask, same, "sample").item() == pytest.approx((2.0 + 10.0) / 2)
    # one prompt: all its tokens averaged together == token mean
    assert aggregate(per_tok, mask, same, "prompt").item() == pytest.approx(16 / 4)
    # two prompts: mean over prompts of each prompt's token mean
    assert aggregate(per_tok, mask, diff, "prompt").item() == pytest.approx((2.0 + 10.0) / 2)


def test_prompt_aggregation_three_samples_two_prompts():
    per_tok = torch.tensor([[1.0, 1.0], [3.0, 0.0], [5.0, 7.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    groups = torch.tensor([4, 4, 9])
    # prompt 4: tokens 1, 1, 3 -> 5/3; prompt 9: 5, 7 -> 6
    assert aggregate(per_tok, mask, groups, "prompt").item() == pytest.approx((5 / 3 + 6) / 2)


def test_aggregation_weights_split_into_microbatches():
    torch.manual_seed(0)
    per_tok = torch.randn(6, 4)
    mask = (torch.rand(6, 4) > 0.3).float()
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    for mode in AGGREGATIONS.names():
        w = aggregation_weights(mask, groups, mode)
        whole = aggregate(per_tok, mask, groups, mode)
        parts = (per_tok[:3] * w[:3]).sum() + (per_tok[3:] * w[3:]).sum()
        torch.testing.assert_close(whole, parts)


def test_unknown_aggregation_lists_choices_and_duplicates_raise():
    with pytest.raises(ValueError, match="unknown aggregation 'batch'; choose one of prompt, s"):
        aggregation_weights(torch.ones(1, 1), torch.zeros(1, dtype=torch.long), "batch")
    with pytest.raises(ValueError, match="aggregation 'token' is already registered"):
        register_aggregation("token")(lambda mask, groups: mask)


@pytest.mark.parametrize("name", AGGREGATIONS.names())
def test_aggregation_conformance(name):
    """Every registered aggregation: zero weight off the mask, weights summing to 1, and an
    empty sample (all tokens masked) changes nothing."""
    torch.manual_seed(2)
    mask = (torch.rand(6, 5) > 0.3).float()
    mask[0] = 1.0
    groups = torch.tensor([3, 3, 7, 7, 9, 9])
    w = aggregation_weights(mask, groups, name)
    assert w.shape == mask.shape
    assert torch.all(w[mask == 0] == 0) and torch.all(w[mask == 1] > 0)
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    padded = torch.cat([mask, torch.zeros(1, 5)])
    w_padded = aggregation_weights(padded, torch.cat([groups, torch.tensor([7])]), name)
    torch.testing.assert_close(w_padded[:-1], w)


# ---- registry conformance: every registered loss ---------------------------------------
@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_conformance(name):
    torch.manual_seed(1)
    b, t = 4, 5
    old = torch.log_softmax(torch.randn(b, t, 7), -1)[..., 0]
    adv = torch.randn(b)
    mask = (torch.rand(b, t) > 0.2).float()
    # on-policy (logp == old_logp) every loss is the plain policy gradient -A * grad logp
    grad, per_tok, metrics = _grad(name, old.clone(), old, adv, mask)
    assert per_tok.shape == (b, t)
    torch.testing.assert_close(grad, -adv[:, None].expand(b, t) * mask, rtol=1e-5, atol=1e-6)
    assert all(isinstance(v, float) for v in metrics.values())
    assert "clip_frac" in metrics
    # zero advantage: zero loss and zero gradient
    g0, p0, _ = _grad(name, old + 0.1, old, torch.zeros(b), mask)
    assert torch.all(p0 == 0) and torch.all(g0 == 0)


def test_registry_duplicate_raises_and_unknown_lists_choices():
    with pytest.raises(ValueError, match="already registered"):
        register_loss("cispo")(lambda *a: None)
    with pytest.raises(ValueError, match="cispo, grpo, gspo, ppo"):
        get_loss("reinforce++")
