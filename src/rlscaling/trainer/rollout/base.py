"""The rollout engine interface, the sample record and sampling parameters.

:class:`SamplingParams` and :class:`Sample` are plain dataclasses (engines build thousands of
samples per step without validation cost) that are also the pipeline's message fields:
pydantic validates them, with the constraints annotated here, when a message is received
(:mod:`rlscaling.trainer.pipeline.messages`). Unknown fields are rejected on receipt.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from rlscaling.trainer.registry import Registry


@dataclass(frozen=True)
class SamplingParams:
    """How to sample and how to control length.

    ``length_control="truncation"``: stop after ``think_budget + answer_budget`` tokens.
    ``length_control="interruption"``: if the end-of-thinking marker (``marker_ids``) has not
    been produced after ``think_budget + U[0, think_budget_jitter]`` tokens, the engine forces
    ``interruption_ids`` (which end with the marker) and lets the answer follow for up to
    ``answer_budget`` tokens. In both modes an answer longer than ``answer_budget`` tokens after
    the marker is truncated. Forced tokens are conditioned on but get loss mask 0.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    temperature: Annotated[float, Field(gt=0)] = 1.0
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    top_k: Annotated[int, Field(ge=0)] = 0
    length_control: Literal["interruption", "truncation"] = "truncation"
    think_budget: Annotated[int, Field(ge=1)] = 32
    think_budget_jitter: Annotated[int, Field(ge=0)] = 0
    answer_budget: Annotated[int, Field(ge=1)] = 16
    marker_ids: tuple[int, ...] = ()
    interruption_ids: tuple[int, ...] = ()
    eos_id: int = 2
    pad_id: int = 0
    fp32_lm_head: bool = True


@dataclass
class Sample:
    """One generated response and what the trainer needs to learn from it.

    ``logprobs`` are the behaviour log-probabilities of ``response_ids`` under the policy that
    generated them; ``versions`` the policy version per token (all equal for the torch engine;
    an in-flight weight update can change it mid-sequence). ``loss_mask`` is 0 for forced
    tokens. ``finish`` is ``"stop"`` (end-of-sequence produced) or ``"truncated"``.
    ``text_ids`` are the ids the reward stage decodes (the response without its
    end-of-sequence token; ``response_ids`` when None); ``text`` and ``reward`` are set there.
    The per-token lists must have one entry per response token (checked on construction).
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    prompt_index: Annotated[int, Field(ge=0)]
    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]
    loss_mask: list[int]
    versions: list[int]
    finish: Literal["stop", "truncated"]
    interrupted: bool = False
    text_ids: list[int] | None = None
    text: str = ""
    reward: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.response_ids)
        for name in ("logprobs", "loss_mask", "versions"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"{name} has {len(getattr(self, name))} entries for {n} response tokens"
                )

    @property
    def version(self) -> int:
        """The oldest policy version that produced any token."""
        return min(self.versions) if self.versions else -1

    @property
    def truncated(self) -> bool:
        return self.finish == "truncated"


class RolloutEngine(ABC):
    """Generates samples with a (possibly stale) copy of the policy."""

    version: int = 0
    per_request_seeds: bool = False
    """Whether a sample's random stream depends only on its own request (seed, prompt,
    index), not on the other prompts batched with it. A fleet of generators splits a batch
    across engines only then: the samples are the same however the batch is split."""

    @classmethod
    def from_config(
        cls, model: Any, cfg: Any, max_prompt_tokens: int | None = None
    ) -> RolloutEngine:
        """Build the engine for a run. ``cfg`` is the :class:`TrainConfig`; an engine that runs
        elsewhere (e.g. vLLM) can start from ``model`` saved to disk and read what it needs
        (dtype, sampling and lag settings) from ``cfg``. ``max_prompt_tokens``, the longest
        prompt it will be given, lets an engine with a fixed context (vLLM) size it."""
        return cls(model, hold_snapshot=cfg.off_policy_lag > 0)  # type: ignore[call-arg]

    @abstractmethod
    def generate(
        self,
        prompts: list[list[int]],
        prompt_indices: list[int],
        n: int,
        params: SamplingParams,
        seed: int,
    ) -> list[Sample]:
        """``n`` samples for each prompt, grouped: ``n`` consecutive samples per prompt."""

    @abstractmethod
    def update_weights(self, model: Any, version: int) -> None:
        """Load the trainer's current weights and label later samples with ``version``."""

    def update_weights_from_file(self, path: str, version: int) -> None:
        """Load weights from a safetensors file written by the trainer (another process).

        Engines that generate while weights change (``pipeline_k``) apply the update in flight:
        sequences being generated continue under the new weights from their next token on, and
        the per-token ``versions`` of their samples record where the switch happened.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot load weights from a file")

    # ---- weights by broadcast (generators as Ray actors, fleet.weight_sync: broadcast) ----
    def join_weight_group(
        self, address: dict[str, Any], rank: int, layout: list[tuple[str, list[int], str]]
    ) -> None:
        """Join the trainer's weight group (:mod:`rlscaling.trainer.weights`) from ``rank``
        on; ``layout`` is the trainer's state dict (names, shapes, dtypes) in sending order."""
        raise NotImplementedError(f"{type(self).__name__} cannot receive broadcast weights")

    def update_weights_from_group(self, version: int) -> None:
        """Receive the weights the trainer broadcasts next and sample with them as
        ``version`` (applied in flight, as :meth:`update_weights_from_file`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot receive broadcast weights")

    # ---- streaming: the generator process of the pipeline drives engines through these ----
    # The default implementation generates, at each ``poll``, the oldest run of submitted
    # groups that share sampling parameters and seed, in one ``generate`` call: batch
    # granularity. An engine with continuous batching (vLLM) overrides all three to keep
    # requests in flight across weight updates.

    def submit(
        self,
        prompt_ids: list[int],
        prompt_index: int,
        n: int,
        params: SamplingParams,
        seed: int,
    ) -> None:
        """Queue one group: ``n`` samples of one prompt."""
        self._pending().append((prompt_ids, prompt_index, n, params, seed))

    def poll(self) -> list[list[Sample]]:
        """Advance generation; return the groups that finished (each ``n`` samples)."""
        queue = self._pending()
        if not queue:
            return []
        _, _, n, params, seed = queue[0]
        batch = []
        while queue and queue[0][2:] == (n, params, seed):
            batch.append(queue.pop(0))
        samples = self.generate([b[0] for b in batch], [b[1] for b in batch], n, params, seed)
        return [samples[g * n : (g + 1) * n] for g in range(len(batch))]

    def in_flight(self) -> int:
        """Groups submitted and not yet returned by :meth:`poll`."""
        return len(self._pending())

    def _pending(self) -> list[tuple[list[int], int, int, SamplingParams, int]]:
        return self.__dict__.setdefault("_pending_groups", [])

    def close(self) -> None:
        """Release engine resources (processes, memory); idempotent."""
        return None  # the torch engine holds nothing that outlives it

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to restore the engine (weights it holds, version)."""
        return {"version": self.version}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.version = int(state["version"])


ENGINES: Registry[type[RolloutEngine]] = Registry("rollout engine")


def register_engine(name: str):
    """Register a :class:`RolloutEngine` subclass under ``name`` (duplicates raise)."""
    return ENGINES.register(name)


def get_engine(name: str) -> type[RolloutEngine]:
    return ENGINES.get(name)
