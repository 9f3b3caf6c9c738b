"""Fitting Flamingo's blocks into any Hugging Face causal LM without touching its code.

Decoder layers live at different paths in different families (GPT-2 ``transformer.h``,
Llama/Mistral/Qwen ``model.layers``, OPT ``model.decoder.layers``, ...). We find that
list and replace every N-th layer with a ``FlamingoLayer`` that runs a GATED
XATTN-DENSE block on the hidden states and then the original layer, unchanged. The
LM's own forward, masks, positions and KV cache keep working, including its
``generate``. What the blocks attend to (visual tokens, and which image each current
token sees) is set on a ``MediaContext`` shared by all wrapped layers before each call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from flamboyance.flamingo_model.cross_attention import GatedCrossAttentionBlock

# Where the decoder layer list lives, by family; the first that exists wins.
LAYER_PATHS = (
    "model.layers",
    "model.decoder.layers",
    "transformer.h",
    "gpt_neox.layers",
    "transformer.blocks",
    "model.language_model.layers",
)


@dataclass
class MediaContext:
    """What the cross-attention sees during one LM call: set by the Flamingo model, read by its layers."""

    media: torch.Tensor | None = None  # [B, N, R, D] visual tokens
    media_index: torch.Tensor | None = None  # [B, L] image slot per current token, -1 for none
    checkpointing: bool = False


def _get_path(module: nn.Module, path: str) -> Any:
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def decoder_layers(lm: nn.Module) -> nn.ModuleList:
    """The decoder layer list of a causal LM (raises ValueError naming the model if none is found)."""
    for path in LAYER_PATHS:
        layers = _get_path(lm, path)
        if isinstance(layers, nn.ModuleList):
            return layers
    raise ValueError(f"cannot find the decoder layers of {type(lm).__name__}; known paths: {', '.join(LAYER_PATHS)}")


def hidden_size(lm: nn.Module) -> int:
    config = lm.config
    for name in ("hidden_size", "n_embd", "d_model"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    return int(lm.get_input_embeddings().embedding_dim)


class FlamingoLayer(nn.Module):
    """A frozen decoder layer with a gated cross-attention block before it (or none)."""

    def __init__(self, layer: nn.Module, block: GatedCrossAttentionBlock | None, context: MediaContext) -> None:
        super().__init__()
        self.layer, self.block = layer, block
        self.context = context

    def __getattr__(self, name: str) -> Any:
        # Model code reads attributes of its layers (e.g. ``attention_type``): pass them through.
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("layer"), name)

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        # Read the context now: a checkpointed block is recomputed in backward, after the call has cleared it.
        media, media_index = self.context.media, self.context.media_index

        def run(hidden: torch.Tensor) -> Any:
            if self.block is not None and media is not None:
                hidden = self.block(hidden, media, media_index)
            return self.layer(hidden, *args, **kwargs)

        if self.context.checkpointing and torch.is_grad_enabled():
            return checkpoint(run, hidden_states, use_reentrant=False)
        return run(hidden_states)


def insert_cross_attention(lm: nn.Module, every: int, make_block: Any) -> MediaContext:
    """Wrap every ``every``-th decoder layer (counting from the first) with ``make_block()``; returns the shared context."""
    if every < 1:
        raise ValueError(f"cross_attn_every must be >= 1, not {every}")
    layers = decoder_layers(lm)
    if any(isinstance(layer, FlamingoLayer) for layer in layers):
        raise ValueError("this LM already has Flamingo blocks")
    context = MediaContext()
    for number, layer in enumerate(layers):
        layers[number] = FlamingoLayer(layer, make_block() if number % every == 0 else None, context)
    return context


class TrainableRows(nn.Module):
    """The LM's input embedding, frozen, with trainable copies of a few rows (``<image>``, ``<EOC>``).

    Only those rows train, and the frozen matrix (often tied to the output head) is never
    touched, so every other row stays exactly as it was whatever the optimiser, weight
    decay or sharding (DDP, FSDP) does; the optimiser state is two rows, not the vocabulary.
    At initialisation the copies equal the original rows, so outputs are unchanged.
    """

    def __init__(self, embedding: nn.Embedding, token_ids: list[int]) -> None:
        super().__init__()
        self.embedding = embedding
        self.register_buffer("token_ids", torch.tensor(token_ids), persistent=False)
        self.rows = nn.Parameter(embedding.weight.detach()[token_ids].clone())

    @property
    def weight(self) -> torch.Tensor:
        return self.embedding.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(input_ids)
        match = input_ids.unsqueeze(-1) == self.token_ids  # [..., rows]
        if not match.any():
            return embedded
        replaced = (match.to(embedded.dtype) @ self.rows.to(embedded.dtype)).to(embedded.dtype)
        return torch.where(match.any(-1, keepdim=True), replaced, embedded)


def train_embedding_rows(lm: nn.Module, token_ids: list[int]) -> TrainableRows:
    """Swap the LM's input embedding for ``TrainableRows`` of ``token_ids``; returns it."""
    rows = TrainableRows(lm.get_input_embeddings(), token_ids)
    lm.set_input_embeddings(rows)
    return rows
