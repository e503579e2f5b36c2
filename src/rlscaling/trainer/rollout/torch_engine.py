"""A batched sampler on the trainer's own torch model, optionally holding a stale snapshot.

With ``hold_snapshot=True`` the engine keeps its own copy of the weights and only sees the
trainer's weights when :meth:`TorchEngine.update_weights` is called, which is how the loop
produces an off-policy lag of up to ``k`` steps without an asynchronous generator. Sampling is
plain ancestral sampling at a temperature (top-k/top-p optional, off by default) with a KV
cache; the log-probability of each chosen token is recorded from the same (optionally FP32)
LM head that the trainer uses, so on-policy importance ratios are 1 up to float rounding.

In the generator process of the pipeline the engine owns its model: weights arrive as
safetensors files (:meth:`TorchEngine.update_weights_from_file`) and groups are streamed
through ``submit``/``poll``. ``poll`` generates consecutive submissions that share a seed and
sampling parameters (the trainer submits one step's batch that way) in one ``generate`` call,
exactly as the in-process loop does, and returns after each such batch so that a weight
update waiting between two batches is applied before the next one starts.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from rlscaling.trainer.policy import backbone, lm_logits
from rlscaling.trainer.rollout.base import RolloutEngine, Sample, SamplingParams, register_engine
from rlscaling.trainer.weights import join_weight_group, load_weights_file, receive_state


def _new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    try:
        return DynamicCache(config=model.config)
    except TypeError:  # older transformers
        return DynamicCache()


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Mask logits ``(B, V)`` outside the top-k / nucleus-p set with ``-inf``."""
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(-1)  # (B, V)
        drop = cum - torch.softmax(sorted_logits, dim=-1) >= top_p  # keep the first always
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


