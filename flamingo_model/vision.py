"""The frozen vision encoder as Flamingo sees it: images in, a grid of spatial features out.

Flamingo conditions on the encoder's feature map, not its pooled embedding: the
resampler needs the spatial detail. ``VisionFeatures`` wraps any module that maps
[B, C, H, W] to [B, V, D] features (for example pretrain_encoder's exported tower), or
an open_clip ``VisionTransformer``, whose token sequence before pooling it asks for
with ``output_tokens=True``. Its weights are frozen and it always runs in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn


class VisionFeatures(nn.Module):
    """Frozen encoder: images [B, N, T, C, H, W] -> features [B, N, T, V, D]."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        if hasattr(encoder, "output_tokens"):  # open_clip VisionTransformer: keep the patch tokens
            encoder.output_tokens = True
        self.encoder = encoder.eval().requires_grad_(False)
        self.dim = self._probe_dim()

    def train(self, mode: bool = True) -> "VisionFeatures":
        return super().train(False)

    def _probe_dim(self) -> int:
        size = getattr(self.encoder, "image_size", 224)
        side = size[0] if isinstance(size, (tuple, list)) else int(size)
        parameter = next(self.encoder.parameters())
        with torch.no_grad():
            probe = torch.zeros(1, 3, side, side, device=parameter.device, dtype=parameter.dtype)
            return int(self.grid(probe).shape[-1])

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] -> [B, V, D] spatial features."""
        out = self.encoder(images)
        if isinstance(out, (tuple, list)):  # (pooled, tokens) from open_clip
            out = out[-1]
        if out.dim() == 4:  # a convolutional map [B, D, h, w]
            out = out.flatten(2).transpose(1, 2)
        if out.dim() != 3:
            raise ValueError(f"the vision encoder must return [B, V, D] features, got shape {tuple(out.shape)}")
        return out

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch, media, frames = images.shape[:3]
        features = self.grid(images.flatten(0, 2))
        return features.view(batch, media, frames, *features.shape[1:])

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """One unit vector per image [B, C, H, W] -> [B, D]: the mean of its features (for RICES)."""
        return nn.functional.normalize(self.grid(images).float().mean(dim=1), dim=-1)


def load_encoder(spec: str) -> nn.Module:
    """The image tower of an open_clip model from ``MODEL:CHECKPOINT``, offline.

    ``MODEL`` is an open_clip model name or the path of an open_clip model-config JSON
    (as pretrain_encoder writes next to its checkpoints); ``CHECKPOINT`` a local or
    remote ``.pt`` file holding the model's ``state_dict`` (optionally under
    ``"state_dict"``, with or without DDP's ``module.`` prefix). Weights are read with
    ``weights_only=True``: nothing is unpickled.
    """
    import io
    import os

    import open_clip

    from shards import storage

    name, sep, checkpoint = spec.rpartition(":") if spec.count(":") > 1 else spec.partition(":")
    if not sep or not name or not checkpoint:
        raise ValueError(f"encoder {spec!r} is not of the form OPEN_CLIP_MODEL:CHECKPOINT_PATH")
    if name.endswith(".json"):
        open_clip.add_model_config(name)
        name = os.path.splitext(os.path.basename(name))[0]
    model = open_clip.create_model(name, pretrained=None)
    with storage.open_input(checkpoint) as stream:
        state = torch.load(io.BytesIO(stream.read()), map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.get("state_dict", state).items()}
    model.load_state_dict(state)
    return model.visual
