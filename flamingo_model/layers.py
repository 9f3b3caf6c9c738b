"""Attention and feed-forward blocks shared by the Perceiver Resampler and the cross-attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeedForward(nn.Sequential):
    """Pre-norm MLP with GELU, as in the Flamingo paper's dense blocks."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__(
            nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(), nn.Linear(dim * mult, dim, bias=False)
        )


class Attention(nn.Module):
    """Multi-head attention of ``x`` (queries) over ``context`` (keys and values), pre-normed.

    ``mask`` is boolean, broadcastable to [B, heads, Lq, Lk], True where a query may look.
    Every query row must allow at least one key (callers zero the rows that should see none).
    """

    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(context_dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, length, _ = x.shape
        q = self.to_q(self.norm(x))
        k, v = self.to_kv(context).chunk(2, dim=-1)
        q, k, v = (t.reshape(batch, t.shape[1], self.heads, -1).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.to_out(out.transpose(1, 2).reshape(batch, length, -1))
