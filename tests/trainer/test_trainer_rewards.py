"""The length penalty (ScaleRL's alternative to interruption) and its use in a step."""

import pytest

torch = pytest.importorskip("torch")

from rlscaling.trainer.config import TrainConfig  # noqa: E402
from rlscaling.trainer.model import build_tokenizer  # noqa: E402
from rlscaling.trainer.rewards import length_penalty  # noqa: E402
from rlscaling.trainer.runlog import read_jsonl  # noqa: E402
from rlscaling.trainer.setup import sampling_params  # noqa: E402


def test_length_penalty_by_hand():
    """clip((L_max - L) / L_cache - 1, -1, 0) with the paper's L_max 14k, L_cache 2k: free up
    to 12k tokens, -0.5 at 13k, -1 at 14k; wrong answers are not penalised."""
    lengths = torch.tensor([5_000, 12_000, 13_000, 13_500, 14_000, 14_000])
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    pen = length_penalty(lengths, rewards, 14_000, 2_000)
    assert pen.tolist() == [0.0, 0.0, -0.5, -0.75, -1.0, 0.0]


def test_length_penalty_config():
    cfg = TrainConfig(
        rollout={"length_control": "length_penalty", "think_budget": 10, "answer_budget": 6}
    )
    # the engines truncate at the cap; the penalty is a reward shaping in the step
    assert sampling_params(cfg, build_tokenizer()).length_control == "truncation"
    with pytest.raises(ValueError, match="length_penalty_window=20 exceeds"):
        TrainConfig(
            rollout={
                "length_control": "length_penalty",
                "think_budget": 10,
                "answer_budget": 6,
                "length_penalty_window": 20,
            }
        )


def test_length_penalty_run_logs_the_shaping(tmp_path, tiny_config):
    """A run with the penalty: the logged reward is still the pass rate (0/1 rewards), the
    shaping is logged beside it, and a window as long as the cap penalises every correct
    response (each is at least one token long)."""
    from rlscaling.trainer import train

    cfg = tiny_config(
        tmp_path / "lp",
        steps=3,
        rollout={"length_control": "length_penalty", "length_penalty_window": 12},
    )
    train(cfg)
    rows = read_jsonl(tmp_path / "lp" / "train.jsonl")
    assert all("length_penalty_mean" in r and r["length_penalty_mean"] <= 0 for r in rows)
    for r in rows:
        passes = r["reward"] * cfg.prompts_per_step * cfg.rollout.n_samples
        assert passes == pytest.approx(round(passes))  # a pass rate, not shaped
        assert r["length_penalized_frac"] == pytest.approx(r["reward"])
