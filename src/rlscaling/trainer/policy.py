"""Forward passes shared by the sampler and the trainer: LM head precision and log-probs.

Both sides lay a batch out the same way: prompts left-padded to a common length ``P``,
responses right-padded to ``R``, ``position_ids = cumsum(attention_mask) - 1``, so the torch
rollout engine (incremental, with a KV cache) and the trainer (one full forward) see the same
positions and masks and their log-probabilities agree to float rounding.

With ``fp32_head`` the final hidden states and the LM-head weight are cast to float32 before
the projection (ScaleRL's FP32 LM head); otherwise the head runs in the model's dtype.
Log-probabilities are of the tempered distribution ``softmax(logits / temperature)``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch


def lm_logits(model: Any, hidden: torch.Tensor, fp32_head: bool) -> torch.Tensor:
    """Logits from final hidden states ``(..., d)`` -> ``(..., V)``."""
    head = model.get_output_embeddings()
    if fp32_head:
        out = hidden.float() @ head.weight.float().T
        if getattr(head, "bias", None) is not None:
            out = out + head.bias.float()
        return out
    return head(hidden)


def _cache_kwarg(model: Any) -> str:
    params = inspect.signature(model.base_model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def backbone(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    cache: Any = None,
) -> tuple[torch.Tensor, Any]:
    """Final hidden states ``(B, L, d)`` and the updated KV cache (``cache`` may be None)."""
    kwargs = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "position_ids": position_ids,
        "use_cache": cache is not None,
    }
    if cache is not None:
        kwargs[_cache_kwarg(model)] = cache
    out = model.base_model(**kwargs)
    return out.last_hidden_state, cache  # a transformers Cache object is updated in place


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """``cumsum(mask) - 1`` clamped at 0: left padding does not shift positions."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


@dataclass
class TokenBatch:
    """A padded batch of (prompt, response) sequences.

    ``input_ids``/``attention_mask``: ``(B, P + R)``; ``response_ids``/``loss_mask``/
    ``old_logp``: ``(B, R)``; ``prompt_len`` = ``P``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    loss_mask: torch.Tensor
    old_logp: torch.Tensor
    prompt_len: int

    def to(self, device: Any) -> TokenBatch:
        return TokenBatch(
            *(t.to(device) for t in (self.input_ids, self.attention_mask, self.response_ids)),
            self.response_mask.to(device),
            self.loss_mask.to(device),
            self.old_logp.to(device),
            self.prompt_len,
        )

    def rows(self, idx: torch.Tensor | slice) -> TokenBatch:
        return TokenBatch(
            self.input_ids[idx],
            self.attention_mask[idx],
            self.response_ids[idx],
            self.response_mask[idx],
            self.loss_mask[idx],
            self.old_logp[idx],
            self.prompt_len,
        )


def collate(
    prompts: list[list[int]],
    responses: list[list[int]],
    pad_id: int,
    loss_masks: list[list[int]] | None = None,
    old_logps: list[list[float]] | None = None,
) -> TokenBatch:
    """Left-pad prompts and right-pad responses into a :class:`TokenBatch`."""
    b = len(prompts)
    p = max(len(x) for x in prompts)
    r = max(1, max(len(x) for x in responses))
    input_ids = torch.full((b, p + r), pad_id, dtype=torch.long)
    attn = torch.zeros((b, p + r), dtype=torch.long)
    resp = torch.full((b, r), pad_id, dtype=torch.long)
    rmask = torch.zeros((b, r))
    lmask = torch.zeros((b, r))
    old = torch.zeros((b, r))
    for i, (pr, rs) in enumerate(zip(prompts, responses, strict=True)):
        input_ids[i, p - len(pr) : p] = torch.tensor(pr)
        attn[i, p - len(pr) : p] = 1
        if rs:
            input_ids[i, p : p + len(rs)] = torch.tensor(rs)
            attn[i, p : p + len(rs)] = 1
            resp[i, : len(rs)] = torch.tensor(rs)
            rmask[i, : len(rs)] = 1.0
            lm = loss_masks[i] if loss_masks is not None else [1] * len(rs)
            lmask[i, : len(rs)] = torch.tensor(lm, dtype=torch.float)
            if old_logps is not None:
                old[i, : len(rs)] = torch.tensor(old_logps[i])
    return TokenBatch(input_ids, attn, resp, rmask, lmask, old, p)


def response_logprobs(
    model: Any, batch: TokenBatch, temperature: float = 1.0, fp32_head: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability ``(B, R)`` of each response token and the entropy ``(B, R)`` there.

    Position ``P - 1 + j`` predicts response token ``j``.
    """
    return token_logprobs(
        model,
        batch.input_ids,
        batch.attention_mask,
        batch.response_ids,
        batch.prompt_len,
        temperature,
        fp32_head,
    )


def token_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_ids: torch.Tensor,
    prompt_len: int,
    temperature: float = 1.0,
    fp32_head: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`response_logprobs` on plain tensors (what a data-parallel wrapper's forward
    takes): ``input_ids``/``attention_mask`` ``(B, P + R)``, ``response_ids`` ``(B, R)``."""
    hidden, _ = backbone(model, input_ids, attention_mask, positions(attention_mask))
    h = hidden[:, prompt_len - 1 : -1]  # (B, R, d)
    logits = lm_logits(model, h, fp32_head).float() / temperature  # (B, R, V)
    logsm = torch.log_softmax(logits, dim=-1)  # (B, R, V)
    logp = logsm.gather(-1, response_ids[..., None]).squeeze(-1)  # (B, R)
    with torch.no_grad():
        entropy = -(logsm.exp() * logsm).sum(-1)  # (B, R)
    return logp, entropy
