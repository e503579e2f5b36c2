"""Policy weights as safetensors files: the one writer and reader every engine and process uses.

A weights file holds the model's ``state_dict`` under its Hugging Face parameter names. Tied
weights (an LM head sharing the input embedding) are written under both names, as separate
copies (safetensors refuses tensors that share memory): an engine may keep its own processed
copy of the LM head that a reload refreshes only when ``lm_head.weight`` is in the file
(vLLM's CPU backend does). Files are written to a temporary name and renamed, so a reader in
another process never sees half a file, and go to ``/dev/shm`` (memory, no disk I/O) when it
is writable, else to a temporary directory.

Used by the rollout engines (the torch engine loads files, the vLLM engine writes the file its
worker reloads) and by the pipeline (:class:`WeightStore`, one file per pushed version). This
module imports neither, so both can import it.

Examples
--------
>>> import tempfile, torch
>>> layer = torch.nn.Linear(2, 2)
>>> path = write_weights(layer, tempfile.mkdtemp() + "/w.safetensors")
>>> sorted(read_weights(path))
['bias', 'weight']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


def shm_dir() -> Path:
    """``/dev/shm`` when it is a writable directory (files there live in memory), else tmp."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


def cpu_state(model: Any, copy: bool = False) -> dict[str, torch.Tensor]:
    """Every entry of ``model.state_dict()``, tied ones included, as contiguous CPU tensors.

    No two returned tensors share memory (a second name of a tied weight gets a clone), as
    safetensors requires. With ``copy=False`` the tensors of a model already on the CPU alias
    its parameters (enough to write a file); ``copy=True`` returns a private snapshot.
    """
    seen: set[int] = set()
    out = {}
    for name, value in model.state_dict().items():
        t = value.detach().to("cpu").contiguous()
        if copy or t.data_ptr() in seen:
            t = t.clone()
        seen.add(t.data_ptr())
        out[name] = t
    return out


