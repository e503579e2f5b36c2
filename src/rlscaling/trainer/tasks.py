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
default, ScaleRL verifies after ``</think>``). By default a response without the marker scores
0; with ``require_marker=False`` (``TaskConfig.require_marker``) the whole response is read
instead, so a model that never thinks out loud can be scored. What is read is then narrowed by
the task's ``extraction`` (``TaskConfig.extraction``, see :func:`extract_answer`): the whole
text (``full``, the default, for the tiny tasks), the last ``\\boxed{...}``, the ``X`` of the last
"answer is X", the last number, or ``math`` (boxed, else "answer is", else the last number),
the usual reading of a chat model's answer to a math question.

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
import re
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


EXTRACTIONS = ("full", "boxed", "answer_is", "last_number", "math")
"""How an answer is read from the text after the marker (see :func:`extract_answer`)."""


class Task:
    """Base class: subclasses implement :meth:`generate` and :meth:`verify`.

    ``instruction`` is the sentence a chat or plain prompt template puts before the problem
    (:mod:`rlscaling.trainer.prompts`); ``extraction`` and ``require_marker`` say how the answer
    is read from a response (:meth:`extract`). :func:`make_splits` sets all three from the
    task's config.
    """

    name = "task"
    instruction = ""
    extraction = "full"
    require_marker = True

    def extract(self, response: str, problem: Problem, marker: str | None) -> str | None:
        """The answer in ``response`` (None when there is none to verify)."""
        return extract_answer(
            response, marker, require_marker=self.require_marker, extraction=self.extraction
        )

    def target(self, problem: Problem, marker: str | None) -> str:
        """The response the supervised warm-up teaches: solution, marker, answer as extracted.

        The answer is written the way :meth:`extract` reads it back (``\\boxed{...}`` for
        ``boxed`` and ``math``, "The answer is ..." for ``answer_is``).
        """
        return problem.solution + (marker or "") + format_answer(problem.answer, self.extraction)

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
    instruction = "Add the two numbers."

    def generate(self, rng: np.random.Generator, difficulty: int) -> Problem:
        hi = 10**difficulty
        a, b = int(rng.integers(0, hi)), int(rng.integers(0, hi))
        return Problem(f"{a}+{b}=", str(a + b))


@register_task("sorting")
class Sorting(Task):
    name = "sorting"
    instruction = "Sort the digits in ascending order."

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
    instruction = (
        "Write an expression equal to the target number that uses each given number at most "
        "once, with + - * / and parentheses."
    )

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


_BOXED = "\\boxed{"
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")


def last_boxed(text: str) -> str | None:
    """The contents of the last ``\\boxed{...}`` (braces balanced), or None.

    Examples
    --------
    >>> last_boxed(r"so \\boxed{1} then \\boxed{\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    """
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    i, depth = start + len(_BOXED), 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None  # unclosed: the answer was cut off


def last_number(text: str) -> str | None:
    """The last number in ``text`` as written, thousands separators removed (``1,234`` ->
    ``1234``), leading zeros kept (``0139`` stays: a sorted string of digits is an answer)."""
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def answer_is(text: str) -> str | None:
    """What follows the last "answer is" / "answer:" up to the end of its sentence (a full
    stop before a space or the end) or line; None if the phrase is missing or nothing follows.
    """
    found = list(_ANSWER_IS.finditer(text))
    if not found:
        return None
    rest = text[found[-1].end() :].split("\n", 1)[0]
    rest = _SENTENCE_END.split(rest, maxsplit=1)[0].strip()
    boxed = last_boxed(rest)
    return (boxed if boxed is not None else rest) or None


def format_answer(answer: str, extraction: str = "full") -> str:
    """``answer`` written so that ``extraction`` reads it back (for warm-up targets).

    Examples
    --------
    >>> format_answer("42", "math"), format_answer("42", "answer_is")
    ('\\\\boxed{42}', 'The answer is 42.')
    """
    if extraction in ("boxed", "math"):
        return _BOXED + answer + "}"
    if extraction == "answer_is":
        return f"The answer is {answer}."
    return answer


