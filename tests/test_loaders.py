"""Loaders: every format round-trips; columns inferred or named; nothing is dropped silently."""

import gzip
import json
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlscaling import Run
from rlscaling.io.checks import InputError
from rlscaling.io.datasets import example_curves
from rlscaling.io.loaders import LoadError, LoaderWarning, load_run, load_runs
from rlscaling.io.readers import jsonl as jsonl_reader
from rlscaling.io.readers import tensorboard as tensorboard_reader

C = np.array([0.0, 1e17, 2e17, 4e17, 8e17])
R = np.array([0.20, 0.26, 0.31, 0.38, 0.42])
SIZE = np.array([512.0, 512.0, 512.0, 1024.0, 1024.0])
RUN = Run(C, R, SIZE, name="base")


def same_points(run: Run, compute=C, reward=R, eval_size=SIZE) -> None:
    np.testing.assert_allclose(run.compute, compute, rtol=1e-12)
    np.testing.assert_allclose(run.reward, reward, rtol=1e-6)
    if eval_size is None:
        assert run.eval_size is None
    else:
        np.testing.assert_allclose(run.eval_size, eval_size)


# ------------------------------------------------------------------ round trips, one per format


def test_csv_round_trip(tmp_path):
    path = tmp_path / "base.csv"
    RUN.to_frame().to_csv(path, index=False)
    run = load_run(path)
    same_points(run)
    assert run.name == "base"
    assert run.metadata["format"] == "csv"
    assert run.metadata["columns"] == {
        "reward": "reward",
        "compute": "compute",
        "eval_size": "eval_size",
    }
    assert run.metadata["omitted"] == {}


def test_tsv_and_gzip_csv(tmp_path):
    RUN.to_frame().to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    RUN.to_frame().to_csv(tmp_path / "b.csv.gz", index=False)
    same_points(load_run(tmp_path / "a.tsv"))
    run = load_run(tmp_path / "b.csv.gz")
    same_points(run)
    assert run.name == "b"


