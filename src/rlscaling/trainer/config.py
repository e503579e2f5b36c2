"""Training configuration: a pydantic :class:`TrainConfig` and named recipe presets.

Every part of the ScaleRL recipe is a switch here. The defaults are the ScaleRL recipe
(Khatri et al. 2025): CISPO loss with ``eps_max = 5``, prompt-level loss aggregation,
group-centred advantages scaled by the batch standard deviation, zero-variance filtering,
no-positive-resampling at a 0.9 pass rate, an FP32 LM head, interruption-based length control,
and generations lagging the trained policy by up to ``off_policy_lag = 8`` steps, produced by a
separate generator process that never stops (``rollout.mode = "pipeline_k"``, PipelineRL-style).

``recipe`` picks a named preset that is applied *under* the explicitly given values:

- ``scalerl``: the defaults above.
- ``grpo``: GRPO-style: symmetric PPO clip 0.2, sample-level aggregation, group-std
  advantages, no filtering, no NPR, model-precision LM head, truncation, on-policy.
- ``dapo``: DAPO-style: clip-higher PPO (0.2 / 0.28), token-level aggregation, group-std
  advantages, zero-variance filtering (DAPO resamples; here the groups are dropped), no NPR,
  truncation, on-policy.

Names of losses, loss aggregations, advantage estimators, tasks and rollout engines are checked
against their registries; unknown keys anywhere are rejected, so typos fail early.

Examples
--------
>>> cfg = TrainConfig(recipe="dapo", steps=10)
>>> cfg.loss.name, cfg.loss.aggregation, cfg.loss.clip_high
('ppo', 'token', 0.28)
>>> TrainConfig(recipe="dapo", loss={"aggregation": "prompt"}).loss.aggregation
'prompt'
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rlscaling.trainer.advantages import ADVANTAGES
from rlscaling.trainer.losses import AGGREGATIONS, LOSSES
from rlscaling.trainer.tasks import TASKS

INTERRUPTION_TEXT = (
    "Okay, time is up. Let me stop thinking and formulate a final answer now. </think>"
)
"""The phrase ScaleRL forces at the thinking budget (paper Sec. 4, App. A.10)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    """The policy: a local Hugging Face model directory, or a tiny model built from scratch."""

    path: str | None = Field(None, description="local HF model dir; None builds a tiny model")
    arch: Literal["llama", "qwen2"] = "llama"
    hidden_size: int = Field(64, ge=32)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(2, ge=1)
    intermediate_size: int | None = Field(None, description="default 4 * hidden_size")
    max_positions: int = Field(128, ge=16)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    fp32_lm_head: bool = Field(True, description="LM head in FP32 for sampling and training")
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"

    @model_validator(mode="after")
    def _head_dim(self) -> ModelConfig:
        if self.path is None:
            if self.hidden_size % self.num_heads:
                raise ValueError(
                    f"hidden_size={self.hidden_size} must be divisible by "
                    f"num_heads={self.num_heads}"
                )
            if self.hidden_size // self.num_heads < 32:
                raise ValueError(
                    f"head_dim = hidden_size / num_heads = {self.hidden_size // self.num_heads} "
                    "is below 32, which vLLM's CPU attention refuses; use fewer heads"
                )
        elif not Path(self.path).is_dir():
            raise ValueError(f"model.path={self.path!r} is not a directory")
        return self


class TaskConfig(_Section):
    """Which task, how hard, and the sizes of the fixed splits."""

    name: str = "addition"
    label: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_]+$",
        description="name of this task's curve in a multi-task run (reward_<label>); "
        "default the task name",
    )
    difficulty: int = Field(3, ge=1)
    n_train: int = Field(4096, ge=0, description="training prompts (jsonl: 0 = all)")
    n_val: int = Field(128, ge=1, description="held-out validation prompts")
    seed: int = Field(0, description="seed of the task splits (not of the run)")
    path: str | None = Field(None, description="JSONL file for the jsonl task")
    match: Literal["exact", "numeric"] = "exact"
    answer_marker: str | None = Field(
        "</think>", description="end-of-thinking marker; the answer is read after its last one"
    )
    require_marker: bool = Field(
        True,
        description="a response without answer_marker scores 0 (ScaleRL); False reads the "
        "whole response then (a model that does not think out loud)",
    )
    extraction: Literal["full", "boxed", "answer_is", "last_number", "math"] = Field(
        "full",
        description="how the answer is read from the text after the marker: all of it (the "
        "tiny tasks), the last \\boxed{}, after 'answer is', the last number, or math "
        "(boxed, else 'answer is', else the last number)",
    )
    instruction: str | None = Field(
        None,
        description="what a chat/plain prompt template tells the model before the problem; "
        "default the task's own",
    )

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        return TASKS.check(v)

    @model_validator(mode="after")
    def _path(self) -> TaskConfig:
        if self.name == "jsonl":
            if not self.path:
                raise ValueError("task.name='jsonl' needs task.path, a JSONL file")
            if not Path(self.path).is_file():
                raise ValueError(f"task.path={self.path!r} does not exist")
        elif self.n_train < 1:
            raise ValueError(f"task.n_train must be >= 1 for generated tasks, got {self.n_train}")
        return self


