"""Typed messages between the trainer and the generator process.

Everything that crosses the process boundary is one of the pydantic models below. A message
travels as a plain ``dict`` (:func:`encode`) and is validated on receipt (:func:`decode`), so
the same contract works over ``multiprocessing`` queues today and over a socket to another
machine later. Each model has a literal ``kind`` field that selects the model on receipt;
anything else (a missing or unknown ``kind``, a wrong type, an extra field, a sample whose
per-token lists disagree in length) is rejected with a :class:`MessageError` naming the
message and the field.

Samples and sampling parameters travel as the engines' own types
(:class:`~rlscaling.trainer.rollout.base.Sample`,
:class:`~rlscaling.trainer.rollout.base.SamplingParams`: dataclasses whose annotated
constraints pydantic checks on receipt), so there is one type per concept.

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
class Start(_Message):
    """Arguments of the generator process: what to build and which weights to start from."""

    kind: Literal["start"] = "start"
    config: dict[str, Any] = Field(description="TrainConfig.model_dump(mode='json')")
    model_dir: str = Field(description="HF model directory (architecture and tokenizer)")
    weights_path: str = Field(description="safetensors file with the starting weights")
    version: int = Field(ge=0, description="policy version of those weights")
    generator: int = Field(0, ge=0, description="index of this generator in a fleet")
    weight_group: WeightGroup | None = Field(
        None, description="receive weights by broadcast (the starting ones too), not files"
    )


class WeightGroup(_Message):
    """Where to receive weights by broadcast (``fleet.weight_sync: broadcast``)."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    world_size: int = Field(ge=2)
    backend: Literal["gloo", "nccl"]
    rank: int = Field(ge=1, description="this generator's first rank (the trainer is 0)")
    layout: list[tuple[str, list[int], str]] = Field(
        description="names, shapes and dtypes of the tensors, in sending order"
    )


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
    params: SamplingParams


class UpdateWeights(_Message):
    """New policy weights in a safetensors file (or, with ``broadcast``, sent through the
    weight group); later tokens are labelled ``version``."""

    kind: Literal["update_weights"] = "update_weights"
    version: int = Field(ge=0)
    path: str = Field(min_length=1, description="the file, or the broadcast's source")
    broadcast: bool = Field(
        False, description="receive the weights from the weight group (every one, in order)"
    )


class Shutdown(_Message):
    """Stop: in-flight work is discarded."""

    kind: Literal["shutdown"] = "shutdown"


# ---- from the generator ------------------------------------------------------------------
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
    samples: list[Sample] = Field(min_length=1)
    gen_seconds: float = Field(ge=0, description="this group's share of generation time")
    gen_tokens: int = Field(ge=0, description="response tokens generated")
    generator: int = Field(0, ge=0, description="the fleet index of the generator that made it")

    @property
    def version(self) -> int:
        """The oldest policy version that produced any token of the group."""
        return min((min(s.versions) for s in self.samples if s.versions), default=-1)

    @model_validator(mode="after")
    def _one_prompt(self) -> FinishedGroup:
        others = {s.prompt_index for s in self.samples} - {self.prompt_index}
        if others:
            raise ValueError(
                f"samples of prompts {sorted(others)} in the group of prompt {self.prompt_index}"
            )
        return self


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
