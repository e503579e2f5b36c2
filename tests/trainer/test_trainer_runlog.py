"""The trainer's run-directory writer and the library's loader agree (rlscaling.io.rundir)."""

import pytest

pytest.importorskip("torch")

from rlscaling import LoaderWarning, load_run
from rlscaling.io import rundir
from rlscaling.trainer.runlog import RunWriter, read_jsonl


def _eval(step):
    values = {"step": step, "compute": 1e12 * (step + 1), "reward": 0.1 + 0.01 * step}
    return {**dict.fromkeys(rundir.EVAL_KEYS, 1), **values}


def test_what_the_writer_writes_the_loader_reads_torn_line_included(tmp_path):
    writer = RunWriter(tmp_path / "run")
    writer.write_run({"config": {"recipe": "scalerl", "seed": 2}, "compute_unit": "FLOPs"})
    for step in (0, 10, 20):
        writer.append_eval(_eval(step))
    with open(writer.eval_path, "a") as fh:  # a kill in the middle of a write
        fh.write('{"step": 30, "comp')
    assert [r["step"] for r in read_jsonl(writer.eval_path)] == [0, 10, 20]
    with pytest.warns(LoaderWarning, match=r"last line \(4\) is incomplete"):
        run = load_run(writer.dir)
    assert list(run.compute) == [1e12, 11e12, 21e12]
    assert run.metadata["omitted"] == {"torn_last_line": 1} and run.metadata["seed"] == 2
    writer.truncate_after(10)  # resume from the step-10 checkpoint: the torn line goes too
    assert rundir.read_jsonl(writer.eval_path) == ([_eval(0), _eval(10)], 0)
    assert read_jsonl(tmp_path / "missing.jsonl") == []
