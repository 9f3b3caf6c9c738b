"""The trained image tower as the Flamingo stage uses it: exported, reloaded, and read as spatial features.

Flamingo's Perceiver Resampler attends over *spatial* features, not the pooled
embedding the contrastive loss was trained on. ``spatial_features`` returns them as
[B, N_tokens, D] from the tower's last block, for every tower type open_clip builds:

* ViT (``VisionTransformer``): the patch tokens after the last transformer block and the
  final LayerNorm, before pooling (class token left out): N = (image_size / patch)^2.
* ResNet (``ModifiedResNet``): the last stage's feature map, before the attention pool.
* timm towers (e.g. NFNet): the trunk's final feature map, before global average pooling.

All three expose ``forward_intermediates`` in open_clip; the map [B, D, H, W] is
flattened to [B, H*W, D]. The export folder holds ``image_tower.pt`` (the tower's
state dict) and ``image_tower.json`` (the open_clip vision config, the embedding size,
the preprocessing the tower expects and the feature shape).
"""

from __future__ import annotations

from typing import Any

import torch
from open_clip.model import _build_vision_tower, set_model_preprocess_cfg

from flamboyance.shards import storage

FORMAT = "flamboyance.image_tower/1"
WEIGHTS = "image_tower.pt"
CONFIG = "image_tower.json"


def spatial_features(tower: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """[B, N_tokens, D] spatial features of a batch of preprocessed images [B, 3, H, W]."""
    out = tower.forward_intermediates(images, indices=1, intermediates_only=True, normalize_intermediates=True)
    feature_map = out["image_intermediates"][-1]
    if feature_map.ndim == 3:
        return feature_map
    return feature_map.flatten(2).transpose(1, 2)


def export_image_tower(model: torch.nn.Module, model_config: dict[str, Any], folder: str, name: str = "") -> dict[str, Any]:
    """Write the image tower's weights and config into ``folder``; returns the config."""
    tower = model.visual
    size = tower.preprocess_cfg["size"]
    height, width = (size, size) if isinstance(size, int) else size
    was_training = tower.training
    tower.eval()
    with torch.no_grad():
        probe = spatial_features(tower, torch.zeros(1, 3, height, width, device=next(tower.parameters()).device))
    tower.train(was_training)
    config = {
        "format": FORMAT,
        "model": name,
        "embed_dim": model_config["embed_dim"],
        "vision_cfg": model_config["vision_cfg"],
        "preprocess_cfg": dict(tower.preprocess_cfg),
        "spatial_tokens": probe.shape[1],
        "spatial_dim": probe.shape[2],
    }
    storage.makedirs(folder)
    with storage.atomic_writer(storage.join(folder, WEIGHTS)) as stream:
        torch.save({k: v.detach().cpu() for k, v in tower.state_dict().items()}, stream)
    storage.write_json(storage.join(folder, CONFIG), config)
    return config


def load_image_tower(path: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The exported tower (eval mode, on CPU) and its config, from an export folder."""
    config = storage.read_json(storage.join(path, CONFIG))
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: not an image tower export (format {config.get('format')!r}, expected {FORMAT!r})")
    vision = dict(config["vision_cfg"], timm_model_pretrained=False)
    tower = _build_vision_tower(config["embed_dim"], vision)
    with storage.open_input(storage.join(path, WEIGHTS)) as stream:
        tower.load_state_dict(torch.load(stream, map_location="cpu", weights_only=True))
    preprocess = dict(config["preprocess_cfg"])
    set_model_preprocess_cfg(tower, preprocess)
    return tower.eval(), config