@register_engine("torch")
class TorchEngine(RolloutEngine):
    """Rollouts with a torch causal LM (the trainer's model or a held copy of it).

    Parameters
    ----------
    model : the policy (a ``transformers`` causal LM).
    hold_snapshot : keep a private copy of the weights, refreshed by ``update_weights``.
    version : policy version of the weights the engine starts with.
    """

    def __init__(self, model: Any, hold_snapshot: bool = False, version: int = 0) -> None:
        self.hold_snapshot = hold_snapshot
        self.model = copy.deepcopy(model) if hold_snapshot else model
        if hold_snapshot:
            self.model.requires_grad_(False)
        self.version = version

    @classmethod
    def from_config(cls, model: Any, cfg: Any, max_prompt_tokens: int | None = None) -> TorchEngine:
        # in a pipeline mode the engine lives in the generator process and owns its model
        inline = getattr(cfg.rollout, "mode", "inline") == "inline"
        return cls(model, hold_snapshot=inline and cfg.off_policy_lag > 0)

    def update_weights_from_file(self, path: str, version: int) -> None:
        load_weights_file(self.model, path)
        self.version = version

    def join_weight_group(
        self, address: dict[str, Any], rank: int, layout: list[tuple[str, list[int], str]]
    ) -> None:
        self._group = join_weight_group(address, rank)
        self._layout = layout
        self._group_device = "cuda" if address["backend"] == "nccl" else "cpu"

    def update_weights_from_group(self, version: int) -> None:
        state = receive_state(self._group, self._layout, self._group_device)
        # tied weights arrive under both names and load into the one tensor
        self.model.load_state_dict(state)
        self.version = version

    def update_weights(self, model: Any, version: int) -> None:
        if self.hold_snapshot:
            self.model.load_state_dict(model.state_dict())
        self.version = version

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"version": self.version}
        if self.hold_snapshot:
            state["weights"] = {k: v.clone() for k, v in self.model.state_dict().items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.version = int(state["version"])
        if self.hold_snapshot and "weights" in state:
            self.model.load_state_dict(state["weights"])

    @torch.no_grad()
    def generate(
        self,
        prompts: list[list[int]],
        prompt_indices: list[int],
        n: int,
        params: SamplingParams,
        seed: int,
    ) -> list[Sample]:
        model = self.model
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        gen = torch.Generator(device=device).manual_seed(seed)
        rows = [p for p in prompts for _ in range(n)]
        b, plen = len(rows), max(len(p) for p in prompts)
        ids = torch.full((b, plen), params.pad_id, dtype=torch.long)
        mask = torch.zeros((b, plen), dtype=torch.long)
        for i, p in enumerate(rows):
            ids[i, plen - len(p) :] = torch.tensor(p)
            mask[i, plen - len(p) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        jitter = torch.randint(
            0, params.think_budget_jitter + 1, (b,), generator=gen, device=device
        )
        budgets = (params.think_budget + jitter).tolist()
        marker = list(params.marker_ids)
        cap = params.think_budget + params.think_budget_jitter + params.answer_budget
        cap += len(params.interruption_ids)

        resp: list[list[int]] = [[] for _ in range(b)]
        lps: list[list[float]] = [[] for _ in range(b)]
        lmask: list[list[int]] = [[] for _ in range(b)]
        queue: list[list[int]] = [[] for _ in range(b)]
        in_answer = [not marker for _ in range(b)]
        think = [0] * b
        answer = [0] * b
        finish: list[str | None] = [None] * b
        interrupted = [False] * b

        cache = _new_cache(model)
        hidden, cache = backbone(model, ids, mask, (mask.cumsum(-1) - 1).clamp_min(0), cache)
        last = hidden[:, -1]  # (B, d)
        for _ in range(cap):
            logits = lm_logits(model, last, params.fp32_lm_head).float()  # (B, V)
            logits = filter_logits(logits / params.temperature, params.top_k, params.top_p)
            logp_all = torch.log_softmax(logits, dim=-1)  # (B, V)
            sampled = torch.multinomial(logp_all.exp(), 1, generator=gen).squeeze(-1)  # (B,)
            forced = torch.tensor(
                [q[0] if q else -1 for q in queue], dtype=torch.long, device=device
            )
            tok = torch.where(forced >= 0, forced, sampled)  # (B,)
            tok_lp = logp_all.gather(-1, tok[:, None]).squeeze(-1)  # (B,)
            active_before = [f is None for f in finish]
            for i, (t, lp) in enumerate(zip(tok.tolist(), tok_lp.tolist(), strict=True)):
                if finish[i] is not None:
                    continue
                was_forced = bool(queue[i])
                if was_forced:
                    queue[i].pop(0)
                resp[i].append(t)
                lps[i].append(lp)
                lmask[i].append(0 if was_forced else 1)
                if t == params.eos_id:
                    finish[i] = "stop"
                    continue
                if not in_answer[i]:
                    if not was_forced:
                        think[i] += 1
                    if resp[i][-len(marker) :] == marker:
                        in_answer[i] = True
                    elif params.length_control == "interruption":
                        if not queue[i] and think[i] >= budgets[i]:
                            queue[i] = list(params.interruption_ids)
                            interrupted[i] = True
                    elif len(resp[i]) >= params.think_budget + params.answer_budget:
                        finish[i] = "truncated"
                else:
                    answer[i] += 1
                    total_cap = params.think_budget + params.answer_budget
                    if answer[i] >= params.answer_budget or (
                        params.length_control == "truncation" and len(resp[i]) >= total_cap
                    ):
                        finish[i] = "truncated"
            if all(f is not None for f in finish):
                break
            step_ids = torch.where(
                torch.tensor(active_before, device=device), tok, params.pad_id
            )  # (B,)
            new_mask = torch.tensor(active_before, dtype=torch.long, device=device)[:, None]
            mask = torch.cat([mask, new_mask], dim=1)  # (B, L + 1)
            pos = (mask.sum(-1, keepdim=True) - 1).clamp_min(0)  # (B, 1)
            hidden, cache = backbone(model, step_ids[:, None], mask, pos, cache)
            last = hidden[:, -1]
        if was_training:
            model.train()
        out = []
        for i in range(b):
            text_ids = resp[i][:-1] if finish[i] == "stop" else resp[i]
            out.append(
                Sample(
                    prompt_index=prompt_indices[i // n],
                    prompt_ids=list(rows[i]),
                    response_ids=resp[i],
                    logprobs=lps[i],
                    loss_mask=lmask[i],
                    versions=[self.version] * len(resp[i]),
                    finish=finish[i] or "truncated",
                    interrupted=interrupted[i],
                    text_ids=text_ids,
                )
            )
        return out
