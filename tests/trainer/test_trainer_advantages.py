"""Advantage estimators and zero-variance filtering by hand; registry conformance."""

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from rlscaling.trainer.advantages import (  # noqa: E402
    ADVANTAGES,
    get_advantage,
    register_advantage,
    zero_variance_keep,
)

CFG = SimpleNamespace(std_eps=0.0)
R = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
G = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])


def test_group_centred():
    a = get_advantage("group_centred")(R, G, CFG)
    torch.testing.assert_close(
        a, torch.tensor([0.75, -0.25, -0.25, -0.25, 0.25, 0.25, 0.25, -0.75])
    )


def test_batch_std_divides_by_std_of_all_centred_rewards():
    centred = torch.tensor([0.75, -0.25, -0.25, -0.25, 0.25, 0.25, 0.25, -0.75])
    a = get_advantage("batch_std")(R, G, CFG)
    torch.testing.assert_close(a, centred / centred.std())
    assert a.std().item() == pytest.approx(1.0)


def test_group_std_divides_each_group_by_its_std():
    a = get_advantage("group_std")(R, G, CFG)
    sd = torch.tensor([1.0, 0.0, 0.0, 0.0]).std()  # both groups have the same spread
    torch.testing.assert_close(a[:4], torch.tensor([0.75, -0.25, -0.25, -0.25]) / sd)
    torch.testing.assert_close(a[4:], torch.tensor([0.25, 0.25, 0.25, -0.75]) / sd)


def test_none_is_raw_reward():
    torch.testing.assert_close(get_advantage("none")(R, G, CFG), R)


def test_zero_variance_filtering():
    r = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    g = torch.tensor([7, 7, 3, 3, 5, 5])
    assert zero_variance_keep(r, g).tolist() == [False, False, True, True, False, False]


@pytest.mark.parametrize("name", ADVANTAGES.names())
def test_advantage_conformance(name):
    torch.manual_seed(0)
    r = (torch.rand(12) > 0.5).float()
    g = torch.arange(12) // 4
    a = get_advantage(name)(r, g, SimpleNamespace(std_eps=1e-6))
    assert a.shape == r.shape and torch.isfinite(a).all()
    # a constant group gets the same advantage for every member
    r2 = torch.tensor([1.0, 1.0, 0.0, 1.0])
    a2 = get_advantage(name)(r2, torch.tensor([0, 0, 1, 1]), SimpleNamespace(std_eps=1e-6))
    assert a2[0] == a2[1]


def test_registry_errors():
    with pytest.raises(ValueError, match="already registered"):
        register_advantage("batch_std")(lambda *a: None)
    with pytest.raises(ValueError, match="batch_std, group_centred, group_std, none"):
        get_advantage("gae")
