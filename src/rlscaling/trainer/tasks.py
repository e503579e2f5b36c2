"""Verifiable-reward tasks: seeded generators with a difficulty knob, and 1/0 verifiers.

A task turns a random generator and a difficulty into :class:`Problem` objects (prompt, reference
answer, optional worked ``solution`` used only by the supervised warm-up) and scores a
model's answer with :meth:`Task.verify` (1.0 correct, 0.0 otherwise). :func:`make_splits` builds
a fixed held-out validation split from ``TaskConfig.seed`` (independent of the run's seed and of
the training-set size) and a disjoint training split.

Built-in tasks (registry ``TASKS``):

- ``addition``: ``"483+21="`` -> ``"504"``; difficulty = maximum digits per operand.
- ``sorting``: ``"sort:3159="`` -> ``"1359"``; difficulty = number of digits to sort.
- ``countdown``: ``"make 22 from 3,5,7="`` -> any expression using each given number at most
  once with ``+ - * / ( )`` that equals 22; difficulty = how many numbers (numbers 1-12).
- ``countdown_mix``: countdown over a mix of difficulties, 2 to ``difficulty`` numbers per
  problem (uniform), each with a worked scratchpad (one line per operation, ``"3+5=8,8*7=56,"``)
  that the warm-up teaches; the scratchpad grows with the number of operands, so the thinking
  budget and what happens at it (interruption or truncation) matter.
- ``jsonl``: a user file with one ``{"prompt": ..., "answer": ...}`` object per line, verified by
  exact string match or numeric match (``TaskConfig.match``).

A response is scored on the text after the last end-of-thinking marker (``</think>`` by
default, ScaleRL verifies after ``</think>``); a response without the marker scores 0.

Examples
--------
>>> import numpy as np
>>> task = get_task("addition")
>>> p = task.generate(np.random.default_rng(0), difficulty=2)
>>> task.verify(p.answer, p)
1.0
>>> get_task("countdown").verify("(3+5)*2", Problem("make 16 from 2,3,5=", "2*(3+5)"))
1.0
"""

from __future__ import annotations

import ast
import json
import operator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rlscaling.trainer.registry import Registry


@dataclass(frozen=True)
class Problem:
    """One task instance. ``solution`` is optional worked text placed before the marker;
    ``task`` names the task it belongs to in a multi-task run (empty otherwise)."""

    prompt: str
    answer: str
    solution: str = ""
    task: str = ""


class Task:
    """Base class: subclasses implement :meth:`generate` and :meth:`verify`."""

    name = "task"

    def generate(self, rng: np.random.Generator, difficulty: int) -> Problem:
        raise NotImplementedError

    def verify(self, answer: str, problem: Problem) -> float:
        return float(answer.strip() == problem.answer.strip())


TASKS: Registry[type[Task]] = Registry("task")


def register_task(name: str):
    """Register a :class:`Task` subclass under ``name`` (duplicates raise)."""
    return TASKS.register(name)


def get_task(name: str, **kwargs: Any) -> Task:
    """An instance of the task registered as ``name``."""
    return TASKS.get(name)(**kwargs)


@register_task("addition")
class Addition(Task):
    name = "addition"

    def generate(self, rng: np.random.Generator, difficulty: int) -> Problem:
        hi = 10**difficulty
        a, b = int(rng.integers(0, hi)), int(rng.integers(0, hi))
        return Problem(f"{a}+{b}=", str(a + b))


@register_task("sorting")
class Sorting(Task):
    name = "sorting"

    def generate(self, rng: np.random.Generator, difficulty: int) -> Problem:
        xs = "".join(str(int(x)) for x in rng.integers(0, 10, size=max(difficulty, 1)))
        return Problem(f"sort:{xs}=", "".join(sorted(xs)))


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _eval_expr(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Expression):
        return _eval_expr(node.body, used)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in (*_OPS, ast.Div):
        left, right = _eval_expr(node.left, used), _eval_expr(node.right, used)
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise ZeroDivisionError
            return left / right
        return _OPS[type(node.op)](left, right)
    raise ValueError("only integers, + - * / and parentheses are allowed")


