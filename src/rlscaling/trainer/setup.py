"""Everything ``train()`` builds before its first step: device, model, engine params, run meta."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from rlscaling.io import rundir
from rlscaling.trainer.config import TrainConfig
from rlscaling.trainer.model import build_tiny_model, build_tokenizer, load_model, save_model
from rlscaling.trainer.prompts import PromptFormat, prompt_format, record_template
from rlscaling.trainer.rollout.base import SamplingParams
from rlscaling.trainer.tasks import Problem, Task
from rlscaling.trainer.warmup import supervised_warmup, warmup_problems


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but torch sees no CUDA device; use device='cpu'")
    return torch.device(name)


def base_model(
    cfg: TrainConfig, task: Task, train: list[Problem], val: list[Problem], device: Any
) -> tuple[Any, Any, dict[str, Any]]:
    """The starting policy: a local HF model or a tiny model, then the supervised warm-up.

    The base model is saved to ``<out_dir>/base_model`` so other recipes can start from it,
    with the prompt template it was warmed up on recorded there (``auto`` picks it again).
    """
    if cfg.model.path:
        model, tokenizer = load_model(
            cfg.model.path, cfg.model.dtype, cfg.model.attn_implementation
        )
    else:
        tokenizer = build_tokenizer()
        model = build_tiny_model(cfg.model, tokenizer, seed=cfg.warmup.seed)
    model.to(device)
    info: dict[str, Any] = {"source": cfg.model.path or "tiny", "warmup_steps": cfg.warmup.steps}
    fmt = prompt_format(cfg, tokenizer, task)
    info["prompt_template"] = fmt.template
    if cfg.warmup.steps:
        problems = warmup_problems(task, train, val, cfg, cfg.task.difficulty)
        encode = prompt_encoder(fmt, tokenizer)
        losses = supervised_warmup(
            model, tokenizer, problems, cfg, device, encode=encode, task=task
        )
        info["warmup_final_loss"] = losses[-1]
    base_dir = save_model(model, tokenizer, Path(cfg.out_dir) / rundir.BASE_MODEL_DIR)
    record_template(base_dir, fmt.template)
    return model, tokenizer, info


def prompt_encoder(fmt: PromptFormat, tokenizer: Any) -> Any:
    """``problem -> token ids`` in the run's prompt template."""
    return lambda problem: fmt.encode(tokenizer, problem)


def sampling_params(cfg: TrainConfig, tokenizer: Any) -> SamplingParams:
    r = cfg.rollout
    marker = cfg.task.answer_marker
    enc = lambda s: tuple(tokenizer(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    return SamplingParams(
        temperature=r.temperature,
        top_p=r.top_p,
        top_k=r.top_k,
        # the length penalty is a reward shaping on top of truncation (steps.learn applies it)
        length_control="truncation" if r.length_control == "length_penalty" else r.length_control,
        think_budget=r.think_budget,
        think_budget_jitter=r.think_budget_jitter,
        answer_budget=r.answer_budget,
        marker_ids=enc(marker) if marker else (),
        interruption_ids=interruption_ids(r.interruption_text, marker, enc),
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        fp32_lm_head=cfg.model.fp32_lm_head,
    )


def interruption_ids(text: str, marker: str | None, enc: Any) -> tuple[int, ...]:
    """Token ids of the forced phrase, ending with the marker's own ids.

    The engines find the end of thinking by the marker's token ids at the end of the
    response. A subword tokenizer may encode a phrase ending in ``" </think>"`` with tokens
    that differ from those of ``"</think>"`` alone (the space merged into the marker); the
    phrase would then never end the thinking, and the budget rule would force it again and
    again. So the text before the marker and the marker are encoded apart.
    """
    if marker and text.endswith(marker):
        return enc(text[: -len(marker)]) + enc(marker)
    return enc(text)


def package_version() -> str:
    """The installed version of rlscaling (``0+unknown`` when running from a source tree)."""
    try:
        return version("rlscaling")
    except PackageNotFoundError:  # pragma: no cover
        return "0+unknown"


def versions() -> dict[str, str]:
    import transformers

    return {
        "rlscaling": package_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def run_meta(
    cfg: TrainConfig, task_name: str, n_params: int, n_total: int, base: dict[str, Any]
) -> dict[str, Any]:
    return {
        "config": cfg.model_dump(mode="json"),
        "versions": versions(),
        "compute_unit": "FLOPs",
        "model_params": n_total,
        "flops_params": n_params,
        "task": task_name,
        "tasks": [t.label or t.name for t in cfg.tasks],  # a multi-task run's curve labels
        "seed": cfg.seed,
        "recipe": cfg.recipe,
        "run_name": cfg.run_name,
        "tags": dict(cfg.tags),
        "base_model": base,
    }