def test_jsonl_round_trip_with_nested_records(tmp_path):
    path = tmp_path / "log.jsonl"
    lines = [
        json.dumps({"step": i, "flops": c, "eval": {"accuracy": r}})
        for i, (c, r) in enumerate(zip(C, R, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n")
    run = load_run(path)
    same_points(run, eval_size=None)
    assert run.metadata["columns"]["reward"] == "eval.accuracy"
    assert run.metadata["compute_unit"] == "FLOPs"


JSONL_CASES = {
    "flat": '{"step": 1, "flops": 1e18, "reward": 0.1}\n{"step": 2, "flops": 2e18, "reward": 0.2}\n'
    '{"step": 3, "flops": 4e18, "reward": 0.3}\n',
    "nested, a key missing": '{"flops": 1e18, "eval": {"acc": 0.1, "n_prompts": 8}}\n'
    '{"flops": 2e18, "eval": {"acc": 0.2}}\n'
    '{"flops": 4e18, "eval": {"acc": 0.3, "n_prompts": 9}}\n',
    "torn last line": '{"flops": 1e18, "reward": 0.1}\n{"flops": 2e18, "reward": 0.2}\n'
    '{"flops": 3e18, "reward": 0.25}\n{"flops": 4e18, "rew',
    "torn, CRLF, BOM": '\ufeff{"flops": 1e18, "reward": 0.1}\r\n{"flops": 2e18, "reward": 0.2}\r\n'
    '{"flops": 3e18, "reward": 0.3}\r\n{"flo',
    "integer FLOPs beyond int64": '{"flops": 100000000000000000000, "reward": 0.1}\n'
    '{"flops": 200000000000000000000, "reward": 0.2}\n'
    '{"flops": 400000000000000000000, "reward": 0.3}\n',
    "NaN reward, run column": '{"run": "a", "flops": 1e18, "reward": NaN}\n'
    '{"run": "a", "flops": 2e18, "reward": 0.2}\n{"run": "a", "flops": 4e18, "reward": 0.3}\n',
}
# Files the fast reader hands to the line-by-line one (which answers or names the bad line).
JSONL_FALLBACK_CASES = {
    "blank line": '{"flops": 1e18, "reward": 0.1}\n\n{"flops": 2e18, "reward": 0.2}\n',
    "two objects on a line": '{"flops": 1e18, "reward": 0.1} {"flops": 2e18, "reward": 0.2}\n',
    "a list line": '{"flops": 1e18, "reward": 0.1}\n[1, 2]\n{"flops": 2e18, "reward": 0.2}\n',
    "bad middle line": '{"flops": 1e18, "reward": 0.1}\n{"flops": 2e1\n{"flops": 3e18, "r": 1}\n',
    "timestamp strings": '{"time": "2024-01-01T00:00:00", "flops": 1e18, "reward": 0.1}\n',
    "type changes": '{"flops": 1e18, "reward": 0.1}\n{"flops": "2e18", "reward": 0.2}\n',
    "line separator in a string": '{"flops": 1e18, "reward": 0.1, "note": "a\u2028b"}\n',
}


def load_both(path, nan_policy="omit"):
    """load_run through the fast JSONL reader and through the line-by-line one."""
    outcomes = []
    for fast in (True, False):
        saved = jsonl_reader._jsonl_frame_fast
        if not fast:
            jsonl_reader._jsonl_frame_fast = lambda p: None
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    out = load_run(path, nan_policy=nan_policy)
                except InputError as exc:
                    out = exc
        finally:
            jsonl_reader._jsonl_frame_fast = saved
        outcomes.append((out, [str(w.message) for w in caught]))
    return outcomes


@pytest.mark.parametrize("case", list(JSONL_CASES) + list(JSONL_FALLBACK_CASES))
def test_fast_jsonl_reader_gives_the_line_by_line_answer(tmp_path, case):
    text = {**JSONL_CASES, **JSONL_FALLBACK_CASES}[case]
    path = tmp_path / "log.jsonl"
    path.write_bytes(text.encode("utf-8"))
    # the fast path is taken for the plain files and declined for the others
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoaderWarning)
        assert (jsonl_reader._jsonl_frame_fast(path) is None) == (case in JSONL_FALLBACK_CASES)
    (fast, fast_warned), (exact, exact_warned) = load_both(path)
    assert fast_warned == exact_warned
    if isinstance(exact, Exception):
        assert type(fast) is type(exact) and str(fast) == str(exact)
        return
    np.testing.assert_array_equal(fast.compute, exact.compute)
    np.testing.assert_array_equal(fast.reward, exact.reward)
    assert (fast.eval_size is None) == (exact.eval_size is None)
    if exact.eval_size is not None:
        np.testing.assert_array_equal(fast.eval_size, exact.eval_size)
    assert fast.name == exact.name and fast.metadata == exact.metadata
    if "torn" in case:
        assert fast.metadata["omitted"]["torn_last_line"] == 1
        assert len(fast_warned) == 1 and "last line (4) is incomplete" in fast_warned[0]


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "base.parquet"
    RUN.to_frame().to_parquet(path)
    same_points(load_run(path))
    # detected by content when the name says nothing
    other = tmp_path / "base.data"
    other.write_bytes(path.read_bytes())
    assert load_run(other).metadata["format"] == "parquet"


def test_run_from_frame_inverts_to_frame():
    back = Run.from_frame(RUN.to_frame(), name="x")
    same_points(back)
    with pytest.raises(InputError, match=r"reward='score' is not a column.*'compute'"):
        Run.from_frame(RUN.to_frame(), reward="score")


# ------------------------------------------------------------------ TensorBoard


def write_events(logdir, steps, tags: dict, stamp=None):
    """Write scalar events with tensorboard's own writer (no torch, no TensorFlow)."""
    writer_mod = pytest.importorskip("tensorboard.summary.writer.event_file_writer")
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    writer = writer_mod.EventFileWriter(str(logdir), filename_suffix=stamp or "")
    for i, step in enumerate(steps):
        values = [Summary.Value(tag=t, simple_value=float(v[i])) for t, v in tags.items()]
        event = Event(wall_time=time.time(), step=int(step), summary=Summary(value=values))
        writer.add_event(event)
    writer.close()


@pytest.fixture
def tb_run(tmp_path):
    steps = np.arange(5) * 10
    write_events(
        tmp_path / "tb" / "ppo",
        steps,
        {"eval/reward": R, "train/reward": R - 0.1, "train/loss": np.ones(5)},
    )
    return tmp_path / "tb" / "ppo", steps


def test_tensorboard_round_trip_with_tbparse(tb_run):
    pytest.importorskip("tbparse")
    logdir, steps = tb_run
    with pytest.warns(LoaderWarning, match="'step' as compute"):
        run = load_run(logdir)  # eval/ wins over train/ reward; steps stand in for compute
    same_points(run, compute=steps, eval_size=None)
    assert run.name == "ppo"
    assert run.metadata["columns"]["reward"] == "eval/reward"
    assert run.metadata["compute_unit"] == "steps"
    event_file = next(logdir.iterdir())
    run2 = load_run(event_file, compute_per_step=3.0)
    same_points(run2, compute=steps * 3.0, eval_size=None)


def test_tensorboard_event_accumulator_fallback_matches(tb_run, monkeypatch):
    pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    logdir, steps = tb_run
    monkeypatch.setattr(tensorboard_reader, "_import_tbparse", lambda: None)
    run = load_run(logdir, compute="step", reward="train/reward")
    same_points(run, compute=steps, reward=R - 0.1, eval_size=None)


def test_tensorboard_without_readers_says_which_extra(tb_run, monkeypatch):
    monkeypatch.setattr(tensorboard_reader, "_import_tbparse", lambda: None)
    monkeypatch.setattr(tensorboard_reader, "_import_event_accumulator", lambda: None)
    with pytest.raises(ImportError, match=r'pip install "rlscaling\[io\]"'):
        load_run(tb_run[0], compute="step")


def test_tensorboard_root_with_two_runs_and_a_restart(tmp_path):
    pytest.importorskip("tbparse")
    write_events(tmp_path / "a", [0, 10, 20], {"reward": [0.1, 0.2, 0.3], "flops": [0, 5, 9]})
    write_events(tmp_path / "b", [0, 10], {"reward": [0.1, 0.15], "flops": [0, 5]})
    # b restarted from step 10 and logged it again with another value, then went on
    time.sleep(1.1)  # the event file name carries the start time in seconds
    write_events(tmp_path / "b", [10, 20], {"reward": [0.17, 0.25], "flops": [5, 9]})
    with pytest.raises(InputError, match=r"holds 2 runs: \['a', 'b'\]"):
        load_run(tmp_path)
    with pytest.raises(InputError, match="duplicates='last'"):
        load_runs(tmp_path)
    a, b = load_runs(tmp_path, duplicates="last")
    same_points(a, compute=[0, 5, 9], reward=[0.1, 0.2, 0.3], eval_size=None)
    same_points(b, compute=[0, 5, 9], reward=[0.1, 0.17, 0.25], eval_size=None)
    assert b.metadata["omitted"] == {"duplicate_compute": 1}
    assert load_run(tmp_path, run="a").metadata["compute_unit"] == "FLOPs"


# ------------------------------------------------------------------ Weights & Biases chart CSV

WANDB = """\
"Step","cispo-s1 - eval/reward","cispo-s1 - eval/reward__MIN","cispo-s1 - eval/reward__MAX",\
"dapo-s1 - eval/reward","dapo-s1 - eval/reward__MIN","dapo-s1 - eval/reward__MAX"
"0","0.2","0.2","0.2","0.21","0.21","0.21"
"100","0.3","0.29","0.31","",""," "
"200","0.35","0.34","0.36","0.28","0.27","0.29"
"300","","","","0.3","0.3","0.3"
"""


def test_wandb_csv_with_two_runs(tmp_path):
    path = tmp_path / "wandb_export.csv"
    path.write_text(WANDB)
    with pytest.warns(LoaderWarning, match="steps") as record:
        runs = load_runs(path)
    # both runs read the same columns: the step-as-compute warning is said once for the file
    assert sum("using the step column" in str(w.message) for w in record) == 1
    assert [r.name for r in runs] == ["cispo-s1", "dapo-s1"]
    cispo, dapo = runs
    same_points(cispo, compute=[0, 100, 200], reward=[0.2, 0.3, 0.35], eval_size=None)
    same_points(dapo, compute=[0, 200, 300], reward=[0.21, 0.28, 0.3], eval_size=None)
    assert dapo.metadata["format"] == "wandb"
    # a step a run did not log is not its point, but a row of the file: counted, not hidden
    for run in runs:
        assert run.metadata["omitted"] == {"not_logged": 1} and run.metadata["n_rows"] == 4

    with pytest.raises(InputError, match=r"holds 2 runs: \['cispo-s1', 'dapo-s1'\].*run="):
        load_run(path)
    dapo = load_run(path, run="dapo-s1", compute_per_step=1e15, compute_unit="FLOPs")
    same_points(dapo, compute=[0, 2e17, 3e17], reward=[0.21, 0.28, 0.3], eval_size=None)
    assert dapo.metadata["compute_unit"] == "FLOPs"
    with pytest.raises(InputError, match=r"run='ppo' is not among.*'cispo-s1'"):
        load_run(path, run="ppo")


def test_wandb_logged_nan_is_a_nan_not_a_gap(tmp_path):
    path = tmp_path / "chart.csv"
    path.write_text('"Step","r1 - acc"\n"1","0.1"\n"2","NaN"\n"3","0.3"\n"4",""\n')
    with pytest.raises(InputError, match="nan_policy='omit'"):
        load_run(path, compute="Step")
    run = load_run(path, compute="Step", nan_policy="omit")
    same_points(run, compute=[1, 3], reward=[0.1, 0.3], eval_size=None)
    assert run.metadata["omitted"] == {"nan_or_inf": 1, "not_logged": 1}


# ------------------------------------------------------------------ Hugging Face Trainer state


def trainer_state(steps, *, eval_every=None, max_steps=None):
    """A trainer_state.json as TRL's GRPOTrainer writes it: a training entry per logging step
    (batch reward, per-function rewards, loss, ...) and an evaluation entry every
    ``eval_every`` steps, both under ``log_history``."""
    log = []
    for step in map(int, steps):
        r = 0.2 + 0.5 * step / (step + 150)
        log.append({"epoch": step / 800, "grad_norm": 0.4, "kl": 1e-4 * step, "loss": 0.01,
                    "reward": r, "reward_std": 0.3, "rewards/accuracy_reward/mean": r,
                    "step": step})  # fmt: skip
        if eval_every and step % eval_every == 0:
            log.append({"epoch": step / 800, "eval_loss": 0.02, "eval_reward": r - 0.02,
                        "eval_runtime": 12.5, "step": step})  # fmt: skip
    state = {"epoch": steps[-1] / 800, "global_step": int(steps[-1]), "log_history": log,
             "logging_steps": 10, "max_steps": max_steps or 1600}  # fmt: skip
    return json.dumps(state, indent=2, sort_keys=True)


def test_trainer_state_of_a_grpo_run_reads_its_evaluations(tmp_path):
    out = tmp_path / "qwen-grpo"
    for last in (200, 400):  # two checkpoints: the latest is the longest log
        (out / f"checkpoint-{last}").mkdir(parents=True)
        text = trainer_state(np.arange(10, last + 10, 10), eval_every=50)
        (out / f"checkpoint-{last}" / "trainer_state.json").write_text(text)
    with pytest.warns(LoaderWarning, match=r"evaluation reward 'eval_reward'.*reward='reward'"):
        run = load_run(out)
    assert run.name == "qwen-grpo" and run.metadata["format"] == "trainer_state"
    same_points(
        run,
        compute=np.arange(50, 450, 50),
        reward=[0.2 + 0.5 * s / (s + 150) - 0.02 for s in range(50, 450, 50)],
        eval_size=None,
    )
    # the training entries between evaluations are other entries, not missing rewards
    assert run.metadata["omitted"] == {}
    assert run.metadata["max_steps"] == 1600 and run.metadata["global_step"] == 400
    assert run.metadata["trainer_state"].endswith("checkpoint-400/trainer_state.json")
    assert run.metadata["compute_unit"] == "steps"
    # the training batches' reward when asked for; the file itself reads the same way
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = load_run(out / "checkpoint-400" / "trainer_state.json", reward="reward")
    assert len(train) == 40 and train.name == "qwen-grpo"
    # "where does this run end": a forecast's default budget is the planned end, in steps
    from rlscaling import forecast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = forecast(run, n_samples=50)
        assert fc.budget.tolist() == [1600.0]
        assert "budget: the run's planned end, max_steps=1600" in " ".join(fc.notes)
        flops = load_run(out, compute_per_step=1e15, compute_unit="FLOPs")
        assert forecast(flops, n_samples=50).budget.tolist() == [2 * 400 * 1e15]


def test_trainer_state_without_evaluations_and_what_is_refused(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "trainer_state.json").write_text(trainer_state(np.arange(10, 110, 10)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = load_run(d, compute_per_step=2e15, compute_unit="FLOPs")
    assert not any("evaluation reward" in str(w.message) for w in caught)
    assert run.metadata["columns"]["reward"] == "reward" and len(run) == 10
    assert run.compute[0] == pytest.approx(2e16)
    # any .json with a log_history is one
    (tmp_path / "state.json").write_text(trainer_state(np.arange(10, 60, 10)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(load_run(tmp_path / "state.json")) == 5
    (d / "trainer_state.json").write_text('{"global_step": 0, "log_history": []}')
    with pytest.raises(InputError, match=r"trainer_state.json has no log_history entries"):
        load_run(d)
    (d / "trainer_state.json").write_text('{"log_history": [')
    with pytest.raises(InputError, match=r"trainer_state.json is not valid JSON"):
        load_run(d / "trainer_state.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"without run.json.*trainer_state.json"):
        load_run(empty)


# ------------------------------------------------------------------ trainer run directory


def write_rundir(d, records, *, torn: str | None = None, **info):
    d.mkdir(parents=True)
    meta = {
        "name": d.name,
        "compute_unit": "FLOPs",
        "config": {"recipe": "scalerl", "seed": 3, "model": {"n_layers": 2}, "task": "arith"},
        **info,
    }
    (d / "run.json").write_text(json.dumps(meta))
    text = "".join(json.dumps(r) + "\n" for r in records)
    (d / "eval.jsonl").write_text(text + (torn or ""))


def eval_records(n=4, offset=0.0):
    return [
        {
            "step": 10 * i,
            "compute": 1e15 * 10 * i,
            "device_seconds": 2.0 * i,
            "reward": 0.2 + 0.05 * i + offset,
            "n_prompts": 64,
            "n_samples": 4,
            "tokens": 1000 * i,
        }
        for i in range(n)
    ]


def test_rundir_with_torn_last_line_is_warned_and_counted(tmp_path):
    d = tmp_path / "run-a"
    write_rundir(d, eval_records(), torn='{"step": 40, "compute": 4e16, "rew')
    with pytest.warns(LoaderWarning, match="last line .5. is incomplete"):
        run = load_run(d)
    same_points(
        run,
        compute=[0, 1e16, 2e16, 3e16],
        reward=[0.2, 0.25, 0.3, 0.35],
        eval_size=[256] * 4,
    )
    meta = run.metadata
    assert meta["torn_lines"] == 1 and meta["omitted"] == {"torn_last_line": 1}
    assert meta["format"] == "rundir" and meta["compute_unit"] == "FLOPs"
    assert (meta["recipe"], meta["seed"], meta["task"]) == ("scalerl", 3, "arith")
    assert meta["model"] == {"n_layers": 2}
    assert meta["columns"]["eval_size"] == "n_prompts * n_samples"
    # the eval log itself is recognised as part of its run directory
    with pytest.warns(LoaderWarning):
        assert load_run(d / "eval.jsonl").metadata["format"] == "rundir"


def test_rundir_other_compute_column_and_sweep(tmp_path):
    write_rundir(tmp_path / "sweep" / "s1", eval_records())
    write_rundir(tmp_path / "sweep" / "s2", eval_records(offset=0.01), compute_unit="PF-days")
    run = load_run(tmp_path / "sweep" / "s1", compute="device_seconds")
    same_points(run, compute=[0, 2, 4, 6], reward=[0.2, 0.25, 0.3, 0.35], eval_size=[256] * 4)
    assert run.metadata["compute_unit"] == "device-seconds"
    runs = load_runs(tmp_path / "sweep")
    assert [r.name for r in runs] == ["s1", "s2"]
    assert runs[1].metadata["compute_unit"] == "PF-days"
    assert load_runs(str(tmp_path / "sweep" / "*"))[1].final_reward == pytest.approx(0.36)
    write_rundir(tmp_path / "sweep" / "s3", eval_records(), name="s1")  # a repeated name
    assert [r.name for r in load_runs(tmp_path / "sweep")] == ["s1", "s2", "s3"]


def test_rundir_corrupt_middle_line_is_an_error(tmp_path):
    d = tmp_path / "bad"
    write_rundir(d, eval_records())
    lines = (d / "eval.jsonl").read_text().splitlines()
    lines[1] = lines[1][:-5]
    (d / "eval.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        load_run(d)


# ------------------------------------------------------------------ columns


def test_inferred_and_explicit_columns_agree(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"GPU-Hours": C, "train/loss": 1.0, "val_reward": R}).to_csv(path, index=False)
    inferred = load_run(path)
    explicit = load_run(path, compute="GPU-Hours", reward="val_reward")
    folded = load_run(path, compute="gpu_hours", reward="VAL_REWARD")
    for run in (inferred, explicit, folded):
        same_points(run, eval_size=None)
        assert run.metadata["compute_unit"] == "GPU-hours"
    assert inferred.metadata["columns"] == explicit.metadata["columns"]


def test_bad_columns_error_lists_the_columns(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"when": [1, 2], "how_good": [0.1, 0.2]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"reward column from columns \['when', 'how_good'\]"):
        load_run(path)
    with pytest.raises(InputError, match=r"compute column from columns \['when', 'how_good'\]"):
        load_run(path, reward="how_good")
    with pytest.raises(InputError, match=r"reward='score' is not a column.*\['when', 'how_good'\]"):
        load_run(path, reward="score", compute="when")
    with pytest.raises(InputError, match=r"no step column was found among \['when', 'how_good'\]"):
        load_run(path, reward="how_good", compute_per_step=2.0)


def test_ambiguous_and_non_numeric_columns(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"flops": [1, 2], "a/reward": [0.1, 0.2], "b/reward": [0.1, 0.3]}).to_csv(
        path, index=False
    )
    with pytest.raises(InputError, match=r"several columns could be the reward.*'a/reward'"):
        load_run(path)
    path.write_text("flops,reward\n1,0.1\n2,high\n")
    with pytest.raises(InputError, match="column 'reward' must be numeric, but holds 'high'"):
        load_run(path)


# ------------------------------------------------------------------ steps -> compute


def test_compute_per_step_by_hand(tmp_path):
    path = tmp_path / "steps.csv"
    path.write_text("global_step,pass@1\n50,0.3\n0,0.1\n25,0.2\n")
    run = load_run(path, compute_per_step=4e15)
    same_points(run, compute=[0, 1e17, 2e17], reward=[0.1, 0.2, 0.3], eval_size=None)
    assert run.metadata["conversion"] == "compute = global_step * 4e+15 (compute_per_step)"
    assert run.metadata["compute_unit"] is None  # unknown unless given
    assert load_run(path, compute_per_step=4e15, compute_unit="FLOPs").metadata["compute_unit"] == (
        "FLOPs"
    )


def test_tokens_times_flops_per_token_by_hand(tmp_path):
    path = tmp_path / "tokens.jsonl"
    rows = [{"step": s, "total_tokens": t, "acc": a} for s, t, a in [(1, 1e6, 0.2), (2, 3e6, 0.3)]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = load_run(path, flops_per_token=6 * 5e8)  # 6 N for a 0.5B-parameter model
    same_points(run, compute=[3e15, 9e15], reward=[0.2, 0.3], eval_size=None)
    assert run.metadata["conversion"] == "compute = total_tokens * 3e+09 (flops_per_token)"
    assert run.metadata["compute_unit"] == "FLOPs"
    assert run.metadata["columns"]["tokens"] == "total_tokens"
    with pytest.warns(LoaderWarning, match="tokens column 'total_tokens' as compute"):
        proxy = load_run(path)
    assert proxy.metadata["compute_unit"] == "tokens"


def test_steps_only_warns_unless_named(tmp_path):
    path = tmp_path / "steps.csv"
    path.write_text("Step,score\n1,0.1\n2,0.2\n")
    with pytest.warns(LoaderWarning, match="compute_per_step") as record:
        run = load_run(path)
    assert record[0].filename == __file__  # points at the caller, not into the package
    assert run.metadata["compute_unit"] == "steps"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        named = load_run(path, compute="Step")
    assert named.metadata["compute_unit"] == "steps"
    same_points(named, compute=run.compute, reward=run.reward, eval_size=None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"compute_per_step": 1.0, "flops_per_token": 2.0}, "not both"),
        ({"compute": "flops", "compute_per_step": 1.0}, "pass one of them"),
        ({"compute_per_step": -1.0}, "compute_per_step must be a finite number > 0"),
        ({"flops_per_token": float("nan")}, "flops_per_token must be a finite number > 0"),
        ({"nan_policy": "drop"}, "nan_policy must be 'raise' or 'omit'"),
        ({"duplicates": "first"}, "duplicates must be"),
        ({"format": "xlsx"}, "format must be one of"),
    ],
)
def test_bad_options(tmp_path, kwargs, match):
    path = tmp_path / "x.csv"
    path.write_text("flops,reward,step\n1,0.1,1\n")
    with pytest.raises(InputError, match=match):
        load_run(path, **kwargs)


# ------------------------------------------------------------------ NaN, duplicates, order


def test_nan_raise_then_omit_counts(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("flops,reward\n1,0.1\n2,\n3,nan\n4,0.4\n")
    with pytest.raises(
        InputError,
        match=r"2 of 4 rows .* the first: compute=2\.0, reward=nan\. .*nan_policy='omit'",
    ):
        load_run(path)
    run = load_run(path, nan_policy="omit")
    same_points(run, compute=[1, 4], reward=[0.1, 0.4], eval_size=None)
    assert run.metadata["omitted"] == {"nan_or_inf": 2} and run.metadata["n_rows"] == 4


def test_duplicates(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("flops,reward,eval_size\n1,0.1,10\n2,0.2,10\n2,0.3,30\n3,0.4,10\n3,0.4,10\n")
    with pytest.raises(InputError, match=r"compute=2\.0: reward=0\.2.*duplicates='last'"):
        with pytest.warns(LoaderWarning):
            load_run(path)
    with pytest.warns(LoaderWarning, match="1 repeated row"):
        last = load_run(path, duplicates="last")
    same_points(last, compute=[1, 2, 3], reward=[0.1, 0.3, 0.4], eval_size=[10, 30, 10])
    assert last.metadata["omitted"] == {"duplicate_rows": 1, "duplicate_compute": 1}
    with pytest.warns(LoaderWarning):
        mean = load_run(path, duplicates="mean")
    same_points(mean, compute=[1, 2, 3], reward=[0.1, 0.25, 0.4], eval_size=[10, 40, 10])
    assert mean.metadata["merged_duplicates"] == 1


def test_long_table_splits_into_runs_by_group_column(tmp_path):
    path = tmp_path / "curves.csv"
    frames = [r.to_frame().assign(curve=r.name) for r in example_curves()]
    pd.concat(frames).sample(frac=1.0, random_state=0).to_csv(path, index=False)
    runs = load_runs(path)
    expected = {r.name: r for r in example_curves()}
    assert sorted(r.name for r in runs) == sorted(expected)
    for run in runs:
        ref = expected[run.name]
        same_points(run, compute=ref.compute, reward=ref.reward, eval_size=ref.eval_size)
    one = load_run(path, run=runs[0].name, name="renamed")
    assert one.name == "renamed" and one.metadata["group"] == f"curve={runs[0].name}"


def test_load_runs_paths_globs_and_errors(tmp_path):
    for i in range(3):
        Run(C[1:], R[1:] + i / 100, name=f"r{i}").to_frame().to_csv(
            tmp_path / f"r{i}.csv", index=False
        )
    runs = load_runs(str(tmp_path / "r*.csv"))
    assert [r.name for r in runs] == ["r0", "r1", "r2"]
    assert [r.name for r in load_runs([tmp_path / "r2.csv", tmp_path / "r0.csv"])] == ["r2", "r0"]
    with pytest.raises(InputError, match="no files match"):
        load_runs(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="labels one run, but 3 were found"):
        load_runs(str(tmp_path / "r*.csv"), name="x")
    with pytest.raises(InputError, match="does not exist"):
        load_run(tmp_path / "missing.csv")
    with pytest.raises(InputError, match=r"directory without run\.json"):
        load_run(tmp_path)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(2, 25),
    seed=st.integers(0, 2**32 - 1),
    fmt=st.sampled_from(["csv", "jsonl"]),
)
def test_any_shuffled_file_loads_sorted_and_equal(tmp_path, n, seed, fmt):
    rng = np.random.default_rng(seed)
    compute = np.cumsum(rng.uniform(0.1, 10.0, n)) * 1e15
    reward = rng.uniform(0, 1, n)
    df = pd.DataFrame({"flops": compute, "reward": reward}).iloc[rng.permutation(n)]
    path = tmp_path / f"shuffled.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True, double_precision=15)
    run = load_run(path)
    assert np.all(np.diff(run.compute) > 0)
    np.testing.assert_allclose(run.compute, compute, rtol=1e-12)
    np.testing.assert_allclose(run.reward, reward, rtol=1e-12)


# ---------------------------------------------------------------- issue 15: malformed files

GOOD_CSV = "compute,reward\n1e18,0.1\n2e18,0.2\n4e18,0.3\n8e18,0.35\n"


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("bin.csv", bytes(range(256)) * 4, "binary, not a text table"),
        ("latin.csv", "compute,r\xe9ward\n1,0.1\n".encode("latin-1"), "not UTF-8 text"),
        ("empty.csv", b"", "is empty: a CSV needs a header line"),
        ("ragged.csv", b"compute,reward\n1,2\n3,4,5,6\n5,6\n", "not a well-formed table"),
        ("cut.csv.gz", gzip.compress(GOOD_CSV.encode())[:-12], "truncated or corrupt"),
        ("junk.csv.gz", b"not gzip at all", "truncated or corrupt"),
        ("bin.jsonl", b"\x00\x01\x02\xff", "binary"),
        ("latin.jsonl", '{"compute": 1, "r\xe9": 2}\n'.encode("latin-1"), "not UTF-8 text"),
        ("cut.parquet", b"PAR1\x00\x01", "not a readable Parquet file"),
    ],
)
def test_malformed_files_raise_a_load_error_naming_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=match) as info:
        load_run(path)
    assert info.value.path == str(path) and str(path) in str(info.value)
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    # load_runs stops at the bad file and names it, after reading the good one
    (tmp_path / "a_good.csv").write_text(GOOD_CSV)
    with pytest.raises(LoadError, match=re.escape(str(path))):
        load_runs([tmp_path / "a_good.csv", path])


def test_load_error_pickles_with_its_path():
    import pickle

    err = pickle.loads(pickle.dumps(LoadError("/data/x.csv", "is empty")))
    assert err.path == "/data/x.csv" and str(err) == "/data/x.csv: is empty"


def test_run_json_holding_a_list_is_named(tmp_path):
    d = tmp_path / "run-list"
    write_rundir(d, eval_records())
    (d / "run.json").write_text("[1, 2]")
    with pytest.raises(LoadError, match=r"run\.json: must hold a JSON object.*JSON list"):
        load_run(d)
    with pytest.raises(LoadError, match=r"run\.json"):
        load_runs(tmp_path)


def test_utf16_and_bom_csv_are_read(tmp_path):
    for enc in ("utf-16", "utf-8-sig"):
        path = tmp_path / f"{enc}.csv"
        path.write_bytes(GOOD_CSV.encode(enc))
        run = load_run(path)
        assert run.reward.tolist() == [0.1, 0.2, 0.3, 0.35]


@pytest.mark.parametrize("tail", ["9e18,0.", "9e18,", "9e18", "9e1", "9e18,1e-"])
def test_torn_last_csv_line_is_skipped_warned_and_counted(tmp_path, tail):
    path = tmp_path / "torn.csv"
    path.write_text(GOOD_CSV + tail)
    with pytest.warns(LoaderWarning, match="last line .* is incomplete"):
        run = load_run(path)
    assert run.compute.tolist() == [1e18, 2e18, 4e18, 8e18]
    assert run.metadata["omitted"] == {"torn_last_line": 1}
    gz = tmp_path / "torn.csv.gz"
    gz.write_bytes(gzip.compress((GOOD_CSV + tail).encode()))
    with pytest.warns(LoaderWarning, match="incomplete"):
        assert len(load_run(gz)) == 4


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(GOOD_CSV + "9e18,0.4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = load_run(path)
    assert run.reward.tolist() == [0.1, 0.2, 0.3, 0.35, 0.4]
    assert run.metadata["omitted"] == {}


def test_plain_x_y_columns_load_as_compute_and_reward(tmp_path):
    path = tmp_path / "xy.csv"
    path.write_text("x,y\n1,0.1\n2,0.2\n3,0.25\n")
    run = load_run(path)
    assert run.compute.tolist() == [1.0, 2.0, 3.0] and run.reward.tolist() == [0.1, 0.2, 0.25]
    assert run.metadata["columns"]["compute"] == "x"
    assert run.metadata["columns"]["reward"] == "y"
    # a better-named column still wins over the plain one
    path.write_text("x,y,accuracy\n1,5,0.1\n2,6,0.2\n")
    assert load_run(path).reward.tolist() == [0.1, 0.2]


def test_a_held_out_metric_path_is_found_as_the_reward_and_several_are_listed():
    """verl logs its validation reward as val-core/<data source>/reward/mean@1 (older
    versions val/test_score/<data source>), names no common reward column matches."""
    steps = np.arange(0, 200, 10)
    train = {"_step": steps, "critic/score/mean": np.linspace(0.1, 0.6, 20), "kl": 0.01}
    held_out = np.linspace(0.2, 0.7, 20)
    for col in ("val-core/openai/gsm8k/reward/mean@1", "val/test_score/openai/gsm8k"):
        df = pd.DataFrame({**train, col: held_out})
        with pytest.warns(LoaderWarning, match=rf"using '{re.escape(col)}' as the reward"):
            run = load_run(df, compute="_step")
        assert run.metadata["columns"]["reward"] == col
        np.testing.assert_allclose(run.reward, held_out)
    two = pd.DataFrame({**train, "val-core/gsm8k/reward/mean@1": held_out,
                        "val-core/math/reward/mean@1": held_out / 2})  # fmt: skip
    with pytest.raises(InputError, match=r"several columns could be the reward: \['val-core/gs"):
        load_run(two, compute="_step")
    # a training metric alone is not taken for the held-out reward
    with pytest.raises(InputError, match="could not infer the reward column"):
        load_run(pd.DataFrame(train), compute="_step")


# ------------------------------------------------------------------ which column is the reward


@pytest.mark.parametrize(
    ("train", "held"),
    [
        ("train/reward", "eval/accuracy"),  # "reward" comes before "accuracy" among the names
        ("reward", "eval/reward"),  # a whole name matched before a last part
        ("reward", "eval_reward"),
        ("train/reward", "val/test_score/openai/gsm8k"),  # a held-out metric path (verl)
    ],
)
def test_a_held_out_reward_wins_over_a_training_one_and_the_warning_names_both(train, held):
    steps, rise = np.arange(0, 60, 10), np.linspace(0.2, 0.4, 6)
    df = pd.DataFrame({"step": steps, train: rise + 0.3, held: rise})
    said = (
        rf"using the evaluation reward '{re.escape(held)}', not the training batches' "
        rf"'{re.escape(train)}' \(pass reward='{re.escape(train)}' for that one\)"
    )
    with pytest.warns(LoaderWarning, match=said):
        run = load_run(df, compute="step")
    assert run.metadata["columns"]["reward"] == held
    np.testing.assert_allclose(run.reward, df[held])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # named: taken without a word
        asked = load_run(df, compute="step", reward=train)
    np.testing.assert_allclose(asked.reward, df[train])


def test_evaluations_logged_on_their_own_lines_are_the_curve_not_the_training_batches(tmp_path):
    """A JSONL log with a line per training step and a line per evaluation: the evaluations
    are the curve, and the refusal's advice (nan_policy='omit') keeps them."""
    records = []
    for step in range(0, 101):
        records.append({"step": step, "train/reward": 0.5 + step / 400})
        if step % 25 == 0:
            records.append({"step": step, "eval/accuracy": 0.2 + step / 500})
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    refusal = (
        r"101 of 106 rows have a missing.*\('eval/accuracy'\).*Pass nan_policy='omit'.*"
        r"chosen over the training batches' 'train/reward'; pass reward='train/reward'"
    )
    with pytest.warns(LoaderWarning, match="not the training batches' 'train/reward'"):
        with pytest.raises(InputError, match=refusal):
            load_run(path, compute="step")
    with pytest.warns(LoaderWarning, match="not the training batches'"):
        run = load_run(path, compute="step", nan_policy="omit")
    assert run.compute.tolist() == [0, 25, 50, 75, 100]
    np.testing.assert_allclose(run.reward, [0.2 + s / 500 for s in (0, 25, 50, 75, 100)])
    assert run.metadata["omitted"] == {"nan_or_inf": 101}
    assert run.metadata["columns"]["reward"] == "eval/accuracy"


def test_which_held_out_column_is_the_reward_when_there_are_several():
    steps = np.arange(0, 60, 10)
    rise = np.linspace(0.2, 0.4, 6)
    # two held-out rewards by name: refused, both listed
    df = pd.DataFrame({"step": steps, "train/reward": rise, "eval/gsm8k/accuracy": rise,
                       "eval/math/accuracy": rise})  # fmt: skip
    with pytest.raises(InputError, match=r"several columns could be the reward: \['eval/gsm8k/"):
        load_run(df, compute="step")
    # a spread of the held-out reward is not the reward; a training reward is passed over
    df = pd.DataFrame({"step": steps, "train/reward": rise + 0.3,
                       "val-aux/gsm8k/reward/std@4": rise / 10,
                       "val-core/gsm8k/reward/mean@1": rise})  # fmt: skip
    with pytest.warns(LoaderWarning, match=r"'val-core/gsm8k/reward/mean@1', not the training"):
        run = load_run(df, compute="step")
    np.testing.assert_allclose(run.reward, rise)
    # several training rewards do not stand in the way of the one held-out reward
    df = pd.DataFrame({"step": steps, "train/reward": rise + 0.3, "rollout/reward": rise + 0.2,
                       "eval/accuracy": rise})  # fmt: skip
    with pytest.warns(LoaderWarning, match=r"using the evaluation reward 'eval/accuracy'"):
        assert load_run(df, compute="step").metadata["columns"]["reward"] == "eval/accuracy"
    with pytest.raises(InputError, match=r"several columns could be the reward"):
        load_run(df.drop(columns="eval/accuracy"), compute="step")


# ------------------------------------------------------------------ what a run is: its columns


def _recipe_table():
    steps = np.arange(10, 210, 10)
    parts = []
    arms = [("cispo", 0.7), ("cispo", 0.72), ("grpo", 0.6), ("grpo", 0.61)]
    for k, (recipe, a) in enumerate(arms):
        acc = 0.1 + (a - 0.1) / (1 + (80 / steps) ** 1.5)
        cols = {"run": f"{recipe}-s{k % 2}", "recipe": recipe, "seed": k % 2, "source": "sweep-7"}
        parts.append(pd.DataFrame({**cols, "step": steps, "eval/accuracy": acc}))
    return pd.concat(parts, ignore_index=True)


def test_a_column_with_one_value_per_run_reaches_each_run_s_metadata(tmp_path):
    from rlscaling import compare

    table = _recipe_table()
    table.to_csv(tmp_path / "sweep.csv", index=False)
    with pytest.warns(LoaderWarning) as record:
        from_frame = load_runs(table)
    # four runs would say the same warning four times: it is said once for the table
    assert sum("using the step column" in str(w.message) for w in record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_file = load_runs(tmp_path / "sweep.csv")
    for runs in (from_frame, from_file):
        assert [(r.metadata["recipe"], r.metadata["seed"]) for r in runs] == [
            ("cispo", 0), ("cispo", 1), ("grpo", 0), ("grpo", 1)
        ]  # fmt: skip
        assert all(type(r.metadata["seed"]) is int for r in runs)
        # the columns the points come from are not attributes; the loader's own keys win
        assert all("step" not in r.metadata and "eval/accuracy" not in r.metadata for r in runs)
        assert runs[0].metadata["source"] != "sweep-7"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_runs = compare(from_frame, group_by="recipe", n=50, budget=400)
        by_table = compare(table, group_by="recipe", n=50, budget=400)
    assert by_runs.table["recipe"].tolist() == ["cispo", "grpo"]
    pd.testing.assert_frame_equal(by_runs.table, by_table.table)


def test_a_recipe_column_blank_in_one_run_is_said():
    table = _recipe_table()
    table.loc[table.index[-1], "recipe"] = np.nan  # the last row of grpo-s1
    with pytest.warns(LoaderWarning, match=r"column 'recipe' holds one value .* in \['grpo-s1'\]"):
        runs = load_runs(table)
    assert [r.metadata.get("recipe") for r in runs] == ["cispo", "cispo", "grpo", None]
