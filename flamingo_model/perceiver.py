"""The Perceiver Resampler: any number of visual features in, a fixed number of visual tokens out.

A frozen encoder gives a grid of features per frame (hundreds for a ViT); the LM's
cross-attention would pay for each of them at every text token. The resampler lets a
small set of learned latents (64 in Flamingo) attend to the features of all frames of
one media item, so every image or video costs the LM the same few tokens. As in the
paper, keys and values are the features concatenated with the latents themselves, and
each frame gets a learned time embedding before its features are flattened together.
"""

from __future__ import annotations

import torch
from torch import nn

from flamboyance.flamingo_model.layers import Attention, FeedForward


class PerceiverResampler(nn.Module):
    """[B, N, T, V, D] features of N media items of T frames -> [B, N, num_latents, D]."""

    def __init__(
        self,
        dim: int,
        depth: int = 6,
        num_latents: int = 64,
        heads: int = 8,
        dim_head: int = 64,
        max_frames: int = 8,
        ff_mult: int = 4,
    ) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.time_embeddings = nn.Parameter(torch.zeros(max_frames, dim))
        self.context_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, dim, heads, dim_head), FeedForward(dim, ff_mult)]) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, media, frames, tokens, dim = features.shape
        if frames > self.time_embeddings.shape[0]:
            raise ValueError(
                f"{frames} frames per media item, the resampler has time embeddings for {self.time_embeddings.shape[0]}"
            )
        features = features + self.time_embeddings[:frames].view(1, 1, frames, 1, dim)
        features = features.reshape(batch * media, frames * tokens, dim)
        latents = self.latents.expand(batch * media, -1, -1)
        for attention, feed_forward in self.layers:
            context = torch.cat([self.context_norm(features), attention.norm(latents)], dim=1)
            latents = latents + attention(latents, context)
            latents = latents + feed_forward(latents)
        return self.norm(latents).view(batch, media, -1, dim)