class PromptConfig(_Section):
    """How a problem is put to the model (:mod:`rlscaling.trainer.prompts`)."""

    template: Literal["auto", "chat", "plain", "raw"] = Field(
        "auto",
        description="raw: the bare problem (the tiny model's format); chat: the tokenizer's "
        "chat template with the task's instruction; plain: instruction, problem, 'Answer:'; "
        "auto: raw for the tiny model, else what a trainer-saved model dir records, else chat "
        "if the tokenizer has a chat template, else plain",
    )
    system: str | None = Field(None, description="system message of the chat template")


class WarmupConfig(_Section):
    """Supervised warm-up of a freshly built model on the task format (training split only)."""

    steps: int = Field(0, ge=0)
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    difficulty: int | None = Field(None, description="task difficulty for warm-up data")
    seed: int = 0


class RolloutConfig(_Section):
    """Generation: samples per prompt, sampling parameters and length control."""

    engine: str = "torch"
    mode: Literal["inline", "sync", "off_policy_k", "pipeline_k"] = Field(
        "inline",
        description=(
            "inline: generation in the trainer's process with a held snapshot lagging up to "
            "off_policy_lag steps; sync / off_policy_k / pipeline_k: a separate generator "
            "process (k = off_policy_lag)"
        ),
    )
    n_samples: int = Field(8, ge=1, description="samples per prompt (group size)")
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0, description="0 = off")
    length_control: Literal["interruption", "truncation", "length_penalty"] = Field(
        "interruption",
        description="interruption: force the end of thinking at the budget; truncation: stop "
        "at think_budget + answer_budget tokens; length_penalty: truncation plus the overlong "
        "penalty on correct responses longer than that cap minus length_penalty_window",
    )
    think_budget: int = Field(32, ge=1, description="tokens before the end-of-thinking marker")
    think_budget_jitter: int = Field(
        0,
        ge=0,
        description="interruption at a random point of the window [think_budget, "
        "think_budget + jitter] (ScaleRL: 10k-12k), drawn per sample from the rollout seed",
    )
    answer_budget: int = Field(16, ge=1, description="tokens after the marker")
    interruption_text: str = INTERRUPTION_TEXT
    length_penalty_window: int = Field(
        4,
        ge=1,
        description="L_cache of the length penalty: correct responses longer than "
        "think_budget + answer_budget - L_cache tokens lose up to 1 reward (ScaleRL: 2k of 14k)",
    )
    max_model_len: int | None = Field(
        None,
        ge=16,
        description="vLLM: longest prompt + response in tokens, which sizes the KV cache; "
        "default the longest prompt plus the response budget, capped by the model's "
        "max_position_embeddings",
    )
    gpu_memory_utilization: float | None = Field(
        None,
        gt=0,
        le=1,
        description="vLLM on a GPU: fraction of the GPU's memory vLLM may take (weights, "
        "activations, KV cache filling the rest); default: a KV cache of exactly what "
        "max_num_seqs sequences of max_model_len need",
    )
    kv_cache_gb: float | None = Field(
        None,
        gt=0,
        description="vLLM: KV cache size in GiB (CPU or GPU; on CPU the analogue of "
        "VLLM_CPU_KVCACHE_SPACE); overrides both defaults above",
    )

    @model_validator(mode="after")
    def _penalty_window(self) -> RolloutConfig:
        cap = self.think_budget + self.answer_budget
        if self.length_control == "length_penalty" and self.length_penalty_window > cap:
            raise ValueError(
                f"rollout.length_penalty_window={self.length_penalty_window} exceeds the length "
                f"cap think_budget + answer_budget = {cap}"
            )
        return self

    @field_validator("engine")
    @classmethod
    def _known(cls, v: str) -> str:
        from rlscaling.trainer.rollout import ENGINES

        return ENGINES.check(v)


