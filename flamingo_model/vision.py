"""The frozen vision encoder as Flamingo sees it: images in, a grid of spatial features out.

Flamingo conditions on the encoder's feature map, not its pooled embedding: the
resampler needs the spatial detail. ``VisionFeatures`` wraps an open_clip image tower
(ViT, ResNet or timm; read through ``pretrain_encoder.image_tower.spatial_features``,
the one place that knows how to get each type's map before pooling) or any other
module mapping [B, C, H, W] to [B, V, D] features or a [B, D, h, w] map. Its weights
are frozen and it always runs in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn


class VisionFeatures(nn.Module):
    """Frozen encoder: images [B, N, T, C, H, W] -> features [B, N, T, V, D]."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
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
        if hasattr(self.encoder, "forward_intermediates"):  # an open_clip tower
            from flamboyance.pretrain_encoder.image_tower import spatial_features

            return spatial_features(self.encoder, images)
        out = self.encoder(images)
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
    """A frozen-to-be image tower, offline, from either of two forms.

    * a folder written by ``pretrain_encoder.image_tower.export_image_tower``
      (``image_tower.json`` + ``image_tower.pt``): what our encoder pretraining produces;
    * ``MODEL:CHECKPOINT``: an open_clip model name or model-config JSON, and a ``.pt``
      file holding the whole model's ``state_dict`` (optionally under ``"state_dict"``),
      e.g. a checkpoint of open_clip's own trainer.

    Weights are read with ``weights_only=True``: nothing is unpickled.
    """
    import io
    import os

    import open_clip

    from flamboyance.pretrain_encoder.image_tower import CONFIG, load_image_tower
    from flamboyance.shards import storage

    if storage.exists(storage.join(spec, CONFIG)):
        return load_image_tower(spec)[0]
    name, sep, checkpoint = spec.rpartition(":") if spec.count(":") > 1 else spec.partition(":")
    if not sep or not name or not checkpoint:
        raise ValueError(f"encoder {spec!r} is neither an image tower export folder nor OPEN_CLIP_MODEL:CHECKPOINT")
    if name.endswith(".json"):
        open_clip.add_model_config(name)
        name = os.path.splitext(os.path.basename(name))[0]
    model = open_clip.create_model(name, pretrained=None)
    with storage.open_input(checkpoint) as stream:
        state = torch.load(io.BytesIO(stream.read()), map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.get("state_dict", state).items()}
    model.load_state_dict(state)
    return model.visual
