"""The generator process: an engine that turns prompts into scored-ready groups, nonstop.

:func:`generator_main` is the process target. It builds the engine named in the config from
the run's saved model directory and the starting weights file, then loops:

1. drain the inbox: :class:`Generate` requests are submitted to the engine, the newest
   :class:`UpdateWeights` is applied (between two ``poll`` calls; an engine with continuous
   batching applies it to the sequences in flight), :class:`Shutdown` ends the loop;
2. ``poll()`` the engine and push each finished group to the bounded output queue (time
   blocked on a full queue counts as idle);
3. report counters (:class:`GeneratorStats`) after each poll that finished groups.

Any exception is sent to the trainer as :class:`GeneratorFailed` with its traceback before the
process exits. SIGINT is ignored (the trainer decides when to stop: Ctrl-C in a terminal
reaches both processes), SIGTERM exits cleanly, and the loop exits if the trainer process
disappears, so a killed trainer leaves no generator behind.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import sys
import time
import traceback
from collections import defaultdict, deque
from typing import Any

from rlscaling.trainer.pipeline.messages import (
    START,
    TO_GENERATOR,
    FinishedGroup,
    Generate,
    GeneratorFailed,
    GeneratorStats,
    Ready,
    Shutdown,
    UpdateWeights,
    WeightsLoaded,
    decode,
    encode,
)

WAIT_S = 0.05  # how long one idle wait on the inbox lasts before liveness is rechecked
STATS_EVERY_S = 0.5  # counters are also reported after every poll that finished a group


class _Stop(Exception):
    """Shutdown requested, or the trainer is gone."""


def generator_main(start: dict[str, Any], inbox: Any, groups_out: Any, events_out: Any) -> None:
    """Process target: run a :class:`Generator` until shutdown; report any error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        import torch

        # two torch threads on a small shared CPU stall each other; one per process
        torch.set_num_threads(1)
        Generator(decode(start, START), inbox, groups_out, events_out).run()
    except (_Stop, SystemExit):
        pass
    except BaseException as exc:
        msg = GeneratorFailed(
            message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
        )
        events_out.put(encode(msg))
    finally:
        # a trainer that stopped reading must not keep this process alive at exit
        groups_out.cancel_join_thread()


