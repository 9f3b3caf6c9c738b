"""Small models built from configs alone, for tests, benchmarks, the demo and offline smoke runs.

Nothing can be downloaded here, so a tiny causal LM of each supported family, a tiny
open_clip ViT and a locally trained tokenizer stand in for the real pretrained parts;
they exercise exactly the same code paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from torch import nn
from transformers import PreTrainedTokenizerFast

if TYPE_CHECKING:
    from flamboyance.flamingo_model.config import FlamingoConfig

LM_FAMILIES = ("gpt2", "llama", "opt")


def tiny_lm(family: str, vocab_size: int, width: int = 64, layers: int = 2, heads: int = 2, context: int = 512) -> nn.Module:
    """A randomly initialised causal LM of ``family`` (gpt2, llama or opt)."""
    import transformers as hf

    if family == "gpt2":
        config = hf.GPT2Config(
            vocab_size=vocab_size, n_embd=width, n_layer=layers, n_head=heads, n_positions=context, bos_token_id=0, eos_token_id=0
        )
        return hf.GPT2LMHeadModel(config)
    if family == "llama":
        config = hf.LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=width,
            intermediate_size=width * 4,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
            max_position_embeddings=context,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=0,
        )
        return hf.LlamaForCausalLM(config)
    if family == "opt":
        config = hf.OPTConfig(
            vocab_size=vocab_size,
            hidden_size=width,
            ffn_dim=width * 4,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            max_position_embeddings=context,
            word_embed_proj_dim=width,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=0,
        )
        return hf.OPTForCausalLM(config)
    raise ValueError(f"unknown LM family {family!r}; choose from {', '.join(LM_FAMILIES)}")


def tiny_flamingo_config(num_latents: int = 8, dim_head: int = 32) -> "FlamingoConfig":
    """Resampler and cross-attention sizes that train in seconds on a CPU (tests, demo)."""
    from flamboyance.flamingo_model.config import FlamingoConfig

    return FlamingoConfig(
        num_latents=num_latents,
        perceiver_depth=1,
        perceiver_heads=2,
        perceiver_dim_head=dim_head,
        cross_attn_heads=2,
        cross_attn_dim_head=dim_head,
        ff_mult=2,
    )


def tiny_vit(image_size: int = 32, patch_size: int = 8, width: int = 64, layers: int = 2, heads: int = 2) -> nn.Module:
    """An open_clip ViT image tower built from its config (random weights)."""
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    config = CLIPVisionCfg(layers=layers, width=width, head_width=width // heads, patch_size=patch_size, image_size=image_size)
    return _build_vision_tower(embed_dim=width, vision_cfg=config)


def tiny_tokenizer(texts: Iterable[str], vocab_size: int = 300) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on ``texts``, with ``<image>``, ``<EOC>`` and ``<pad>``."""
    from flamboyance.flamingo_model.tokens import train_tokenizer

    return train_tokenizer(texts, vocab_size=vocab_size)


def tiny_open_clip_config(image_size: int = 32) -> dict:
    """An open_clip model config (the JSON open_clip's factory reads) for a tiny ViT-based CLIP."""
    return {
        "embed_dim": 64,
        "vision_cfg": {"image_size": image_size, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 256, "width": 32, "heads": 2, "layers": 1},
    }


def tiny_clip(image_size: int = 32) -> tuple[nn.Module, dict]:
    """A tiny open_clip CLIP (random weights) with its preprocessing set, and its model config."""
    import open_clip
    from open_clip.model import set_model_preprocess_cfg

    config = tiny_open_clip_config(image_size)
    model = open_clip.CLIP(**config)
    set_model_preprocess_cfg(
        model,
        {
            "size": image_size,
            "mean": open_clip.OPENAI_DATASET_MEAN,
            "std": open_clip.OPENAI_DATASET_STD,
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        },
    )
    return model, config


def write_tiny_parts(folder: str, texts: Iterable[str], family: str = "gpt2", seed: int = 0) -> tuple[str, str]:
    """Save a tiny LM + tokenizer (a Hugging Face folder) and a tiny open_clip image tower export.

    The tower is written by pretrain_encoder's exporter, as a real encoder run leaves
    it. Returns ``(lm_folder, encoder_folder)`` for ``TrainConfig.lm`` and ``TrainConfig.encoder``.
    """
    import os

    import torch

    from flamboyance.pretrain_encoder.image_tower import export_image_tower

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(texts)
    lm_folder = os.path.join(folder, f"tiny-{family}")
    tiny_lm(family, len(tokenizer)).save_pretrained(lm_folder)
    tokenizer.save_pretrained(lm_folder)
    encoder_folder = os.path.join(folder, "tiny-clip")
    export_image_tower(*tiny_clip(), encoder_folder, "tiny-clip")
    return lm_folder, encoder_folder


def pretrain_tiny_lm(
    lm: nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    texts: list[str],
    steps: int = 200,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    log_every: int = 0,
) -> list[float]:
    """Teach a tiny LM the language of ``texts`` (text only), so it starts like a pretrained LM.

    Flamingo freezes a *pretrained* LM; a randomly initialised one cannot even express
    a confident next-token distribution, so its frozen copy would hide whether the
    visual pathway learned anything. Returns the loss per step; prints it every ``log_every`` steps.
    """
    import random

    import torch

    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(lm.parameters(), lr=lr)
    lm.train()
    losses = []
    for _ in range(steps):
        batch = tokenizer(rng.sample(texts, min(batch_size, len(texts))), return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = lm(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if log_every and len(losses) % log_every == 0:
            print(f"language model step {len(losses)}  loss {losses[-1]:.3f}", flush=True)
    return losses
