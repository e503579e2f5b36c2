"""The trainer's handle on the generator process: start, send, receive, stop.

:class:`GeneratorClient` spawns :func:`~rlscaling.trainer.pipeline.generator.generator_main`
(``spawn`` context: a fresh interpreter, safe with torch and CUDA) with three queues: an
inbox of requests, a bounded queue of finished groups, and a queue of events (ready, weights
loaded, stats, errors). Waiting for a group also watches the events and the process, so an
error in the generator is raised here as :class:`GeneratorError` carrying the generator's
traceback, and a generator that died without a word is reported with its exit code.

:meth:`GeneratorClient.close` (also on ``with`` exit, after an exception or Ctrl-C) sends
:class:`Shutdown`, joins with a timeout, then terminates and finally kills, so no child
process outlives the trainer's run.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from typing import Any

from rlscaling.trainer.pipeline.generator import generator_main
from rlscaling.trainer.pipeline.messages import (
    FROM_GENERATOR,
    FinishedGroup,
    GeneratorFailed,
    GeneratorStats,
    Ready,
    Shutdown,
    Start,
    WeightsLoaded,
    decode,
    encode,
)

POLL_S = 0.01  # group-queue wait between liveness checks: short, steps can be ~0.1 s


class GeneratorError(RuntimeError):
    """The generator process failed; the message ends with its traceback."""


class GeneratorClient:
    """A running generator process.

    Parameters
    ----------
    start : what the generator builds (config, model directory, starting weights).
    queue_size : bound of the finished-group queue.
    """

    def __init__(self, start: Start, queue_size: int) -> None:
        ctx = mp.get_context("spawn")
        self.inbox = ctx.Queue()
        self.groups = ctx.Queue(maxsize=queue_size)
        self.events = ctx.Queue()
        self.process = ctx.Process(
            target=generator_main,
            args=(encode(start), self.inbox, self.groups, self.events),
            name="rlscaling-generator",
        )
        self.process.start()
        self.ready: Ready | None = None
        self.stats: GeneratorStats | None = None
        self.loaded_version = start.version
        self.wait_seconds = 0.0  # time the trainer spent waiting for groups

    def __enter__(self) -> GeneratorClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- talking ------------------------------------------------------------------------------
    def send(self, msg: Any) -> None:
        self._check()
        self.inbox.put(encode(msg))

    def wait_ready(self, timeout: float = 600.0) -> Ready:
        """Block until the generator has built its engine (or failed)."""
        deadline = time.monotonic() + timeout
        while self.ready is None:
            self._check()
            if time.monotonic() > deadline:
                raise GeneratorError(f"the generator was not ready after {timeout:.0f} s")
            time.sleep(POLL_S)
        return self.ready

    def next_group(self) -> FinishedGroup:
        """The next finished group (blocks; the wait is counted in ``wait_seconds``)."""
        t0 = time.perf_counter()
        try:
            while True:
                try:
                    data = self.groups.get(timeout=POLL_S)
                except queue.Empty:
                    self._check()
                    continue
                self._check()
                return decode(data, FROM_GENERATOR)
        finally:
            self.wait_seconds += time.perf_counter() - t0

    def _check(self) -> None:
        """Read pending events; raise if the generator failed or is gone."""
        while True:
            try:
                event = decode(self.events.get_nowait(), FROM_GENERATOR)
            except queue.Empty:
                break
            if isinstance(event, GeneratorFailed):
                raise GeneratorError(
                    f"the generator failed: {event.message}\n\n"
                    f"generator traceback:\n{event.traceback}"
                )
            if isinstance(event, Ready):
                self.ready = event
            elif isinstance(event, WeightsLoaded):
                self.loaded_version = max(self.loaded_version, event.version)
            elif isinstance(event, GeneratorStats):
                self.stats = event
        if not self.process.is_alive():
            # an error message may have landed just before the exit: look once more
            time.sleep(POLL_S)
            if not self.events.empty():
                return self._check()
            hint = ""
            if self.ready is None:
                hint = (
                    "; it died while starting: if train() is called from a script, put the "
                    "call under `if __name__ == '__main__':` (the generator process re-imports "
                    "the main module)"
                )
            raise GeneratorError(
                f"the generator process exited (code {self.process.exitcode}) without a "
                f"message{hint}"
            )

    # ---- stopping -----------------------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> None:
        """Stop the generator: shutdown message, join, then terminate, then kill."""
        proc = self.process
        if proc.is_alive():
            try:
                self.inbox.put(encode(Shutdown()))
            except (OSError, ValueError):
                pass
            proc.join(timeout)
        if proc.is_alive():
            proc.terminate()
            proc.join(5.0)
        if proc.is_alive():
            proc.kill()
            proc.join(5.0)
        for q in (self.inbox, self.groups, self.events):
            q.cancel_join_thread()  # undelivered messages must not block our own exit
            q.close()
