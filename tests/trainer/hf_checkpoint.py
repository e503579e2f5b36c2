"""A small Qwen2-architecture Hugging Face checkpoint with a chat template, made locally.

Nothing is downloaded: the tokenizer is built with the ``tokenizers`` library (one token per
printable character, Qwen's turn markers ``<|im_start|>`` / ``<|im_end|>`` and
``<|endoftext|>`` as special tokens, ``\\boxed{`` as one added token) and carries a Qwen-style
chat template; the model is a freshly initialised ``Qwen2ForCausalLM`` (grouped-query attention,
tied embeddings) saved with ``save_pretrained``. ``<|im_end|>`` is the end-of-sequence token,
as in Qwen's instruct models.
"""

from __future__ import annotations

import string
from pathlib import Path

CHAT_TEMPLATE = (
    "{%- for m in messages %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>")


def chat_tokenizer(chat_template: str | None = CHAT_TEMPLATE):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for t in (*SPECIAL, *(string.printable[:95] + "\n")):
        vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(t, normalized=False) for t in SPECIAL])
    tok.add_tokens([AddedToken("\\boxed{", normalized=False, special=False)])
    out = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
    )
    if chat_template is not None:
        out.chat_template = chat_template
    return out


def save_qwen2_checkpoint(
    path: str | Path, seed: int = 0, chat_template: str | None = CHAT_TEMPLATE
):
    """Save a 2-layer, 64-wide Qwen2 model and its chat tokenizer to ``path``; return it."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = chat_tokenizer(chat_template)
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(cfg)
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
