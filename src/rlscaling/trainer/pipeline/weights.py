"""Policy weights as safetensors files: how the trainer hands a new version to the generator.

The file holds the model's ``state_dict`` under its Hugging Face parameter names. Tied
weights (an LM head sharing the input embedding) are written under both names, as separate
copies (safetensors refuses tensors that share memory): an engine may keep its own processed
copy of the LM head that a reload refreshes only when ``lm_head.weight`` is in the file
(vLLM's CPU backend does). Files go to ``/dev/shm`` (memory, no disk I/O) when it is
writable, else to a temporary directory; each is written to a temporary name and renamed, so
a reader never sees half a file. The trainer deletes a file once the generator has loaded a
newer one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch


def cpu_state(model: Any) -> dict[str, torch.Tensor]:
    """``state_dict`` as contiguous CPU copies (so tied tensors no longer share memory)."""
    return {
        name: t.detach().to("cpu", copy=True).contiguous() for name, t in model.state_dict().items()
    }


def load_weights_file(model: Any, path: str | Path) -> None:
    """Load a file written by :class:`WeightStore` into ``model`` in place.

    Names missing from the file must be tied to a name that is in it (a file written without
    the duplicates); anything else missing or unexpected raises, so a wrong file cannot
    half-load silently.
    """
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = model.state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    loaded_ptrs = {own[k].data_ptr() for k in state if k in own}
    untied = [k for k in missing if own[k].data_ptr() not in loaded_ptrs]
    if untied or unexpected:
        raise ValueError(
            f"{path}: weights do not match the model (missing: {untied[:5]}, "
            f"unexpected: {list(unexpected)[:5]})"
        )


def _default_root() -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


class WeightStore:
    """A private directory of ``v<version>.safetensors`` files.

    Parameters
    ----------
    root : where to create the directory; default ``/dev/shm``, else the temp directory.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rlscaling-weights-", dir=root or _default_root()))
        self.versions: list[int] = []

    def path(self, version: int) -> Path:
        return self.dir / f"v{version}.safetensors"

    def write(self, model: Any, version: int) -> str:
        """Write ``model``'s weights as ``version``; return the file's path."""
        from safetensors.torch import save_file

        final = self.path(version)
        tmp = final.with_suffix(".tmp")
        save_file(cpu_state(model), str(tmp))
        os.replace(tmp, final)
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
