"""Typed messages between the trainer and the generator process.

Everything that crosses the process boundary is one of the pydantic models below. A message
travels as a plain ``dict`` (:func:`encode`) and is validated on receipt (:func:`decode`), so
the same contract works over ``multiprocessing`` queues today and over a socket to another
machine later. Each model has a literal ``kind`` field that selects the model on receipt;
anything else (a missing or unknown ``kind``, a wrong type, an extra field, a sample whose
per-token lists disagree in length) is rejected with a :class:`MessageError` naming the
message and the field.

To the generator: :class:`Start` (process arguments), :class:`Generate`,
:class:`UpdateWeights`, :class:`Shutdown`. From the generator: :class:`Ready`,
:class:`FinishedGroup`, :class:`WeightsLoaded`, :class:`GeneratorStats`,
:class:`GeneratorFailed`.

Examples
--------
>>> msg = UpdateWeights(version=3, path="/dev/shm/w/v3.safetensors")
>>> decode(encode(msg), TO_GENERATOR) == msg
True
>>> try:
...     decode({"kind": "update_weights", "version": -1, "path": "x"}, TO_GENERATOR)
... except MessageError as exc:
...     print(exc)
invalid update_weights message: version: Input should be greater than or equal to 0
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from rlscaling.trainer.rollout.base import Sample, SamplingParams


class MessageError(ValueError):
    """A message that does not match the contract."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- to the generator --------------------------------------------------------------------
class Sampling(_Message):
    """:class:`~rlscaling.trainer.rollout.base.SamplingParams` as a message field."""

    temperature: float = Field(gt=0)
    top_p: float = Field(gt=0, le=1)
    top_k: int = Field(ge=0)
    length_control: Literal["interruption", "truncation"]
    think_budget: int = Field(ge=1)
    think_budget_jitter: int = Field(ge=0)
    answer_budget: int = Field(ge=1)
    marker_ids: tuple[int, ...]
    interruption_ids: tuple[int, ...]
    eos_id: int
    pad_id: int
    fp32_lm_head: bool

    @classmethod
    def of(cls, params: SamplingParams) -> Sampling:
        return cls(**{name: getattr(params, name) for name in cls.model_fields})

    def to_params(self) -> SamplingParams:
        return SamplingParams(**self.model_dump())


class Start(_Message):
    """Arguments of the generator process: what to build and which weights to start from."""

    kind: Literal["start"] = "start"
    config: dict[str, Any] = Field(description="TrainConfig.model_dump(mode='json')")
    model_dir: str = Field(description="HF model directory (architecture and tokenizer)")
    weights_path: str = Field(description="safetensors file with the starting weights")
    version: int = Field(ge=0, description="policy version of those weights")


class Prompt(_Message):
    """One prompt of a :class:`Generate` request; its group comes back as ``request_id``."""

    request_id: int = Field(ge=0)
    prompt_index: int = Field(ge=0)
    prompt_ids: list[int] = Field(min_length=1)


class Generate(_Message):
    """Groups to generate: ``n`` samples of each prompt, drawn with one seed.

    A step's batch travels as one message so the generator sees it whole (an engine that
    generates at batch granularity then samples it exactly as the in-process loop does).
    """

    kind: Literal["generate"] = "generate"
    prompts: list[Prompt] = Field(min_length=1)
    n: int = Field(ge=1)
    seed: int
    params: Sampling


class UpdateWeights(_Message):
    """New policy weights in a safetensors file; later tokens are labelled ``version``."""

    kind: Literal["update_weights"] = "update_weights"
    version: int = Field(ge=0)
    path: str = Field(min_length=1)


class Shutdown(_Message):
    """Stop: in-flight work is discarded."""

    kind: Literal["shutdown"] = "shutdown"


