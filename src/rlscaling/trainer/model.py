"""The policy model: a tiny Hugging Face-format causal LM built locally, or any local HF dir.

:func:`build_tokenizer` makes a character-level tokenizer with the ``tokenizers`` library
(printable ASCII plus ``<pad> <s> </s> <unk>`` and the whole-token markers ``<think>`` and
``</think>``), wrapped as a ``PreTrainedTokenizerFast``. :func:`build_tiny_model` makes a Llama
or Qwen2 model with tied embeddings. :func:`save_model` writes both with ``save_pretrained``, so
the directory loads with ``AutoModelForCausalLM`` / ``AutoTokenizer`` and in vLLM. Keep
``head_dim = hidden_size / num_heads >= 32``: vLLM's CPU attention refuses smaller heads.

Examples
--------
>>> tok = build_tokenizer()
>>> ids = tok("12+3=")["input_ids"]
>>> tok.convert_ids_to_tokens(ids)
['<s>', '1', '2', '+', '3', '=']
>>> tok.decode(tok("7</think>10", add_special_tokens=False)["input_ids"])
'7</think>10'
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import torch

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
MARKER_TOKENS = ("<think>", "</think>")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_tokenizer(chars: str | None = None):
    """A character-level ``PreTrainedTokenizerFast`` (BOS added to every encoded text)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    chars = chars if chars is not None else string.printable[:95] + "\n"
    vocab: dict[str, int] = {}
    for t in (*SPECIAL_TOKENS, *MARKER_TOKENS, *chars):
        vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(t, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in MARKER_TOKENS])
    tok.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def build_tiny_model(cfg: Any, tokenizer: Any, seed: int = 0):
    """A freshly initialised Llama or Qwen2 causal LM for a :class:`ModelConfig`."""
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size or 4 * cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    hf_cfg = LlamaConfig(**common) if cfg.arch == "llama" else Qwen2Config(**common)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(
            hf_cfg, attn_implementation=cfg.attn_implementation
        )
    return model.to(DTYPES[cfg.dtype])


def qwen25_05b_config(tokenizer: Any = None, max_positions: int = 32768) -> Any:
    """A ``Qwen2Config`` of Qwen2.5-0.5B's published shape (24 layers, hidden 896, 14 query
    and 2 KV heads of 64, MLP 4,864, vocabulary 151,936, tied embeddings): a model of a real
    size to check memory and speed against, built without downloading one. With
    ``tokenizer``, its special tokens' ids."""
    from transformers import Qwen2Config

    ids = {}
    if tokenizer is not None:
        ids = dict(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    return Qwen2Config(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        **ids,
    )


def save_model(model: Any, tokenizer: Any, path: str | Path) -> Path:
    """``save_pretrained`` model and tokenizer into ``path`` (created if needed)."""
    from transformers.utils import logging as hf_logging

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    return path


def load_model(path: str | Path, dtype: str = "float32", attn_implementation: str = "sdpa"):
    """``(model, tokenizer)`` from a local Hugging Face directory.

    Weights are read from safetensors files only (``use_safetensors=True``): a
    ``pytorch_model.bin`` is a pickle, and a run directory or model path may come from anyone.
    Convert such a model once with ``save_pretrained`` (safetensors is its default).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    tokenizer = AutoTokenizer.from_pretrained(path)
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, attn_implementation=attn_implementation, use_safetensors=True
        )
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    model = model.to(DTYPES[dtype])
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def count_params(model: Any) -> int:
    """All distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


def matmul_params(model: Any) -> int:
    """Parameters that take part in a matrix multiply per token: ``N`` of the FLOPs formula.

    All parameters except the input embedding table (a lookup), plus the LM head; with tied
    embeddings the shared matrix is counted once, as the LM head.
    """
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    n = count_params(model) - emb.numel()
    if head.data_ptr() == emb.data_ptr():
        n += head.numel()
    return n
