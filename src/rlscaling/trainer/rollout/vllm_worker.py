"""Methods mixed into vLLM's worker to load new policy weights without a restart.

vLLM imports this module inside its worker (``worker_extension_cls``), so it must not import
vLLM or anything heavy at module level. The engine calls the methods by name through
``collective_rpc``; tensors do not survive that call as tensors, so weights travel as a
safetensors file (under ``/dev/shm`` when it exists, i.e. in memory).
"""

from __future__ import annotations


class WeightSync:
    """Worker extension: ``load_weights_from_file(path)`` reloads every weight in place."""

    def load_weights_from_file(self, path: str) -> int:
        """Load a safetensors state dict with Hugging Face parameter names; return its size.

        ``reload_weights`` (not ``model.load_weights``) because the CPU backend repacks some
        weights after start-up and only the reload path maps checkpoint tensors onto the
        repacked parameters.
        """
        from safetensors.torch import load_file

        state = load_file(path)
        runner = self.model_runner  # type: ignore[attr-defined]  # set by vLLM's worker
        runner.reload_weights(weights_iterator=iter(state.items()))
        return len(state)