# ---- from the generator ------------------------------------------------------------------
class SampleData(_Message):
    """One response with its behaviour log-probs, loss mask and per-token policy versions."""

    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]
    loss_mask: list[int]
    versions: list[int]
    finish: Literal["stop", "truncated"]
    interrupted: bool = False
    text_ids: list[int] | None = Field(None, description="ids to decode for scoring")

    @model_validator(mode="after")
    def _aligned(self) -> SampleData:
        n = len(self.response_ids)
        for name in ("logprobs", "loss_mask", "versions"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"{name} has {len(getattr(self, name))} entries for {n} response tokens"
                )
        return self

    @classmethod
    def of(cls, s: Sample) -> SampleData:
        return cls(
            prompt_ids=s.prompt_ids,
            response_ids=s.response_ids,
            logprobs=s.logprobs,
            loss_mask=s.loss_mask,
            versions=s.versions,
            finish=s.finish,
            interrupted=s.interrupted,
            text_ids=s.extra.get("text_ids"),
        )

    def to_sample(self, prompt_index: int) -> Sample:
        extra = {} if self.text_ids is None else {"text_ids": list(self.text_ids)}
        return Sample(
            prompt_index=prompt_index,
            prompt_ids=list(self.prompt_ids),
            response_ids=list(self.response_ids),
            logprobs=list(self.logprobs),
            loss_mask=list(self.loss_mask),
            versions=list(self.versions),
            finish=self.finish,
            interrupted=self.interrupted,
            extra=extra,
        )


class Ready(_Message):
    """The generator has built its engine and loaded the starting weights."""

    kind: Literal["ready"] = "ready"
    version: int
    engine: str
    startup_seconds: float = Field(ge=0)


class FinishedGroup(_Message):
    """The ``n`` samples of one :class:`Generate` request."""

    kind: Literal["group"] = "group"
    request_id: int = Field(ge=0)
    prompt_index: int = Field(ge=0)
    samples: list[SampleData] = Field(min_length=1)
    gen_seconds: float = Field(ge=0, description="this group's share of generation time")
    gen_tokens: int = Field(ge=0, description="response tokens generated")

    @property
    def version(self) -> int:
        """The oldest policy version that produced any token of the group."""
        return min((min(s.versions) for s in self.samples if s.versions), default=-1)

    def to_samples(self) -> list[Sample]:
        return [s.to_sample(self.prompt_index) for s in self.samples]


class WeightsLoaded(_Message):
    """The generator now samples with ``version`` (the file may be deleted)."""

    kind: Literal["weights_loaded"] = "weights_loaded"
    version: int
    seconds: float = Field(ge=0)


class GeneratorStats(_Message):
    """Cumulative generator counters since it started."""

    kind: Literal["stats"] = "stats"
    busy_seconds: float = Field(ge=0, description="inside the engine's poll")
    idle_seconds: float = Field(ge=0, description="waiting for work or on a full queue")
    blocked_seconds: float = Field(ge=0, description="part of idle: output queue full")
    groups: int = Field(ge=0)
    tokens: int = Field(ge=0)
    version: int


class GeneratorFailed(_Message):
    """An exception in the generator; the process exits after sending it."""

    kind: Literal["error"] = "error"
    message: str
    traceback: str


ToGenerator = Annotated[Generate | UpdateWeights | Shutdown, Field(discriminator="kind")]
FromGenerator = Annotated[
    Ready | FinishedGroup | WeightsLoaded | GeneratorStats | GeneratorFailed,
    Field(discriminator="kind"),
]
TO_GENERATOR: TypeAdapter[Any] = TypeAdapter(ToGenerator)
FROM_GENERATOR: TypeAdapter[Any] = TypeAdapter(FromGenerator)
START: TypeAdapter[Any] = TypeAdapter(Start)


def encode(msg: _Message) -> dict[str, Any]:
    """The plain-dict form of a message (what goes on the wire)."""
    return msg.model_dump(mode="python")


def decode(data: Any, adapter: TypeAdapter[Any]) -> Any:
    """Validate a received dict against ``adapter``; raise :class:`MessageError` if it fails."""
    kind = data.get("kind", "?") if isinstance(data, dict) else type(data).__name__
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:] or err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise MessageError(f"invalid {kind} message: {problems}") from None
