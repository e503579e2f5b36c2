"""Generators as Ray actors: ``fleet.num_generators`` engines behind the typed messages.

Ray places the actors (on this machine, or on a cluster's nodes with ``fleet.address``),
starts their processes, carries the messages and reports an actor that died; the generator
loop inside each actor is the one of the generator process
(:class:`~rlscaling.trainer.pipeline.generator.Generator`), driven through thread-safe
queues instead of process queues. So the contract is unchanged: :class:`Start`,
:class:`Generate`, :class:`UpdateWeights`, :class:`Shutdown` in; :class:`Ready`,
:class:`FinishedGroup` (now tagged with the actor's index), :class:`WeightsLoaded`,
:class:`GeneratorStats`, :class:`GeneratorFailed` out, each validated on receipt.

:class:`GeneratorFleet` is the trainer's handle and has the interface of
:class:`~rlscaling.trainer.pipeline.client.GeneratorClient` (``send``, ``wait_ready``,
``next_group``, ``loaded_version``, ``stats``, ``wait_seconds``, ``close``), so the
orchestrator that keeps the lag bound drives one generator or many alike. It is also the
dispatcher:

- a :class:`Generate` (one step's batch, one seed) goes whole to the actor with the fewest
  groups in flight (ties rotate), when the engine's samples depend on what they are batched
  with (the torch engine draws one random stream per batch): the samples are then exactly
  those one generator would have drawn. An engine with a seed per request
  (``RolloutEngine.per_request_seeds``: vLLM) has the batch split across all actors;
- an :class:`UpdateWeights` goes to every actor before any later :class:`Generate`, so a
  batch submitted after version ``v`` was pushed is generated with ``v`` or newer on any
  actor, and every token records its version: the orchestrator's lag check holds across
  the fleet;
- groups are handed to the trainer in submission order in ``sync`` and ``off_policy_k``
  (those modes then repeat a single generator's run exactly) and as they arrive in
  ``pipeline_k`` (a slow actor does not hold up the others; a group that comes back too
  stale is dropped and resubmitted by the orchestrator, as with one generator);
- ``loaded_version`` is the oldest version any actor holds (a weight file is deleted only
  once every actor has moved past it), and ``stats`` sums the actors' counters.

Weights travel as safetensors files in ``fleet.weights_dir`` (shared storage that every
node reads; ``/dev/shm`` on one machine), or with ``fleet.weight_sync: broadcast`` through a
torch.distributed group from the trainer to every actor (:class:`BroadcastSender`: NCCL when
the trainer's model is on a GPU, gloo on CPU), the starting weights included. Ray is imported
only when a fleet starts.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from collections import deque
from typing import Any

from rlscaling.trainer.pipeline.client import GeneratorError
from rlscaling.trainer.pipeline.generator import Generator, _Stop
from rlscaling.trainer.pipeline.messages import (
    FROM_GENERATOR,
    START,
    FinishedGroup,
    Generate,
    GeneratorFailed,
    GeneratorStats,
    Ready,
    Shutdown,
    Start,
    WeightGroup,
    WeightsLoaded,
    decode,
    encode,
)

RECEIVE_WAIT_S = 0.05  # how long one receive call waits in the actor for something to return
STOP_TIMEOUT_S = 10.0  # an actor that has not stopped by then is killed
_MISSING = (
    "generators as Ray actors (fleet.num_generators >= 1) need Ray: pip install 'rlscaling[fleet]'"
)


class GeneratorActor:
    """The generator loop in a Ray actor (made remote by :func:`actor_class`).

    The engine is built in ``__init__`` (the actor's main thread: vLLM expects it there);
    the loop runs in a thread of its own, and ``send`` / ``receive`` (called by the trainer,
    in Ray's threads: the actor is created with ``max_concurrency=2``) only touch queues.
    """

    def __init__(self, start: dict[str, Any], queue_size: int) -> None:
        import torch

        torch.set_num_threads(1)  # two torch threads on a small shared CPU stall each other
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.groups: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.events: queue.Queue[Any] = queue.Queue()
        self.generator = Generator(decode(start, START), self.inbox, self.groups, self.events)
        self.thread = threading.Thread(target=self._run, name="rlscaling-generator", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.generator.run()
        except _Stop:
            pass
        except BaseException as exc:
            msg = GeneratorFailed(
                message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
            )
            self.events.put(encode(msg))

    def send(self, messages: list[dict[str, Any]]) -> None:
        """Put messages (encoded) in the loop's inbox, in order."""
        for msg in messages:
            self.inbox.put(msg)

    def receive(self, wait: float = RECEIVE_WAIT_S) -> tuple[list[Any], list[Any]]:
        """Finished groups and events so far; waits up to ``wait`` s when there are none."""
        groups, events = _drain(self.groups), _drain(self.events)
        if not groups and not events and self.thread.is_alive():
            # block on the groups (no polling: the engine thread needs the GIL); an event,
            # an error included, waits at most ``wait``
            try:
                groups.append(self.groups.get(timeout=wait))
            except queue.Empty:
                pass
            groups += _drain(self.groups)
            events += _drain(self.events)
        return groups, events

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Shut the loop down (the engine is closed by it); True if it ended in time."""
        self.inbox.put(encode(Shutdown()))
        self.thread.join(timeout)
        return not self.thread.is_alive()


def _drain(q: queue.Queue[Any]) -> list[Any]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def actor_class() -> Any:
    """:class:`GeneratorActor` as a Ray actor class (imports Ray)."""
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(_MISSING) from e
    return ray.remote(GeneratorActor)


def connect(address: str | None, trainer_gpus: frozenset[int] = frozenset()) -> bool:
    """Connect to Ray: the running session, the cluster at ``address``, or a new local one.

    A new local Ray is not given the trainer's GPUs (``trainer_gpus``, indices among this
    process's visible devices: the learner ranks'), so no actor is placed on them: Ray takes
    the GPUs it hands out from ``CUDA_VISIBLE_DEVICES`` when it starts. Returns whether this
    call started the connection (and so should end it).
    """
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(_MISSING) from e
    if ray.is_initialized():
        return False
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    if address is None and trainer_gpus:  # pragma: no cover - needs a GPU
        import torch

        count = torch.cuda.device_count()
        visible = before.split(",") if before else [str(i) for i in range(count)]
        others = [d for j, d in enumerate(visible) if j not in trainer_gpus]
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(others)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before
    return True


class GeneratorFleet:
    """``n`` generator actors behind one client (see the module docstring).

    Parameters
    ----------
    start : what each generator builds (its ``generator`` index is set per actor).
    queue_size : bound of each actor's finished-group queue.
    fleet : the run's :class:`~rlscaling.trainer.config.FleetConfig`.
    ordered : hand groups out in submission order (``sync``, ``off_policy_k``) rather than
        as they arrive (``pipeline_k``).
    split_batches : split each batch across all actors (engines with a seed per request).
    model : the trainer's policy; needed with ``fleet.weight_sync: broadcast`` (the layout
        of what is sent, and the starting weights, sent once every actor has joined).
    """

    def __init__(
        self,
        start: Start,
        queue_size: int,
        fleet: Any,
        ordered: bool,
        split_batches: bool,
        model: Any = None,
    ) -> None:
        import ray

        self.n = fleet.num_generators
        self.ordered, self.split_batches = ordered, split_batches
        self.ready: Ready | None = None
        self._ready: dict[int, Ready] = {}
        self._stats: dict[int, GeneratorStats] = {}
        self._loaded = [start.version] * self.n
        self._in_flight = [0] * self.n  # groups sent to each actor and not yet returned
        self._next = 0  # where the rotation of ties starts
        self._receiving: dict[Any, int] = {}  # a pending receive call per actor
        self._arrived: deque[FinishedGroup] = deque()
        self._outstanding: list[int] = []  # request ids sent, in order (ordered mode)
        self._ray = ray
        self.wait_seconds = 0.0
        self.weight_sender: BroadcastSender | None = None
        self.owns_ray = connect(fleet.address, _trainer_gpus(model))
        self.actors: list[Any] = []
        try:
            self._check_resources(fleet)
            on_gpu = _has_gpus() and start.config["device"] != "cpu"
            gpus = fleet.tensor_parallel_size if on_gpu else 0
            remote = actor_class().options(
                num_cpus=fleet.cpus_per_generator, num_gpus=gpus, max_concurrency=2
            )
            sender = None
            if fleet.weight_sync == "broadcast":
                if model is None:
                    raise ValueError("fleet.weight_sync='broadcast' needs the trainer's model")
                sender = BroadcastSender(model, self.n, fleet.tensor_parallel_size)
            for i in range(self.n):
                update: dict[str, Any] = {"generator": i}
                if sender is not None:
                    update["weight_group"] = sender.group_for(i)
                msg = start.model_copy(update=update)
                self.actors.append(remote.remote(encode(msg), queue_size))
            if sender is not None:
                self._join(sender)
                sender.broadcaster.send(model)  # the starting weights
                self.weight_sender = sender
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> GeneratorFleet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _join(self, sender: BroadcastSender) -> None:
        """Form the weight group (every actor joins while building its engine); an actor
        that fails meanwhile is reported instead of waiting for it."""
        joining = threading.Thread(target=sender.broadcaster.connect, daemon=True)
        joining.start()
        while joining.is_alive():
            self._collect(RECEIVE_WAIT_S)
            joining.join(RECEIVE_WAIT_S)
        if sender.broadcaster.group is None:
            raise GeneratorError("the weight group could not be formed (see the log)")

    @staticmethod
    def _check_resources(fleet: Any) -> None:
        """Refuse a fleet the cluster cannot place (Ray would wait for it forever)."""
        import ray

        have = ray.cluster_resources()
        need = fleet.num_generators * fleet.cpus_per_generator
        if have.get("CPU", 0.0) < need:
            raise ValueError(
                f"fleet.num_generators={fleet.num_generators} x fleet.cpus_per_generator="
                f"{fleet.cpus_per_generator} needs {need:g} CPUs; the Ray cluster has "
                f"{have.get('CPU', 0.0):g} (lower either, or join a larger cluster with "
                "fleet.address)"
            )
        if fleet.tensor_parallel_size > 1 and have.get("GPU", 0.0) < (
            fleet.num_generators * fleet.tensor_parallel_size
        ):
            raise ValueError(
                f"fleet.tensor_parallel_size={fleet.tensor_parallel_size} x "
                f"fleet.num_generators={fleet.num_generators} needs that many GPUs; the Ray "
                f"cluster has {have.get('GPU', 0.0):g}"
            )
        several = len([n for n in ray.nodes() if n["Alive"]]) > 1
        if fleet.weight_sync == "files" and fleet.weights_dir is None and several:
            raise ValueError(
                "fleet.weights_dir is not set but the Ray cluster has several nodes: weight "
                "files in this machine's /dev/shm cannot reach the others; set it to a "
                "directory on shared storage"
            )

    # ---- sending --------------------------------------------------------------------------
    def send(self, msg: Any) -> None:
        """Dispatch: a batch to the least-busy actor (or split), anything else to all."""
        self._check()
        if not isinstance(msg, Generate):
            for actor in self.actors:
                actor.send.remote([encode(msg)])
            return
        self._outstanding.extend(p.request_id for p in msg.prompts)
        if self.split_batches and len(msg.prompts) > 1:
            shares = _split(msg.prompts, self.n)
            for target, share in zip(self._by_load(len(shares)), shares, strict=False):
                self._send_to(target, msg.model_copy(update={"prompts": share}))
        else:
            self._send_to(self._by_load(1)[0], msg)

    def _by_load(self, k: int) -> list[int]:
        """``k`` actors, fewest groups in flight first; ties in rotating order."""
        order = sorted(range(self.n), key=lambda i: (self._in_flight[i], (i - self._next) % self.n))
        self._next = (order[0] + 1) % self.n
        return order[:k]

    def _send_to(self, i: int, msg: Generate) -> None:
        self._in_flight[i] += len(msg.prompts)
        self.actors[i].send.remote([encode(msg)])

    # ---- receiving ------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 600.0) -> Ready:
        """Block until every actor has built its engine (or one failed)."""
        deadline = time.monotonic() + timeout
        while len(self._ready) < self.n:
            if time.monotonic() > deadline:
                raise GeneratorError(
                    f"{self.n - len(self._ready)} of {self.n} generator actors were not ready "
                    f"after {timeout:.0f} s"
                )
            self._collect(RECEIVE_WAIT_S)
        first = self._ready[0]
        self.ready = first.model_copy(
            update={"startup_seconds": max(r.startup_seconds for r in self._ready.values())}
        )
        return self.ready

    def next_group(self) -> FinishedGroup:
        """The next group: the oldest submitted (ordered) or the first arrived."""
        t0 = time.perf_counter()
        try:
            while True:
                group = self._take()
                if group is not None:
                    return group
                self._collect(RECEIVE_WAIT_S)
        finally:
            self.wait_seconds += time.perf_counter() - t0

    def _take(self) -> FinishedGroup | None:
        if not self._arrived:
            return None
        if not self.ordered:
            group = self._arrived.popleft()
        else:
            oldest = self._outstanding[0]
            group = next((g for g in self._arrived if g.request_id == oldest), None)
            if group is None:
                return None
            self._arrived.remove(group)
        self._outstanding.remove(group.request_id)
        return group

    def _collect(self, timeout: float) -> None:
        """Wait up to ``timeout`` for any actor's receive call; file what came back."""
        ray = self._ray
        for i, actor in enumerate(self.actors):
            if i not in self._receiving.values():
                self._receiving[actor.receive.remote()] = i
        done, _ = ray.wait(list(self._receiving), num_returns=1, timeout=timeout)
        for ref in done:
            i = self._receiving.pop(ref)
            try:
                groups, events = ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise GeneratorError(f"generator actor {i} failed: {exc}") from None
            for data in events:
                self._event(i, decode(data, FROM_GENERATOR))
            for data in groups:
                group = decode(data, FROM_GENERATOR)
                self._in_flight[i] -= 1
                self._arrived.append(group)

    def _event(self, i: int, event: Any) -> None:
        if isinstance(event, GeneratorFailed):
            raise GeneratorError(
                f"generator actor {i} failed: {event.message}\n\n"
                f"generator traceback:\n{event.traceback}"
            )
        if isinstance(event, Ready):
            self._ready[i] = event
        elif isinstance(event, WeightsLoaded):
            self._loaded[i] = max(self._loaded[i], event.version)
        elif isinstance(event, GeneratorStats):
            self._stats[i] = event

    def _check(self) -> None:
        """Read whatever has come back without waiting (raises if an actor failed)."""
        if self.actors:
            self._collect(0.0)

    @property
    def loaded_version(self) -> int:
        """The oldest weights version any actor samples with."""
        return min(self._loaded)

    @property
    def stats(self) -> GeneratorStats | None:
        """The actors' counters summed (None until every actor has reported)."""
        if len(self._stats) < self.n:
            return None
        s = list(self._stats.values())
        return GeneratorStats(
            busy_seconds=sum(x.busy_seconds for x in s),
            idle_seconds=sum(x.idle_seconds for x in s),
            blocked_seconds=sum(x.blocked_seconds for x in s),
            groups=sum(x.groups for x in s),
            tokens=sum(x.tokens for x in s),
            version=min(x.version for x in s),
        )

    # ---- stopping -------------------------------------------------------------------------
    def close(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every actor (shutdown message, then kill), and Ray if this fleet started it."""
        import ray

        stops = []
        for actor in self.actors:
            try:
                stops.append(actor.stop.remote(timeout))
            except ray.exceptions.RayError:
                pass
        if stops:
            ray.wait(stops, num_returns=len(stops), timeout=timeout + 5.0)
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        self._receiving.clear()
        if self.weight_sender is not None:
            self.weight_sender.broadcaster.close()
            self.weight_sender = None
        if self.owns_ray:
            ray.shutdown()
            self.owns_ray = False


class BroadcastSender:
    """The trainer's end of ``fleet.weight_sync: broadcast``, in the place of the weight
    store: ``write`` starts sending the weights to every actor (NCCL when the trainer's model
    is on a GPU, gloo on CPU) and returns the group's address for the message; the
    orchestrator marks its :class:`UpdateWeights` as a broadcast (``broadcast = True``)."""

    broadcast = True

    def __init__(self, model: Any, n: int, tensor_parallel_size: int) -> None:
        import ray

        from rlscaling.trainer.weights import WeightBroadcaster

        on_gpu = next(model.parameters()).device.type == "cuda"
        self.ranks_per_actor = tensor_parallel_size
        self.broadcaster = WeightBroadcaster(
            model,
            world_size=1 + n * tensor_parallel_size,
            backend="nccl" if on_gpu else "gloo",
            host=ray.util.get_node_ip_address(),
        )

    def group_for(self, i: int) -> WeightGroup:
        a = self.broadcaster.address
        return WeightGroup(**a, rank=1 + i * self.ranks_per_actor, layout=self.broadcaster.layout)

    def write(self, model: Any, version: int) -> str:
        self.broadcaster.send(model)
        a = self.broadcaster.address
        return f"{a['backend']}://{a['host']}:{a['port']}"

    def release_before(self, version: int) -> None:
        """Nothing to delete: a broadcast leaves no file."""


def _split(items: list[Any], n: int) -> list[list[Any]]:
    """``items`` in ``min(n, len(items))`` contiguous, nearly equal shares."""
    k = min(n, len(items))
    size, extra = divmod(len(items), k)
    out, at = [], 0
    for j in range(k):
        step = size + (j < extra)
        out.append(items[at : at + step])
        at += step
    return out


def _trainer_gpus(model: Any) -> frozenset[int]:
    """The GPUs of the learner: the one the trainer's model is on and, under torchrun, those
    of the other learner ranks on this machine (``cuda:<LOCAL_RANK>``); none on CPU."""
    if model is None:
        return frozenset()
    device = next(model.parameters()).device
    if device.type != "cuda":
        return frozenset()
    import torch

    own = device.index if device.index is not None else torch.cuda.current_device()
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return frozenset({own, *range(local_ranks)})


def _has_gpus() -> bool:
    import ray

    return ray.cluster_resources().get("GPU", 0.0) > 0
