"""The sharded learner (torch.distributed, gloo on CPU, world size 2) against one process.

Each test starts its ranks with ``torch.multiprocessing`` and the environment ``torchrun``
sets; they are selected by ``pytest -k distributed``.
"""

import pytest

torch = pytest.importorskip("torch")

from distributed_helpers import one_update, spawn  # noqa: E402

CASES = [
    # ScaleRL's loss and aggregation, the whole batch in one pass per rank
    {"loss": "cispo", "aggregation": "prompt", "micro_batch_size": 0, "rows": 6,
     "dtype": "float32"},
    # 5 rows in micro-batches of 2: rank 0 holds 2 rows (one real micro-batch and one empty,
    # run as a zero-weighted pass), rank 1 holds 3; token-level mean
    {"loss": "ppo", "aggregation": "token", "micro_batch_size": 2, "rows": 5,
     "dtype": "float32"},
    # per-sample mean, bfloat16 model with FP32 master weights
    {"loss": "grpo", "aggregation": "sample", "micro_batch_size": 0, "rows": 4,
     "dtype": "bfloat16"},
]  # fmt: skip


def _one_process(tmp_path, cases):
    out = tmp_path / "ws1.pt"
    one_update(0, cases, str(out), None)
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_distributed_update_gives_the_one_process_gradient(tmp_path, strategy):
    single = _one_process(tmp_path, CASES)
    out = tmp_path / "ws2.pt"
    spawn(one_update, 2, CASES, str(out), strategy)
    sharded = torch.load(out, weights_only=True)
    for case, a, b in zip(CASES, single, sharded, strict=True):
        low = case["dtype"] != "float32"
        tol = {"rtol": 2e-2, "atol": 1e-3} if low else {"rtol": 1e-5, "atol": 1e-7}
        assert a["grads"].keys() == b["grads"].keys() and a["grads"]
        for name in a["grads"]:
            torch.testing.assert_close(b["grads"][name], a["grads"][name], **tol, msg=name)
        for name in a["weights"]:
            torch.testing.assert_close(b["weights"][name], a["weights"][name], **tol, msg=name)
        assert a["metrics"].keys() == b["metrics"].keys()
        rel = 1e-2 if low else 1e-4  # bfloat16 gradients are all-reduced in bfloat16
        for name, value in a["metrics"].items():
            assert b["metrics"][name] == pytest.approx(value, rel=rel, abs=1e-6), (case, name)
