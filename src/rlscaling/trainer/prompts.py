"""Prompt templates: how a task's problem becomes the token ids the policy is prompted with.

A problem's ``prompt`` is the bare problem (``"sort:3159="``); the template decides what the
model sees around it (``PromptConfig.template``):

- ``raw``: the bare problem, encoded with the tokenizer's defaults (BOS added where the
  tokenizer adds one). The format of the tiny character-level model, trained from scratch by
  the warm-up on exactly this.
- ``chat``: the tokenizer's own chat template (``apply_chat_template``) over an optional
  system message (``PromptConfig.system``) and one user message, the task's instruction, an
  answer-format hint and the problem (:meth:`PromptFormat.message`), with the generation
  prompt of the assistant's turn appended. For instruct models.
- ``plain``: for a model without a chat template, :data:`PLAIN_TEMPLATE`: the same user
  message followed by ``"\\nAnswer:"``, encoded with the tokenizer's defaults.
- ``auto`` (default): ``raw`` for the tiny model built from scratch; for a model directory
  the template it was trained with when the trainer saved it (``rlscaling_prompt.json``,
  written next to ``base_model/``), else ``chat`` when its tokenizer has a chat template,
  else ``plain``.

The answer-format hint follows the task's answer reading (``TaskConfig.extraction``,
``require_marker``, the end-of-thinking marker), so a chat model is told how it will be
scored: e.g. "Put the final answer in \\\\boxed{}." for ``math``.

Examples
--------
>>> from rlscaling.trainer.tasks import Problem, get_task
>>> fmt = PromptFormat("plain", instructions={"": get_task("sorting").instruction})
>>> print(fmt.text(Problem("sort:3159=", "1359")))
Sort the digits in ascending order. Reply with the answer only.
<BLANKLINE>
sort:3159=
Answer:
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlscaling.trainer.tasks import Problem, Task

TEMPLATES = ("auto", "chat", "plain", "raw")
PROMPT_FILE = "rlscaling_prompt.json"
"""Written into a model directory the trainer saves: the template its weights were trained on."""

PLAIN_TEMPLATE = "{message}\nAnswer:"
"""The ``plain`` template; ``message`` is :meth:`PromptFormat.message` (instruction, hint,
problem)."""


def answer_hint(extraction: str, marker: str | None, require_marker: bool) -> str:
    """The sentence that tells a model where its answer is read from.

    Examples
    --------
    >>> answer_hint("math", None, False)
    'Put the final answer in \\\\boxed{}.'
    >>> answer_hint("full", "</think>", True)
    'Think first, then write </think> followed by the answer only.'
    """
    what = {
        "full": "the answer only",
        "boxed": "the final answer in \\boxed{}",
        "math": "the final answer in \\boxed{}",
        "answer_is": 'the final answer as "The answer is X."',
        "last_number": "the final answer as a number at the end",
    }[extraction]
    if marker and require_marker:
        return f"Think first, then write {marker} followed by {what}."
    if extraction == "full":
        return "Reply with the answer only."
    if extraction == "last_number":
        return "End with the final answer as a number."
    return f"Put {what}."


@dataclass(frozen=True)
class PromptFormat:
    """A resolved template and what it needs: :meth:`encode` a problem to token ids.

    ``template`` is ``raw``, ``chat`` or ``plain`` (``auto`` resolved by :func:`resolve`);
    ``instructions`` maps a problem's task label (``""`` in a single-task run) to its
    instruction; ``hints`` the same labels to the answer-format hint.
    """

    template: str
    system: str | None = None
    instructions: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES[1:]:
            raise ValueError(
                f"template={self.template!r}; a resolved template is one of chat, plain, raw"
            )

    def message(self, problem: Problem) -> str:
        """Instruction, answer hint and problem: the user turn of ``chat``, the body of
        ``plain``."""
        head = " ".join(
            part
            for part in (
                self.instructions.get(problem.task, ""),
                self.hints.get(problem.task, "Reply with the answer only."),
            )
            if part
        )
        return f"{head}\n\n{problem.prompt}"

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        """The chat messages of ``problem`` (system first when there is one)."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return [*msgs, {"role": "user", "content": self.message(problem)}]

    def text(self, problem: Problem, tokenizer: Any = None) -> str:
        """The prompt as text (``chat`` needs the tokenizer whose template renders it)."""
        if self.template == "raw":
            return problem.prompt
        if self.template == "plain":
            return PLAIN_TEMPLATE.format(message=self.message(problem))
        return tokenizer.apply_chat_template(
            self.messages(problem), tokenize=False, add_generation_prompt=True
        )

    def encode(self, tokenizer: Any, problem: Problem) -> list[int]:
        """Token ids of the prompt of ``problem``."""
        if self.template == "chat":
            # the template writes its own special tokens (BOS, turn markers): add none
            text = self.text(problem, tokenizer)
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(tokenizer(self.text(problem))["input_ids"])


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def recorded_template(model_dir: str | Path | None) -> str | None:
    """The template a model directory was trained with, if the trainer recorded one."""
    if model_dir is None:
        return None
    path = Path(model_dir) / PROMPT_FILE
    if not path.is_file():
        return None
    template = json.loads(path.read_text()).get("template")
    return template if template in TEMPLATES[1:] else None