class FleetConfig(_Section):
    """Generators as Ray actors (``num_generators >= 1``); 0 keeps one generator process.

    Applies to the separate-process modes (``sync``, ``off_policy_k``, ``pipeline_k``). Ray
    starts a local cluster unless ``address`` names one to join (``"auto"`` or
    ``"ray://host:10001"``).
    """

    num_generators: int = Field(
        0, ge=0, description="generator actors in Ray; 0: one generator process, no Ray"
    )
    address: str | None = Field(
        None, description="Ray cluster to join (ray.init(address=...)); None starts a local one"
    )
    tensor_parallel_size: int = Field(
        1, ge=1, description="GPUs per vLLM engine (vLLM's tensor_parallel_size; GPU only)"
    )
    cpus_per_generator: float = Field(1.0, gt=0, description="Ray CPUs reserved per actor")
    weight_sync: Literal["files", "broadcast"] = Field(
        "files",
        description="files: a safetensors file per version in weights_dir; broadcast: "
        "torch.distributed from the trainer to every actor (NCCL on GPU, gloo on CPU)",
    )
    weights_dir: str | None = Field(
        None,
        description="directory every actor can read (shared storage on a cluster); "
        "None: /dev/shm of the trainer's machine (one-machine fleets only)",
    )


class LossConfig(_Section):
    """Policy loss and its aggregation (separate switches)."""

    name: str = "cispo"
    aggregation: str = Field("prompt", description="a registered aggregation")
    eps_max: float = Field(5.0, gt=0, description="CISPO cap on the importance weight")
    clip_low: float = Field(0.2, ge=0, lt=1)
    clip_high: float = Field(0.28, ge=0)
    gspo_clip_low: float = Field(3e-3, ge=0, lt=1)
    gspo_clip_high: float = Field(5e-3, ge=0)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        return LOSSES.check(v)

    @field_validator("aggregation")
    @classmethod
    def _agg(cls, v: str) -> str:
        return AGGREGATIONS.check(v)


class AdvantageConfig(_Section):
    name: str = "batch_std"
    std_eps: float = Field(1e-6, gt=0)
    zero_variance_filter: bool = True

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        return ADVANTAGES.check(v)


class SamplerConfig(_Section):
    npr: bool = Field(True, description="no-positive-resampling")
    npr_threshold: float = Field(0.9, gt=0, le=1)
    npr_min_groups: int = Field(1, ge=1)


class OptimConfig(_Section):
    lr: float = Field(1e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(0, ge=0, description="linear LR warm-up, then constant")
    max_grad_norm: float = Field(1.0, gt=0)
    fp32_master_weights: bool = Field(
        True,
        description="a bfloat16/float16 model is stepped through FP32 master copies of its "
        "weights (no effect on a float32 model)",
    )


class LearnerConfig(_Section):
    """The learner when the run is started with several processes (``torchrun``).

    With one process (the default) these settings do nothing. See docs/trainer.md ("Many
    devices: the sharded learner").
    """

    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp",
        description="ddp: every rank holds the whole model and optimiser, gradients are "
        "all-reduced; fsdp: parameters, gradients and optimiser state are sharded (FSDP2)",
    )
    backend: Literal["auto", "gloo", "nccl"] = Field(
        "auto", description="torch.distributed backend; auto: nccl on CUDA, gloo on CPU"
    )
    timeout_minutes: float = Field(
        60.0,
        gt=0,
        description="how long a rank waits for the others (evaluation and checkpoints run "
        "on rank 0 while the other ranks wait)",
    )


