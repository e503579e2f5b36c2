"""No-positive-resampling."""

import pytest

pytest.importorskip("torch")

from rlscaling.trainer.sampler import PromptSampler


def _epoch(s, n):
    return sorted(s.next_batch(n))


def test_epochs_cover_all_prompts_without_npr():
    s = PromptSampler(5, seed=1, npr=False)
    assert _epoch(s, 5) == [0, 1, 2, 3, 4]
    for i in range(5):
        s.update(i, 8, 8)
    assert _epoch(s, 5) == [0, 1, 2, 3, 4]
    assert s.n_retired == 0


def test_npr_retires_prompts_at_threshold_from_later_epochs_only():
    s = PromptSampler(4, seed=0, npr=True, threshold=0.9)
    first = s.next_batch(2)
    s.update(first[0], 9, 10)  # 0.9 reaches the threshold
    s.update(first[1], 8, 10)  # 0.8 does not
    rest = s.next_batch(2)  # same epoch: nothing retires mid-epoch
    assert sorted(first + rest) == [0, 1, 2, 3]
    nxt = _epoch(s, 3)
    assert first[0] not in nxt and first[1] in nxt
    assert s.n_retired == 1 and s.n_active == 3


def test_npr_uses_the_whole_history_and_min_groups():
    s = PromptSampler(2, seed=0, npr=True, threshold=0.9, min_groups=2)
    s.next_batch(2)
    s.update(0, 8, 8)
    s.update(1, 8, 8)
    assert _epoch(s, 2) == [0, 1]  # only one group each: not yet
    s.update(0, 8, 8)
    s.update(1, 0, 8)  # history of prompt 1: 8/16 = 0.5
    assert _epoch(s, 1) == [1]


def test_all_retired_readmits():
    s = PromptSampler(2, seed=0, npr=True)
    s.next_batch(2)
    s.update(0, 1, 1)
    s.update(1, 1, 1)
    assert _epoch(s, 2) == [0, 1]
    assert s.readmissions == 1


def test_state_round_trip_continues_identically():
    a = PromptSampler(10, seed=3)
    a.next_batch(4)
    a.update(1, 3, 4)
    b = PromptSampler(10, seed=99)
    b.load_state_dict(a.state_dict())
    assert a.next_batch(13) == b.next_batch(13)
