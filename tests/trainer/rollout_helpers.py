"""Helpers shared by the rollout-engine and pipeline tests (importable: pytest puts this
directory on sys.path, as the test modules here have no package)."""

import torch

from rlscaling.trainer.policy import collate, response_logprobs
from rlscaling.trainer.rollout import SamplingParams


def interruption_params(tok, **kw) -> SamplingParams:
    """Short budgets with interruption and a real marker, so every length rule fires quickly."""
    enc = lambda s: tuple(tok(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    base = dict(
        think_budget=6,
        answer_budget=5,
        length_control="interruption",
        marker_ids=enc("</think>"),
        interruption_ids=enc("ok</think>"),
        eos_id=tok.eos_token_id,
        pad_id=tok.pad_token_id,
        fp32_lm_head=True,
    )
    base.update(kw)
    return SamplingParams(**base)


def trainer_logprobs(model, samples, pad_id, temperature=1.0, fp32=True):
    """``(logp, batch)``: the trainer's forward log-probs of the samples' responses, and the
    collated batch (its ``old_logp`` holds the engine's behaviour log-probs)."""
    batch = collate(
        [s.prompt_ids for s in samples],
        [s.response_ids for s in samples],
        pad_id,
        [s.loss_mask for s in samples],
        [s.logprobs for s in samples],
    )
    with torch.no_grad():
        logp, _ = response_logprobs(model, batch, temperature, fp32)
    return logp, batch