PRESETS: dict[str, dict[str, Any]] = {
    "scalerl": {
        "loss": {"name": "cispo", "aggregation": "prompt"},
        "advantage": {"name": "batch_std", "zero_variance_filter": True},
        "sampler": {"npr": True},
        "model": {"fp32_lm_head": True},
        "rollout": {"length_control": "interruption", "mode": "pipeline_k"},
        "off_policy_lag": 8,
    },
    "grpo": {
        "loss": {"name": "grpo", "aggregation": "sample", "clip_low": 0.2},
        "advantage": {"name": "group_std", "zero_variance_filter": False},
        "sampler": {"npr": False},
        "model": {"fp32_lm_head": False},
        "rollout": {"length_control": "truncation"},
        "off_policy_lag": 0,
    },
    "dapo": {
        "loss": {"name": "ppo", "aggregation": "token", "clip_low": 0.2, "clip_high": 0.28},
        "advantage": {"name": "group_std", "zero_variance_filter": True},
        "sampler": {"npr": False},
        "model": {"fp32_lm_head": False},
        "rollout": {"length_control": "truncation"},
        "off_policy_lag": 0,
    },
}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``over`` (neither is modified)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class TrainConfig(_Section):
    """Everything a run needs; ``model_dump()`` is what run.json records."""

    recipe: str = Field("scalerl", description=f"preset: one of {', '.join(PRESETS)}")
    run_name: str | None = None
    tags: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="free-form labels copied to run.json and the loaded Run's metadata "
        "(a sweep sets recipe name and seed here)",
    )
    seed: int = 0
    out_dir: str = "runs/tiny"
    steps: int = Field(100, ge=1, description="optimiser steps")
    prompts_per_step: int = Field(16, ge=1)
    off_policy_lag: int = Field(8, ge=0, description="max steps generations lag the policy")
    micro_batch_size: int = Field(0, ge=0, description="sequences per backward; 0 = all")
    eval_every: int = Field(10, ge=1)
    eval_samples: int = Field(4, ge=1, description="samples per validation prompt")
    checkpoint_every: int = Field(50, ge=1)
    progress: bool = True
    threads: int | None = Field(None, ge=1, description="torch CPU threads")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    model: ModelConfig = Field(default_factory=ModelConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    tasks: list[TaskConfig] = Field(
        default_factory=list,
        description="a multi-task run: two or more tasks trained together (prompts drawn from "
        "the union), each evaluated on its own split; replaces `task`",
    )
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    warmup: WarmupConfig = Field(default_factory=WarmupConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    advantage: AdvantageConfig = Field(default_factory=AdvantageConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    learner: LearnerConfig = Field(default_factory=LearnerConfig)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        recipe = data.get("recipe", "scalerl")
        if recipe not in PRESETS:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(PRESETS)}")
        return deep_merge(PRESETS[recipe], data)

    @model_validator(mode="after")
    def _multi_task(self) -> TrainConfig:
        if not self.tasks:
            return self
        if len(self.tasks) < 2:
            raise ValueError("tasks holds one task; a single task goes in `task`")
        if self.task != TaskConfig():
            raise ValueError("give either `task` or `tasks` (a multi-task run), not both")
        labels = [t.label or t.name for t in self.tasks]
        if len(set(labels)) < len(labels):
            raise ValueError(
                f"tasks have repeated labels {labels}; give each a distinct `label` "
                "(e.g. the same task at two difficulties)"
            )
        # the loops read the end-of-thinking marker from `task` (left at its default here)
        markers = {t.answer_marker for t in self.tasks}
        if markers != {self.task.answer_marker}:
            raise ValueError(
                f"every task in `tasks` must use answer_marker {self.task.answer_marker!r}, "
                f"got {sorted(map(str, markers))}"
            )
        if self.warmup.difficulty is not None:
            raise ValueError("warmup.difficulty applies to one task; leave it unset with `tasks`")
        return self

    def task_configs(self) -> list[TaskConfig]:
        """The tasks of the run: ``tasks`` in a multi-task run, else ``[task]``."""
        return list(self.tasks) or [self.task]

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        marker = self.task.answer_marker
        if (
            self.rollout.length_control == "interruption"
            and marker
            and marker not in self.rollout.interruption_text
        ):
            raise ValueError(
                f"rollout.interruption_text must contain task.answer_marker {marker!r}, "
                "or the forced answer can never be scored"
            )
        if self.rollout.length_control == "interruption" and not marker:
            raise ValueError("interruption needs task.answer_marker (the end-of-thinking marker)")
        if self.fleet.num_generators and self.rollout.mode == "inline":
            raise ValueError(
                f"fleet.num_generators={self.fleet.num_generators} needs a separate-process "
                "rollout.mode (sync, off_policy_k or pipeline_k), not inline"
            )
        if self.fleet.tensor_parallel_size > 1 and self.rollout.engine != "vllm":
            raise ValueError(
                f"fleet.tensor_parallel_size={self.fleet.tensor_parallel_size} applies to the "
                f"vllm engine, not rollout.engine={self.rollout.engine!r}"
            )
        if self.model.dtype == "float16" and not self.optim.fp32_master_weights:
            # AdamW's eps (1e-8) and the squares of small gradients are 0 in float16: the first
            # step divides by zero and writes inf into the weights
            raise ValueError(
                "model.dtype='float16' with optim.fp32_master_weights=False cannot train: "
                "AdamW's state underflows in float16 and the first step writes inf into the "
                "weights; keep optim.fp32_master_weights on (or use bfloat16)"
            )
        return self


class ConfigError(ValueError):
    """A configuration file that cannot be read or validated."""


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML (or JSON) config file, apply nested ``overrides``, and validate it."""
    import yaml
    from pydantic import ValidationError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    data = deep_merge(data, overrides or {})
    try:
        return TrainConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid config:\n{exc}") from None


def parse_override(item: str) -> dict[str, Any]:
    """``"loss.eps_max=4"`` -> ``{"loss": {"eps_max": 4}}`` (value parsed as YAML)."""
    import yaml

    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    value: Any = yaml.safe_load(raw) if raw else None
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value
