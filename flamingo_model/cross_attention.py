"""GATED XATTN-DENSE: how text tokens look at images without disturbing the frozen LM at first.

Each block is a cross-attention from the text to the visual tokens, then a dense
feed-forward block, each added to the residual stream scaled by ``tanh(alpha)`` with
``alpha`` starting at 0. At initialisation the blocks therefore add exactly nothing and
the model is the frozen LM; training opens the gates as the visual pathway learns.

Masking (the paper's phi): a text token attends only to the visual tokens of one image,
``media_index[b, t]`` (the slot of the last image before it, or of the next one in the
attend-to-next variant; ``flamingo_model/tokens.py`` computes it). A token with index -1 (text
before any image) sees no image at all: its cross-attention output is exactly zero.
"""

from __future__ import annotations

import torch
from torch import nn

from flamboyance.flamingo_model.layers import Attention, FeedForward


def media_mask(media_index: torch.Tensor, media: int, tokens_per_media: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(attention mask [B, 1, L, media * tokens_per_media], has_media [B, L, 1]) for ``media_index`` [B, L].

    Rows of tokens without media allow every key, so softmax stays finite; their
    output is multiplied by ``has_media`` (0) instead, which also stops their gradient.
    """
    owner = torch.arange(media, device=media_index.device).repeat_interleave(tokens_per_media)
    has_media = (media_index >= 0) & (media_index < media)
    mask = (owner.view(1, 1, -1) == media_index.unsqueeze(-1)) | ~has_media.unsqueeze(-1)
    return mask.unsqueeze(1), has_media.unsqueeze(-1)


class GatedCrossAttentionBlock(nn.Module):
    """Masked cross-attention to visual tokens, then a feed-forward block, both tanh-gated."""

    def __init__(self, dim: int, media_dim: int, heads: int = 8, dim_head: int = 64, ff_mult: int = 4) -> None:
        super().__init__()
        self.attention = Attention(dim, media_dim, heads, dim_head)
        self.attention_gate = nn.Parameter(torch.zeros(1))
        self.feed_forward = FeedForward(dim, ff_mult)
        self.feed_forward_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, media: torch.Tensor, media_index: torch.Tensor) -> torch.Tensor:
        """``x`` [B, L, dim]; ``media`` [B, N, R, media_dim] visual tokens; ``media_index`` [B, L]."""
        batch, count, tokens, _ = media.shape
        mask, has_media = media_mask(media_index, count, tokens)
        attended = self.attention(x, media.reshape(batch, count * tokens, -1).to(x.dtype), mask) * has_media.to(x.dtype)
        x = x + self.attention_gate.tanh() * attended
        return x + self.feed_forward_gate.tanh() * self.feed_forward(x)
