"""Multi-task runs: two tasks in one run, a curve per task in eval.jsonl and in load_run."""

import json

import pytest

pytest.importorskip("torch")

from rlscaling import InputError, load_run
from rlscaling.trainer import train
from rlscaling.trainer.config import TaskConfig, TrainConfig
from rlscaling.trainer.runlog import read_jsonl
from rlscaling.trainer.tasks import MultiTask, Problem, make_task_splits

TWO = [
    {"name": "sorting", "difficulty": 3, "n_train": 64, "n_val": 8},
    {"name": "addition", "difficulty": 1, "n_train": 40, "n_val": 4},
]


def test_splits_label_problems_and_verify_by_task():
    cfgs = [TaskConfig(**t) for t in TWO]
    task, train_set, val = make_task_splits(cfgs)
    assert isinstance(task, MultiTask) and task.name == "sorting+addition"
    assert [p.task for p in val] == ["sorting"] * 8 + ["addition"] * 4
    assert {p.task for p in train_set} == {"sorting", "addition"}
    assert not {p.prompt for p in train_set} & {p.prompt for p in val}
    # the same answer text scores by the problem's own task
    assert task.verify("123", Problem("sort:312=", "123", task="sorting")) == 1.0
    assert task.verify("123", Problem("100+23=", "123", task="addition")) == 1.0
    with pytest.raises(KeyError, match="countdown"):
        task.verify("1", Problem("x", "1", task="countdown"))


def test_same_task_twice_needs_labels():
    with pytest.raises(ValueError, match="distinct `label`"):
        TrainConfig(tasks=[{"name": "sorting"}, {"name": "sorting", "difficulty": 5}])
    cfg = TrainConfig(
        tasks=[{"name": "sorting", "label": "sort3"}, {"name": "sorting", "label": "sort5"}]
    )
    assert [t.label for t in cfg.task_configs()] == ["sort3", "sort5"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tasks": [{"name": "sorting"}]}, "holds one task"),
        ({"tasks": TWO, "task": {"name": "countdown"}}, "either `task` or `tasks`"),
        ({"tasks": TWO, "warmup": {"difficulty": 2}}, "warmup.difficulty"),
        (
            {"tasks": [TWO[0], {**TWO[1], "answer_marker": "=>"}]},
            "must use answer_marker",
        ),
        ({"tasks": [TWO[0], {**TWO[1], "label": "a b"}]}, "label"),
    ],
)
def test_bad_multi_task_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_multi_task_run_writes_and_loads_a_curve_per_task(tmp_path, tiny_config):
    out = tmp_path / "mt"
    data = tiny_config(out, steps=2).model_dump()
    data.pop("task")  # a multi-task run gives `tasks` instead
    cfg = TrainConfig(**{**data, "tasks": TWO})
    train(cfg)
    info = json.loads((out / "run.json").read_text())
    assert info["tasks"] == ["sorting", "addition"] and info["task"] == "sorting+addition"
    rows = read_jsonl(out / "eval.jsonl")
    for r in rows:
        assert r["n_prompts"] == 12 and r["n_prompts_sorting"] == 8 and r["n_prompts_addition"] == 4
        # the overall pass rate is the prompt-weighted mean of the tasks'
        assert r["reward"] == pytest.approx(
            (8 * r["reward_sorting"] + 4 * r["reward_addition"]) / 12
        )

    overall = load_run(out)
    assert overall.reward.tolist() == [r["reward"] for r in rows]
    sorting = load_run(out, reward="reward_sorting")
    assert sorting.reward.tolist() == [r["reward_sorting"] for r in rows]
    assert sorting.eval_size.tolist() == [8 * cfg.eval_samples] * len(rows)
    assert sorting.metadata["task_curve"] == "sorting"
    assert sorting.metadata["tasks"] == ["sorting", "addition"]
    with pytest.raises(InputError, match="reward_addition"):
        load_run(out, reward="reward_countdown")
