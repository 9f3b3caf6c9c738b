"""Image bytes to the tensor an image encoder expects, configured like the encoder.

The normalisation must be the one the vision encoder was trained with, or a frozen
encoder sees inputs off its training distribution; the default is CLIP's, and
``ImageTransformConfig.from_preprocess_cfg`` takes an open_clip model's
``visual.preprocess_cfg`` so the two cannot drift apart. Resize modes follow open_clip's
names: ``shortest`` (shorter side to size, centre crop), ``longest`` (longer side to
size, pad with ``fill_color``) and ``squash`` (stretch).

Decoding is the dominant cost of a loader, so JPEGs are decoded with PIL's draft mode
at the smallest scale (1/2, 1/4, 1/8) that is still at least the target size.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from PIL import Image

from flamboyance.shards.loader.reader import DropSample

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RESIZE_MODES = ("shortest", "longest", "squash")
_INTERPOLATION = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


@dataclass
class ImageTransformConfig:
    """Resolution and normalisation of encoder inputs (defaults: CLIP ViT at 224 px)."""

    size: int = 224
    mean: tuple[float, ...] = CLIP_MEAN
    std: tuple[float, ...] = CLIP_STD
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0
    # Decompression-bomb guard, checked from the header before decoding (Pillow's default).
    max_pixels: int = 89_478_485

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, not {self.resize_mode!r}")
        if self.interpolation not in _INTERPOLATION:
            raise ValueError(f"interpolation must be one of {sorted(_INTERPOLATION)}, not {self.interpolation!r}")

    @classmethod
    def from_preprocess_cfg(cls, cfg: dict[str, Any]) -> ImageTransformConfig:
        """The config matching an open_clip model: ``model.visual.preprocess_cfg``."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in cfg.items() if k in known}
        size = values.get("size", cls.size)
        if isinstance(size, (tuple, list)):
            if len(set(size)) != 1:
                raise ValueError(f"only square inputs are supported, not {size}")
            values["size"] = size[0]
        return cls(**values)


class ImageTransform:
    """Callable: encoded image bytes -> float tensor [3, size, size], normalised."""

    def __init__(self, config: ImageTransformConfig | None = None) -> None:
        self.config = config or ImageTransformConfig()
        # (x / 255 - mean) / std as one multiply and one subtract.
        std = torch.tensor(self.config.std, dtype=torch.float32).view(3, 1, 1)
        self._scale = 1 / (255 * std)
        self._shift = torch.tensor(self.config.mean, dtype=torch.float32).view(3, 1, 1) / std

    def __call__(self, payload: bytes) -> torch.Tensor:
        image = self.decode(payload)
        tensor = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float()
        return tensor.mul_(self._scale).sub_(self._shift)

    def decode(self, payload: bytes) -> Image.Image:
        """The image resized and cropped to ``size`` x ``size`` RGB.

        Raises DropSample for bombs and for the non-OSError ways Pillow reports broken
        files; OSError (unidentified or truncated images) is left to the loader to count.
        """
        config, size = self.config, self.config.size
        try:
            image = Image.open(io.BytesIO(payload))
            if image.width * image.height > config.max_pixels:
                raise DropSample("decompression_bomb")
            image.draft("RGB", self._fitted(image.width, image.height))
            image = image.convert("RGB")
        except Image.DecompressionBombError:
            raise DropSample("decompression_bomb") from None
        except (SyntaxError, EOFError):
            raise DropSample("broken_image") from None
        width, height = self._fitted(image.width, image.height)
        image = image.resize((width, height), _INTERPOLATION[config.interpolation])
        if config.resize_mode == "squash":
            return image
        if config.resize_mode == "shortest":
            left, top = (width - size) // 2, (height - size) // 2
            return image.crop((left, top, left + size, top + size))
        canvas = Image.new("RGB", (size, size), (config.fill_color,) * 3)
        canvas.paste(image, ((size - width) // 2, (size - height) // 2))
        return canvas

    def _fitted(self, width: int, height: int) -> tuple[int, int]:
        """The size an image of ``width`` x ``height`` is resized to before cropping or padding."""
        size = self.config.size
        if self.config.resize_mode == "squash":
            return size, size
        scale = (min if self.config.resize_mode == "shortest" else max)(width, height) / size
        return max(1, round(width / scale)), max(1, round(height / scale))
