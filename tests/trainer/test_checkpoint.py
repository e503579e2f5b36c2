"""Checkpoints are safe to read (no unpickling) and safe against a kill at any instant."""

import json
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rlscaling.trainer import checkpoint as ckpt  # noqa: E402
from rlscaling.trainer import loop  # noqa: E402
from rlscaling.trainer.loop import train  # noqa: E402
from rlscaling.trainer.runlog import read_jsonl  # noqa: E402


def _fake_checkpoint(root: Path, name: str, step: int, complete: bool = True) -> Path:
    path = root / "checkpoints" / name
    (path / "model").mkdir(parents=True)
    torch.save({"step": step}, path / "state.pt")
    if complete:
        (path / ckpt.MARKER).write_text(json.dumps({"step": step, "format": ckpt.FORMAT}))
    return path


class _Payload:
    """Unpickling this creates a directory: stands in for code a crafted file would run."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def _curve(path):
    return [(r["step"], r["compute"], r["reward"]) for r in read_jsonl(path / "eval.jsonl")]


# ---- reading a checkpoint never runs code ----


def test_crafted_state_is_refused_not_executed(tmp_path, tiny_config):
    out = tmp_path / "run"
    train(tiny_config(out, steps=2))
    state = out / "checkpoints" / "latest" / "state.pt"
    sentinel = tmp_path / "code_ran"
    good = torch.load(state, weights_only=True)
    torch.save({**good, "evil": _Payload(str(sentinel))}, state)
    with pytest.raises(ckpt.CheckpointError, match="weights_only=True"):
        train(tiny_config(out, steps=4))
    assert not sentinel.exists()  # the payload never ran
    assert [r["step"] for r in read_jsonl(out / "eval.jsonl")] == [0, 2]  # logs untouched


def test_state_round_trips_numpy_and_rng_as_plain_data(tmp_path):
    rng = np.random.default_rng(3)
    state = {
        "step": 7,
        "sampler": {"passes": np.arange(5), "flags": np.array([True, False]), "x": np.float64(2)},
        "pending": [(1, 2), (3, 4)],
        "rng_np": rng.bit_generator.state,
    }
    plain = ckpt.to_plain(state)
    path = tmp_path / "c"
    path.mkdir()
    torch.save({**plain, "rng": ckpt.rng_state()}, path / "state.pt")
    back = ckpt.load_state(path)
    assert np.array_equal(np.asarray(back["sampler"]["passes"]), np.arange(5))
    assert np.asarray(back["sampler"]["flags"]).dtype == bool
    assert back["sampler"]["x"] == 2.0 and isinstance(back["sampler"]["x"], float)
    rng2 = np.random.default_rng(0)
    rng2.bit_generator.state = back["rng_np"]
    assert rng2.integers(1 << 30) == rng.integers(1 << 30)
    ckpt.set_rng_state(back["rng"])  # the Python and torch states load back


def test_save_refuses_state_that_would_need_unpickling(tmp_path, tiny_config):
    out = tmp_path / "run"
    train(tiny_config(out, steps=2))
    before = (out / "checkpoints" / "latest" / "state.pt").read_bytes()
    from rlscaling.trainer.model import load_model

    model, tok = load_model(out / "checkpoints" / "latest" / "model")
    with pytest.raises(TypeError, match="tensors, numbers, strings"):
        ckpt.save(out, model, tok, {"step": 3, "obj": _Payload(str(tmp_path / "x"))})
    assert (out / "checkpoints" / "latest" / "state.pt").read_bytes() == before


# ---- finding the newest complete checkpoint ----


def test_recover_promotes_newest_complete_of_tmp_and_old(tmp_path):
    _fake_checkpoint(tmp_path, "old", 2)
    _fake_checkpoint(tmp_path, "tmp", 4)
    path = ckpt.latest(tmp_path)
    assert path == tmp_path / "checkpoints" / "latest"
    assert ckpt.checkpoint_step(path) == 4
    assert (tmp_path / "checkpoints" / "old").exists()  # cleared only by the next save


def test_recover_skips_a_partial_tmp(tmp_path):
    _fake_checkpoint(tmp_path, "old", 2)
    _fake_checkpoint(tmp_path, "tmp", 4, complete=False)
    assert ckpt.checkpoint_step(ckpt.latest(tmp_path)) == 2


def test_only_partial_checkpoints_refuse(tmp_path):
    _fake_checkpoint(tmp_path, "tmp", 4, complete=False)
    with pytest.raises(ckpt.CheckpointError, match="only partial checkpoints"):
        ckpt.latest(tmp_path)


def test_old_format_checkpoint_refuses(tmp_path):
    _fake_checkpoint(tmp_path, "latest", 4, complete=False)
    with pytest.raises(ckpt.CheckpointError, match="older format"):
        ckpt.latest(tmp_path)


def test_no_checkpoint_dir_is_a_fresh_run(tmp_path):
    assert ckpt.latest(tmp_path) is None


# ---- a kill between the renames of a checkpoint swap ----


@pytest.mark.parametrize("tmp_complete", [True, False])
def test_kill_between_checkpoint_renames_resumes(tmp_path, monkeypatch, tiny_config, tmp_complete):
    full = tmp_path / "full"
    train(tiny_config(full, steps=6, eval_every=1, checkpoint_every=2))

    killed = tmp_path / "killed"
    real_rename = Path.rename
    swaps = {"n": 0}

    def dying_rename(self, target):
        if self.name == "tmp" and Path(target).name == "latest":
            swaps["n"] += 1
            if swaps["n"] == 2:  # second checkpoint: `latest -> old` done, `tmp -> latest` not
                raise KeyboardInterrupt
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", dying_rename)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(killed, steps=6, eval_every=1, checkpoint_every=2))
    monkeypatch.setattr(Path, "rename", real_rename)
    root = killed / "checkpoints"
    assert not (root / "latest").exists() and (root / "old").exists() and (root / "tmp").exists()
    if not tmp_complete:  # killed before the marker: the previous checkpoint must be used
        (root / "tmp" / ckpt.MARKER).unlink()
    logged = [r["step"] for r in read_jsonl(killed / "eval.jsonl")]
    assert logged == [0, 1, 2, 3, 4]

    steps_trained = {"n": 0}
    real_score = loop.score_samples

    def counting_score(*args, **kwargs):
        steps_trained["n"] += 1
        return real_score(*args, **kwargs)

    monkeypatch.setattr(loop, "score_samples", counting_score)
    with pytest.warns(UserWarning, match="rewound") if not tmp_complete else nullcontext():
        train(tiny_config(killed, steps=6, eval_every=1, checkpoint_every=2))
    resumed_from = 4 if tmp_complete else 2
    assert steps_trained["n"] == 6 - resumed_from  # resumed, not restarted from step 0
    assert _curve(killed) == _curve(full)
    if not tmp_complete:  # the rewound lines are kept, not deleted
        kept = read_jsonl(killed / "rewound.jsonl")
        assert sorted(r["step"] for r in kept if r["file"] == "eval.jsonl") == [3, 4]


def test_logs_without_checkpoint_are_not_erased(tmp_path, tiny_config):
    out = tmp_path / "run"
    out.mkdir()
    lines = [{"step": s, "compute": float(s), "reward": 0.1 * s} for s in range(3)]
    text = "".join(json.dumps(r) + "\n" for r in lines)
    (out / "eval.jsonl").write_text(text)
    with pytest.raises(ckpt.CheckpointError, match="would erase them"):
        train(tiny_config(out, steps=2))
    assert (out / "eval.jsonl").read_text() == text


def test_fresh_start_over_a_step0_log_is_allowed(tmp_path, tiny_config):
    out = tmp_path / "run"
    out.mkdir()
    (out / "eval.jsonl").write_text(json.dumps({"step": 0, "compute": 0.0, "reward": 0.0}) + "\n")
    train(tiny_config(out, steps=2))
    assert [r["step"] for r in read_jsonl(out / "eval.jsonl")] == [0, 2]


def test_resume_accepts_a_config_written_before_new_fields(tmp_path, tiny_config):
    # a run.json written before a field existed (here: optim.fp32_master_weights and
    # rollout.length_penalty_window) must not read as "a different config"
    out = tmp_path / "run"
    train(tiny_config(out, steps=2))
    meta = json.loads((out / "run.json").read_text())
    meta["config"]["optim"].pop("fp32_master_weights", None)
    meta["config"]["rollout"].pop("length_penalty_window", None)
    (out / "run.json").write_text(json.dumps(meta))
    train(tiny_config(out, steps=4))
    assert [r["step"] for r in read_jsonl(out / "eval.jsonl")] == [0, 2, 4]
