import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _tiny_config(out_dir, **over):
    """A seconds-long run: 2-layer 64-wide model, 2-digit sorting, a few steps."""
    from rlscaling.trainer.config import TrainConfig, deep_merge

    base = {
        "out_dir": str(out_dir),
        "steps": 4,
        "prompts_per_step": 4,
        "eval_every": 2,
        "checkpoint_every": 2,
        "progress": False,
        "threads": 1,
        "task": {"name": "sorting", "difficulty": 3, "n_train": 64, "n_val": 8},
        "warmup": {"steps": 80, "batch_size": 16},
        "model": {"hidden_size": 64, "num_layers": 1, "num_heads": 2},
        # the in-process loop: the pipeline modes have their own tests (test_pipeline.py)
        "rollout": {"n_samples": 4, "think_budget": 6, "answer_budget": 6, "mode": "inline"},
        "off_policy_lag": 1,
    }
    return TrainConfig(**deep_merge(base, over))


@pytest.fixture(scope="session")  # a pure factory: module-scoped fixtures may use it too
def tiny_config():
    """Factory ``tiny_config(out_dir, **overrides) -> TrainConfig`` for seconds-long runs."""
    return _tiny_config
