"""Task generators, verifiers and the fixed validation split."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from rlscaling.trainer.config import TaskConfig
from rlscaling.trainer.tasks import (
    TASKS,
    Problem,
    extract_answer,
    get_task,
    make_splits,
    register_task,
    score,
)


@pytest.mark.parametrize("name", ["addition", "sorting", "countdown", "countdown_mix"])
@pytest.mark.parametrize("difficulty", [1, 2, 4])
def test_reference_answers_verify(name, difficulty):
    task = get_task(name)
    rng = np.random.default_rng(difficulty)
    for _ in range(50):
        p = task.generate(rng, difficulty)
        assert task.verify(p.answer, p) == 1.0
        assert task.verify(p.answer + "1", p) == 0.0


def test_addition_and_sorting_by_hand():
    assert get_task("addition").verify(" 504", Problem("483+21=", "504")) == 1.0
    assert get_task("addition").verify("505", Problem("483+21=", "504")) == 0.0
    assert get_task("sorting").verify("1359", Problem("sort:3159=", "1359")) == 1.0
    assert get_task("sorting").verify("1395", Problem("sort:3159=", "1359")) == 0.0


def test_countdown_verifier_rules():
    cd = get_task("countdown")
    p = Problem("make 16 from 2,3,5=", "2*(3+5)")
    assert cd.verify("(5+3)*2", p) == 1.0
    assert cd.verify("2*8", p) == 0.0  # 8 is not one of the numbers
    assert cd.verify("5+5+3+3", p) == 0.0  # numbers used more than once
    assert cd.verify("__import__('os')", p) == 0.0
    assert cd.verify("2*(3+5", p) == 0.0
    assert cd.verify("5/0", p) == 0.0
    assert cd.verify("(3+5)/2*2*2", Problem("make 16 from 2,2,2,3,5=", "")) == 1.0


def test_extract_answer_and_score():
    assert extract_answer("abc</think>42", "</think>") == "42"
    assert extract_answer("a</think>b</think>42") == "42"
    assert extract_answer("42", "</think>") is None
    assert extract_answer("42", None) == "42"
    p = Problem("40+2=", "42")
    assert score(get_task("addition"), "hmm</think>42", p) == 1.0
    assert score(get_task("addition"), "42", p) == 0.0


def test_splits_are_fixed_and_disjoint():
    cfg = TaskConfig(name="addition", difficulty=3, n_train=300, n_val=50, seed=5)
    _, train, val = make_splits(cfg)
    _, train2, val2 = make_splits(cfg.model_copy(update={"n_train": 100}))
    assert val == val2  # the validation split does not depend on the training size
    assert train2 == train[:100]
    assert not {p.prompt for p in train} & {p.prompt for p in val}
    assert len({p.prompt for p in train}) == 300


def test_too_small_problem_space_is_a_clear_error():
    with pytest.raises(ValueError, match="too few distinct problems"):
        make_splits(TaskConfig(name="addition", difficulty=1, n_train=500, n_val=10))


def test_jsonl_task(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"prompt": f"q{i}", "answer": str(i * 1.5)} for i in range(20)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    task, train, val = make_splits(
        TaskConfig(name="jsonl", path=str(path), n_val=5, n_train=0, match="numeric")
    )
    assert len(val) == 5 and len(train) == 15
    p = Problem("q3", "4.5")
    assert task.verify("4.50", p) == 1.0 and task.verify("4.6", p) == 0.0
    exact = get_task("jsonl", match="exact")
    assert exact.verify("4.5", p) == 1.0 and exact.verify("4.50", p) == 0.0


def test_jsonl_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: .*'prompt' and 'answer'"):
        make_splits(TaskConfig(name="jsonl", path=str(path), n_val=1))


def test_task_registry():
    assert {"addition", "sorting", "countdown", "countdown_mix", "jsonl"} <= set(TASKS.names())
    with pytest.raises(ValueError, match="already registered"):
        register_task("addition")(object)
    with pytest.raises(
        ValueError, match="choose one of addition, countdown, countdown_mix, jsonl, sorting"
    ):
        get_task("chess")


def test_countdown_mix_scratchpads_are_worked_arithmetic():
    """Each scratchpad line is a correct operation on positive integers, chained from the
    previous result to the target; problems mix 2 to ``difficulty`` numbers."""
    import re

    task = get_task("countdown_mix")
    rng = np.random.default_rng(0)
    counts = set()
    for _ in range(300):
        p = task.generate(rng, 4)
        target = int(p.prompt.split()[1])
        nums = [int(x) for x in p.prompt.split(" from ")[1].rstrip("=").split(",")]
        counts.add(len(nums))
        lines = p.solution.rstrip(",").split(",")
        assert len(lines) == len(nums) - 1  # one operation per number after the first
        prev = None
        for line in lines:
            a, op, b, v = re.fullmatch(r"(\d+)([+*-])(\d+)=(\d+)", line).groups()
            a, b, v = int(a), int(b), int(v)
            assert v == {"+": a + b, "-": a - b, "*": a * b}[op] and v > 0
            assert prev is None or a == prev
            prev = v
        assert prev == target
        assert task.verify(p.answer, p) == 1.0
    assert counts == {2, 3, 4}


def test_countdown_mix_splits():
    _, train, val = make_splits(TaskConfig(name="countdown_mix", difficulty=4, n_train=500))
    assert len(train) == 500 and not {p.prompt for p in train} & {p.prompt for p in val}