@register_task("countdown")
class Countdown(Task):
    name = "countdown"

    def generate(self, rng: np.random.Generator, difficulty: int) -> Problem:
        k = max(difficulty, 2)
        nums = [int(x) for x in rng.integers(1, 13, size=k)]
        while True:
            order = [int(i) for i in rng.permutation(k)]
            expr = str(nums[order[0]])
            for i in order[1:]:
                op = "+-*"[int(rng.integers(0, 3))]
                if op == "*" and ("+" in expr or "-" in expr):
                    expr = f"({expr})"
                expr = f"{expr}{op}{nums[i]}"
            value = _eval_expr(ast.parse(expr, mode="eval"), [])
            if value > 0:
                break
        return Problem(f"make {int(value)} from {','.join(map(str, nums))}=", expr)

    def verify(self, answer: str, problem: Problem) -> float:
        head = problem.prompt.removeprefix("make ").rstrip("=")
        target_s, nums_s = head.split(" from ")
        target, nums = int(target_s), [int(x) for x in nums_s.split(",")]
        text = answer.strip()
        if not text or len(text) > 64 or any(c not in "0123456789+-*/() " for c in text):
            return 0.0
        used: list[int] = []
        try:
            value = _eval_expr(ast.parse(text, mode="eval"), used)
        except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
            return 0.0
        pool = list(nums)
        for u in used:
            if u not in pool:
                return 0.0
            pool.remove(u)
        return float(value == target)


@register_task("countdown_mix")
class CountdownMix(Countdown):
    """Countdown with 2 to ``difficulty`` numbers per problem and a worked scratchpad.

    The reference solution folds the numbers left to right in a random order; every
    intermediate value stays positive (a subtraction that would not is redrawn), so the
    scratchpad ``"a op b=v1,v1 op c=v2,"`` is plain arithmetic on positive integers. Its
    length is about 7 characters per operation: with ``difficulty=5`` the longest take ~30
    thinking tokens for a character-level tokenizer.
    """

    name = "countdown_mix"

    def generate(self, rng: np.random.Generator, difficulty: int) -> Problem:
        k = int(rng.integers(2, max(difficulty, 2) + 1))
        nums = [int(x) for x in rng.integers(1, 13, size=k)]
        order = [int(i) for i in rng.permutation(k)]
        value, expr, steps = nums[order[0]], str(nums[order[0]]), []
        for i in order[1:]:
            x = nums[i]
            op = "+-*"[int(rng.integers(0, 3))]
            if op == "-" and value - x <= 0:
                op = "+"  # keep every intermediate value positive
            new = value + x if op == "+" else value - x if op == "-" else value * x
            steps.append(f"{value}{op}{x}={new},")
            if op == "*" and ("+" in expr or "-" in expr):
                expr = f"({expr})"
            expr, value = f"{expr}{op}{x}", new
        return Problem(f"make {value} from {','.join(map(str, nums))}=", expr, "".join(steps))


@register_task("jsonl")
class JsonlTask(Task):
    """User data: problems are read from a file, not generated (see :func:`load_jsonl`)."""

    name = "jsonl"

    def __init__(self, match: str = "exact") -> None:
        if match not in ("exact", "numeric"):
            raise ValueError(f"match must be 'exact' or 'numeric', got {match!r}")
        self.match = match

    def generate(self, rng: np.random.Generator, difficulty: int) -> Problem:
        raise TypeError("the jsonl task reads its problems from TaskConfig.path")

    def verify(self, answer: str, problem: Problem) -> float:
        if self.match == "exact":
            return float(answer.strip() == problem.answer.strip())
        try:
            a, b = float(answer.strip().replace(",", "")), float(problem.answer.replace(",", ""))
        except ValueError:
            return 0.0
        return float(abs(a - b) <= 1e-6 * max(1.0, abs(b)))


def load_jsonl(path: str | Path) -> list[Problem]:
    """Read ``{"prompt": str, "answer": str|number[, "solution": str]}`` lines."""
    problems = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                problems.append(
                    Problem(str(obj["prompt"]), str(obj["answer"]), str(obj.get("solution", "")))
                )
            except (json.JSONDecodeError, KeyError) as exc:
                raise ValueError(
                    f"{path}:{lineno}: each line must be a JSON object with 'prompt' and "
                    f"'answer' ({exc})"
                ) from None
    if not problems:
        raise ValueError(f"{path}: no problems found")
    return problems