def record_template(model_dir: str | Path, template: str) -> None:
    """Write the template a saved model was trained with into its directory."""
    (Path(model_dir) / PROMPT_FILE).write_text(json.dumps({"template": template}) + "\n")


def resolve(template: str, tokenizer: Any, model_dir: str | Path | None) -> str:
    """``template`` with ``auto`` resolved (see the module docstring); ``model_dir`` is
    ``model.path`` (None for the tiny model built from scratch).

    ``chat`` for a tokenizer without a chat template raises a ``ValueError`` naming the fix.
    """
    if template not in TEMPLATES:
        raise ValueError(f"prompt.template={template!r}; choose one of {', '.join(TEMPLATES)}")
    if template == "chat" and not has_chat_template(tokenizer):
        raise ValueError(
            "prompt.template='chat' but the tokenizer has no chat template; use 'plain' (or "
            "'auto', which picks it), or set a chat_template in the model's tokenizer_config.json"
        )
    if template != "auto":
        return template
    if model_dir is None:
        return "raw"
    recorded = recorded_template(model_dir)
    if recorded is not None:
        return recorded
    return "chat" if has_chat_template(tokenizer) else "plain"


def prompt_format(cfg: Any, tokenizer: Any, task: Task) -> PromptFormat:
    """The run's :class:`PromptFormat` from a ``TrainConfig``, its tokenizer and its task
    (a :class:`~rlscaling.trainer.tasks.MultiTask` gives one instruction per task label)."""
    marker = cfg.task.answer_marker
    prompt_cfg = getattr(cfg, "prompt", None)
    template = resolve(
        getattr(prompt_cfg, "template", "auto"), tokenizer, getattr(cfg.model, "path", None)
    )
    subtasks: dict[str, Task] = dict(getattr(task, "tasks", None) or {"": task})
    return PromptFormat(
        template,
        system=getattr(prompt_cfg, "system", None),
        instructions={k: t.instruction for k, t in subtasks.items()},
        hints={k: answer_hint(t.extraction, marker, t.require_marker) for k, t in subtasks.items()},
    )


def longest_prompt(cfg: Any, tokenizer: Any) -> int:
    """Tokens in the run's longest training prompt, in its template (sizes vLLM's context in
    a process that holds the config and the tokenizer but not the trainer's prompts)."""
    from rlscaling.trainer.tasks import make_task_splits

    task, train, _ = make_task_splits(cfg.task_configs())
    fmt = prompt_format(cfg, tokenizer, task)
    return max(len(fmt.encode(tokenizer, p)) for p in train)