def extract_answer(
    response: str,
    marker: str | None = "</think>",
    *,
    require_marker: bool = True,
    extraction: str = "full",
) -> str | None:
    """The answer in ``response``, or None when there is none.

    The text read is what follows the last ``marker``. Without the marker in the response
    there is no answer, unless ``require_marker`` is False: then the whole response is read.
    ``extraction`` narrows it: ``full`` (all of it), ``boxed`` (the last ``\\boxed{...}``),
    ``answer_is`` (after the last "answer is"), ``last_number``, or ``math`` (boxed, else
    "answer is", else the last number).

    Examples
    --------
    >>> extract_answer("7+5 is 12</think>12")
    '12'
    >>> extract_answer("So the answer is 12.", require_marker=False, extraction="math")
    '12'
    >>> extract_answer(r"I get \\boxed{12}", require_marker=False, extraction="math")
    '12'
    >>> extract_answer(r"I get \\boxed{12}", extraction="math") is None  # no </think>
    True
    """
    if extraction not in EXTRACTIONS:
        raise ValueError(f"extraction={extraction!r}; choose one of {', '.join(EXTRACTIONS)}")
    if marker and marker in response:
        text = response.rsplit(marker, 1)[1]
    elif marker and require_marker:
        return None
    else:
        text = response
    if extraction == "full":
        return text
    if extraction == "boxed":
        return last_boxed(text)
    if extraction == "answer_is":
        return answer_is(text)
    if extraction == "last_number":
        return last_number(text)
    for read in (last_boxed, answer_is, last_number):  # math
        found = read(text)
        if found is not None:
            return found
    return None


def score(task: Task, response: str, problem: Problem, marker: str | None = "</think>") -> float:
    """1.0 if the response's answer (:meth:`Task.extract`) verifies, else 0.0."""
    answer = task.extract(response, problem, marker)
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

    def task_of(self, problem: Problem) -> Task:
        if problem.task not in self.tasks:
            raise KeyError(f"problem of task {problem.task!r}; this run has {list(self.tasks)}")
        return self.tasks[problem.task]

    def verify(self, answer: str, problem: Problem) -> float:
        return self.task_of(problem).verify(answer, problem)

    def extract(self, response: str, problem: Problem, marker: str | None) -> str | None:
        return self.task_of(problem).extract(response, problem, marker)

    def target(self, problem: Problem, marker: str | None) -> str:
        return self.task_of(problem).target(problem, marker)


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


def configure(task: Task, cfg: Any) -> Task:
    """Set ``task``'s instruction and answer reading from its config (absent fields: kept)."""
    instruction = getattr(cfg, "instruction", None)
    if instruction is not None:
        task.instruction = instruction
    task.extraction = getattr(cfg, "extraction", task.extraction)
    task.require_marker = getattr(cfg, "require_marker", task.require_marker)
    return task


def make_splits(cfg: Any) -> tuple[Task, list[Problem], list[Problem]]:
    """``(task, train, val)`` for a :class:`~rlscaling.trainer.config.TaskConfig`.

    The validation split depends only on ``cfg.seed``, ``cfg.difficulty`` and ``cfg.n_val``;
    training prompts never repeat a validation prompt.
    """
    if cfg.name == "jsonl":
        task = configure(get_task("jsonl", match=cfg.match), cfg)
        problems = load_jsonl(cfg.path)
        order = np.random.default_rng([cfg.seed, 1]).permutation(len(problems))
        n_val = min(cfg.n_val, len(problems) - 1)
        val = [problems[i] for i in order[:n_val]]
        val_prompts = {p.prompt for p in val}
        train = [problems[i] for i in order[n_val:] if problems[i].prompt not in val_prompts]
        return task, train[: cfg.n_train] if cfg.n_train else train, val
    task = configure(get_task(cfg.name), cfg)
    val = _unique(task, np.random.default_rng([cfg.seed, 1]), cfg.difficulty, cfg.n_val, set())
    train = _unique(
        task,
        np.random.default_rng([cfg.seed, 2]),
        cfg.difficulty,
        cfg.n_train,
        {p.prompt for p in val},
    )
    return task, train, val