def extract_answer(response: str, marker: str | None = "</think>") -> str | None:
    """The text after the last ``marker`` (None if the marker is missing)."""
    if not marker:
        return response
    if marker not in response:
        return None
    return response.rsplit(marker, 1)[1]


def score(task: Task, response: str, problem: Problem, marker: str | None = "</think>") -> float:
    """1.0 if the response's answer verifies, else 0.0."""
    answer = extract_answer(response, marker)
    return 0.0 if answer is None else task.verify(answer, problem)


def _unique(
    task: Task, rng: np.random.Generator, difficulty: int, n: int, exclude: set[str]
) -> list[Problem]:
    out: list[Problem] = []
    seen = set(exclude)
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(
                f"task {task.name!r} at difficulty {difficulty} has too few distinct problems "
                f"for {n} (+{len(exclude)} held out); raise the difficulty or lower the sizes"
            )
        p = task.generate(rng, difficulty)
        if p.prompt not in seen:
            seen.add(p.prompt)
            out.append(p)
    return out


class MultiTask(Task):
    """Several tasks in one run: each problem is verified by the task it came from.

    ``tasks`` maps each task's label (``Problem.task``) to its :class:`Task`.
    """

    def __init__(self, tasks: dict[str, Task]) -> None:
        self.tasks = dict(tasks)
        self.name = "+".join(self.tasks)

    def generate(self, rng: np.random.Generator, difficulty: int) -> Problem:
        raise TypeError("a multi-task run generates each task's problems with that task")

    def verify(self, answer: str, problem: Problem) -> float:
        if problem.task not in self.tasks:
            raise KeyError(f"problem of task {problem.task!r}; this run has {list(self.tasks)}")
        return self.tasks[problem.task].verify(answer, problem)


def task_label(cfg: Any) -> str:
    """The name a task's curve goes by in a multi-task run: ``label``, else ``name``."""
    return cfg.label or cfg.name


def make_task_splits(cfgs: list[Any]) -> tuple[Task, list[Problem], list[Problem]]:
    """``(task, train, val)`` for one task config, or for several (a multi-task run).

    With several, every problem carries its task's label (``Problem.task``), the task is a
    :class:`MultiTask`, the splits are the concatenation of each task's, and no training
    prompt repeats a validation prompt of any task.
    """
    if len(cfgs) == 1:
        return make_splits(cfgs[0])
    tasks: dict[str, Task] = {}
    train: list[Problem] = []
    val: list[Problem] = []
    for cfg in cfgs:
        task, t_train, t_val = make_splits(cfg)
        label = task_label(cfg)
        tasks[label] = task
        train += [replace(p, task=label) for p in t_train]
        val += [replace(p, task=label) for p in t_val]
    held_out = {p.prompt for p in val}
    return MultiTask(tasks), [p for p in train if p.prompt not in held_out], val


def make_splits(cfg: Any) -> tuple[Task, list[Problem], list[Problem]]:
    """``(task, train, val)`` for a :class:`~rlscaling.trainer.config.TaskConfig`.

    The validation split depends only on ``cfg.seed``, ``cfg.difficulty`` and ``cfg.n_val``;
    training prompts never repeat a validation prompt.
    """
    if cfg.name == "jsonl":
        task = get_task("jsonl", match=cfg.match)
        problems = load_jsonl(cfg.path)
        order = np.random.default_rng([cfg.seed, 1]).permutation(len(problems))
        n_val = min(cfg.n_val, len(problems) - 1)
        val = [problems[i] for i in order[:n_val]]
        val_prompts = {p.prompt for p in val}
        train = [problems[i] for i in order[n_val:] if problems[i].prompt not in val_prompts]
        return task, train[: cfg.n_train] if cfg.n_train else train, val
    task = get_task(cfg.name)
    val = _unique(task, np.random.default_rng([cfg.seed, 1]), cfg.difficulty, cfg.n_val, set())
    train = _unique(
        task,
        np.random.default_rng([cfg.seed, 2]),
        cfg.difficulty,
        cfg.n_train,
        {p.prompt for p in val},
    )
    return task, train, val
