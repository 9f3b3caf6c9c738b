"""Small models built from configs alone, for tests, benchmarks, the demo and offline smoke runs.

Nothing can be downloaded here, so a tiny causal LM of each supported family, a tiny
open_clip ViT and a locally trained tokenizer stand in for the real pretrained parts;
they exercise exactly the same code paths.
"""

from __future__ import annotations

from typing import Iterable

from torch import nn
from transformers import PreTrainedTokenizerFast

LM_FAMILIES = ("gpt2", "llama", "opt")


def tiny_lm(family: str, vocab_size: int, width: int = 64, layers: int = 2, heads: int = 2, context: int = 512) -> nn.Module:
    """A randomly initialised causal LM of ``family`` (gpt2, llama or opt)."""
    import transformers as hf

    if family == "gpt2":
        config = hf.GPT2Config(vocab_size=vocab_size, n_embd=width, n_layer=layers, n_head=heads, n_positions=context, bos_token_id=0, eos_token_id=0)
        return hf.GPT2LMHeadModel(config)
    if family == "llama":
        config = hf.LlamaConfig(
            vocab_size=vocab_size, hidden_size=width, intermediate_size=width * 4, num_hidden_layers=layers,
            num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=context, bos_token_id=0, eos_token_id=0, pad_token_id=0,
        )
        return hf.LlamaForCausalLM(config)
    if family == "opt":
        config = hf.OPTConfig(
            vocab_size=vocab_size, hidden_size=width, ffn_dim=width * 4, num_hidden_layers=layers,
            num_attention_heads=heads, max_position_embeddings=context, word_embed_proj_dim=width, bos_token_id=0, eos_token_id=0, pad_token_id=0,
        )
        return hf.OPTForCausalLM(config)
    raise ValueError(f"unknown LM family {family!r}; choose from {', '.join(LM_FAMILIES)}")


def tiny_vit(image_size: int = 32, patch_size: int = 8, width: int = 64, layers: int = 2, heads: int = 2) -> nn.Module:
    """An open_clip ViT image tower built from its config (random weights)."""
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    config = CLIPVisionCfg(layers=layers, width=width, head_width=width // heads, patch_size=patch_size, image_size=image_size)
    return _build_vision_tower(embed_dim=width, vision_cfg=config)


def tiny_tokenizer(texts: Iterable[str], vocab_size: int = 300) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on ``texts``, with ``<image>``, ``<EOC>`` and ``<pad>``."""
    from shards.tokens import train_tokenizer

    return train_tokenizer(texts, vocab_size=vocab_size)