class Generator:
    """The generator loop around one engine (see the module docstring)."""

    def __init__(self, start: Any, inbox: Any, groups_out: Any, events_out: Any) -> None:
        from rlscaling.trainer.config import TrainConfig
        from rlscaling.trainer.model import load_model
        from rlscaling.trainer.prompts import longest_prompt
        from rlscaling.trainer.rollout import get_engine
        from rlscaling.trainer.setup import pick_device

        t0 = time.perf_counter()
        self.inbox, self.groups_out, self.events_out = inbox, groups_out, events_out
        cfg = TrainConfig(**start.config)
        model, tokenizer = load_model(
            start.model_dir, cfg.model.dtype, cfg.model.attn_implementation
        )
        model.to(pick_device(cfg.device))
        model.requires_grad_(False)
        self.engine_name = cfg.rollout.engine
        self.index = start.generator
        self.engine = get_engine(cfg.rollout.engine).from_config(
            model, cfg, max_prompt_tokens=longest_prompt(cfg, tokenizer)
        )
        group = start.weight_group
        if group is not None:  # the starting weights come by broadcast too
            address = group.model_dump(include={"host", "port", "world_size", "backend"})
            self.engine.join_weight_group(address, group.rank, group.layout)
            self.engine.update_weights_from_group(start.version)
        else:
            self.engine.update_weights_from_file(start.weights_path, start.version)
        self.startup_seconds = time.perf_counter() - t0
        self.backlog: deque[Any] = deque()
        self.requests: dict[int, deque[int]] = defaultdict(deque)  # prompt -> request ids
        self.busy = self.idle = self.blocked = 0.0
        self.n_groups = self.n_tokens = 0
        self.parent = mp.parent_process()
        self.last_stats = 0.0

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        self._event(
            Ready(
                version=self.engine.version,
                engine=self.engine_name,
                startup_seconds=self.startup_seconds,
            )
        )
        try:
            while True:
                self._handle(self._receive(block=self.engine.in_flight() == 0))
                if self.engine.in_flight():
                    t0 = time.perf_counter()
                    finished = self.engine.poll()
                    seconds = time.perf_counter() - t0
                    self.busy += seconds
                    self._emit(finished, seconds)
                    # an engine that polls in small steps would flood the trainer with stats
                    if finished or time.perf_counter() - self.last_stats > STATS_EVERY_S:
                        self._event(self._stats())
        finally:
            self.engine.close()

    def _receive(self, block: bool) -> list[Any]:
        """Messages waiting in the inbox; with ``block``, wait (idle) until one arrives."""
        msgs = list(self.backlog)
        self.backlog.clear()
        t0 = time.perf_counter()
        while block and not msgs:
            self._check_parent()
            try:
                msgs.append(decode(self.inbox.get(timeout=WAIT_S), TO_GENERATOR))
            except queue.Empty:
                continue
        if block:
            self.idle += time.perf_counter() - t0
        while True:
            try:
                msgs.append(decode(self.inbox.get_nowait(), TO_GENERATOR))
            except queue.Empty:
                return msgs

    def _handle(self, msgs: list[Any]) -> None:
        update: UpdateWeights | None = None
        for msg in msgs:
            if isinstance(msg, Shutdown):
                raise _Stop
            if isinstance(msg, UpdateWeights) and msg.broadcast:
                # every broadcast is received, in order: the trainer sends each to all ranks
                self._load(msg)
            elif isinstance(msg, UpdateWeights):
                update = msg  # only the newest matters: older files may already be gone
            elif isinstance(msg, Generate):
                for p in msg.prompts:
                    self.requests[p.prompt_index].append(p.request_id)
                    self.engine.submit(p.prompt_ids, p.prompt_index, msg.n, msg.params, msg.seed)
        if update is not None and update.version != self.engine.version:
            self._load(update)

    def _load(self, update: UpdateWeights) -> None:
        t0 = time.perf_counter()
        if update.broadcast:
            self.engine.update_weights_from_group(update.version)
        else:
            self.engine.update_weights_from_file(update.path, update.version)
        self._event(WeightsLoaded(version=update.version, seconds=time.perf_counter() - t0))

    def _emit(self, finished: list[list[Any]], seconds: float) -> None:
        tokens = [sum(len(s.response_ids) for s in group) for group in finished]
        total = max(sum(tokens), 1)
        for group, n_tok in zip(finished, tokens, strict=True):
            index = group[0].prompt_index
            msg = FinishedGroup(
                request_id=self.requests[index].popleft(),
                prompt_index=index,
                samples=group,
                gen_seconds=seconds * n_tok / total,
                gen_tokens=n_tok,
                generator=self.index,
            )
            self._put_group(encode(msg))
            self.n_groups += 1
            self.n_tokens += n_tok

    def _put_group(self, data: dict[str, Any]) -> None:
        """Put on the bounded queue; while it is full, watch the inbox for a shutdown."""
        t0 = time.perf_counter()
        try:
            while True:
                try:
                    self.groups_out.put(data, timeout=WAIT_S)
                    return
                except queue.Full:
                    self._check_parent()
                    self.backlog.extend(self._receive(block=False))
                    if any(isinstance(m, Shutdown) for m in self.backlog):
                        raise _Stop from None
        finally:
            waited = time.perf_counter() - t0
            self.idle += waited
            self.blocked += waited

    # ---- reporting ------------------------------------------------------------------------
    def _stats(self) -> GeneratorStats:
        return GeneratorStats(
            busy_seconds=self.busy,
            idle_seconds=self.idle,
            blocked_seconds=self.blocked,
            groups=self.n_groups,
            tokens=self.n_tokens,
            version=self.engine.version,
        )

    def _event(self, msg: Any) -> None:
        if isinstance(msg, GeneratorStats):
            self.last_stats = time.perf_counter()
        self.events_out.put(encode(msg))

    def _check_parent(self) -> None:
        if self.parent is not None and not self.parent.is_alive():
            raise _Stop
