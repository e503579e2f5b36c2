"""Methods mixed into vLLM's worker to load new policy weights without a restart.

vLLM imports this module inside its worker (``worker_extension_cls``), so it must not import
vLLM or anything heavy at module level. The engine calls the methods by name through
``collective_rpc``; tensors do not survive that call as tensors, so weights travel as a
safetensors file (under ``/dev/shm`` when it exists, i.e. in memory), or arrive by
broadcast: each worker joins the trainer's torch.distributed weight group and receives every
tensor itself (NCCL on GPU, gloo on CPU; :mod:`rlscaling.trainer.weights`).
"""

from __future__ import annotations


class WeightSync:
    """Worker extension: ``load_weights_from_file(path)`` reloads every weight in place;
    ``join_weight_group`` and ``load_weights_from_group`` do it from a broadcast."""

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

    def join_weight_group(self, address: dict, rank: int, layout: list) -> None:
        """Join the trainer's weight group; a tensor-parallel worker takes ``rank`` plus its
        own rank in the engine (vLLM's ``self.rank``; 0 with one worker)."""
        from rlscaling.trainer.weights import join_weight_group

        own = int(getattr(self, "rank", 0))
        self._weight_group = join_weight_group(address, rank + own)
        self._weight_layout = layout
        self._weight_device = "cuda" if address["backend"] == "nccl" else "cpu"

    def load_weights_from_group(self) -> int:
        """Receive the state dict the trainer broadcasts and reload it in place (each
        tensor-parallel worker receives it whole and keeps its shard)."""
        from rlscaling.trainer.weights import receive_state

        state = receive_state(self._weight_group, self._weight_layout, self._weight_device)
        runner = self.model_runner  # type: ignore[attr-defined]  # set by vLLM's worker
        runner.reload_weights(weights_iterator=iter(state.items()))
        return len(state)