def write_state(state: Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Write tensors that share no memory to ``path`` (temporary name, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(dict(state), str(tmp))
    os.replace(tmp, path)
    return path


def write_weights(model: Any, path: str | Path) -> Path:
    """Write ``model``'s weights to ``path``, tied weights under both names; return the path."""
    return write_state(cpu_state(model), path)


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, by name (safetensors: nothing is unpickled)."""
    from safetensors.torch import load_file

    return load_file(str(path))


def load_weights_file(model: Any, path: str | Path) -> None:
    """Load a weights file into ``model`` in place.

    Names missing from the file must be tied to a name that is in it (a file written without
    the duplicates, as ``save_pretrained`` does); anything else missing or unexpected raises,
    so a wrong file cannot half-load silently.
    """
    state = read_weights(path)
    own = model.state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    loaded_ptrs = {own[k].data_ptr() for k in state if k in own}
    untied = [k for k in missing if own[k].data_ptr() not in loaded_ptrs]
    if untied or unexpected:
        raise ValueError(
            f"{path}: weights do not match the model (missing: {untied[:5]}, "
            f"unexpected: {list(unexpected)[:5]})"
        )


class WeightStore:
    """A private directory of ``v<version>.safetensors`` files (the pipeline's pushed weights).

    Parameters
    ----------
    root : where to create the directory; default ``/dev/shm``, else the temp directory.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rlscaling-weights-", dir=root or shm_dir()))
        self.versions: list[int] = []

    def path(self, version: int) -> Path:
        return self.dir / f"v{version}.safetensors"

    def write(self, model: Any, version: int) -> str:
        """Write ``model``'s weights as ``version``; return the file's path."""
        final = write_weights(model, self.path(version))
        if version not in self.versions:
            self.versions.append(version)
        return str(final)

    def release_before(self, version: int) -> None:
        """Delete the files of versions older than ``version`` (the generator has moved on)."""
        for v in [v for v in self.versions if v < version]:
            self.path(v).unlink(missing_ok=True)
            self.versions.remove(v)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.versions.clear()


# ---- weights by broadcast: one process group from the trainer to every generator ------------
# The trainer is rank 0; each generator's engine takes the ranks after it (a vLLM engine
# sharded over t GPUs takes t, one per worker). torch.distributed does the transfer: NCCL
# between GPUs, gloo between CPUs. The group is built from its own TCPStore rather than
# ``init_process_group``, so it coexists with the default group of a sharded learner.


def join_weight_group(address: Mapping[str, Any], rank: int) -> Any:
    """This process's member of the weight group ``address`` (host, port, world_size,
    backend); blocks until every rank has joined (``timeout_s``, default 600 s)."""
    from datetime import timedelta

    import torch.distributed as dist

    timeout = timedelta(seconds=float(address.get("timeout_s", 600)))
    world = int(address["world_size"])
    store = dist.TCPStore(
        str(address["host"]), int(address["port"]), world, is_master=rank == 0, timeout=timeout
    )
    if address["backend"] == "nccl":
        return dist.ProcessGroupNCCL(store, rank, world)
    return dist.ProcessGroupGloo(store, rank, world, timeout)


def tensor_layout(state: Mapping[str, torch.Tensor]) -> list[tuple[str, list[int], str]]:
    """Names, shapes and dtypes of a state dict, in order: what a receiver allocates."""
    return [(name, list(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in state.items()]


def broadcast_state(group: Any, state: Mapping[str, torch.Tensor]) -> list[Any]:
    """Send ``state`` from rank 0 to every rank, tensor by tensor in its order; returns the
    pending works (wait on them before changing the tensors)."""
    return [group.broadcast(t, 0) for t in state.values()]


def receive_state(
    group: Any, layout: list[tuple[str, list[int], str]], device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Receive a state dict broadcast by rank 0 (the layout is the sender's)."""
    out = {}
    for name, shape, dtype in layout:
        t = torch.empty(shape, dtype=getattr(torch, dtype), device=device)
        group.broadcast(t, 0).wait()
        out[name] = t
    return out


class WeightBroadcaster:
    """Rank 0 of the weight group: sends each pushed version to every generator.

    Parameters
    ----------
    model : the trainer's policy (its state dict's layout is what every rank receives).
    world_size : 1 + the ranks of all generators.
    backend : ``"nccl"`` (GPU) or ``"gloo"`` (CPU).
    host : an address of this machine that the generators reach.
    """

    def __init__(self, model: Any, world_size: int, backend: str, host: str) -> None:
        self.backend = backend
        self.device = "cuda" if backend == "nccl" else "cpu"
        self.layout = tensor_layout(self._snapshot(model))
        self.address = {
            "host": host,
            "port": _free_port(),
            "world_size": world_size,
            "backend": backend,
        }
        self.group: Any = None
        # sends not yet received by every rank, with the snapshot each is reading
        self._pending: list[tuple[dict[str, torch.Tensor], list[Any]]] = []

    def connect(self) -> None:
        """Join as rank 0 (blocks until every generator has joined)."""
        self.group = join_weight_group(self.address, 0)

    def _snapshot(self, model: Any) -> dict[str, torch.Tensor]:
        # a private copy on the transfer's device: the optimiser may step while it is sent
        return {
            name: value.detach().to(self.device, copy=True).contiguous()
            for name, value in model.state_dict().items()
        }

    def send(self, model: Any) -> None:
        """Start sending ``model``'s weights; returns before the generators have them (each
        receives between two of its engine's polls), so training does not wait for them."""
        self._pending = [
            (state, works)
            for state, works in self._pending
            if not all(w.is_completed() for w in works)
        ]
        state = self._snapshot(model)
        self._pending.append((state, broadcast_state(self.group, state)))

    def wait(self) -> None:
        """Block until every send has reached every rank."""
        for _, works in self._pending:
            for work in works:
                work.wait()
        self._pending = []

    def close(self) -> None:
        """Forget the group (sends still pending are abandoned: the generators are gone)."""
        self._pending = []
        self.group = None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])
