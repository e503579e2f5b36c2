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
