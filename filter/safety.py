"""A pluggable safety step: drop images that a classifier finds unsafe (nudity, gore).

``SafetyClassifier`` is the filter step (it takes pixels, so it runs on fetched images);
what it asks is any callable from a PIL image to a confidence in [0, 1] that the image is
unsafe. ``PromptScorer`` is one such callable, after LAION's CLIP-based NSFW detection
idea: embed the image with a CLIP model, compare it with text embeddings of unsafe and of
safe concepts, and take the softmax mass that falls on the unsafe ones. No weights are
shipped: the user names an open_clip model config and gives its checkpoint (loaded with
``weights_only``, never unpickled), or passes a model or a scorer of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from flamboyance.filter.base import Filter, Verdict, threshold

if TYPE_CHECKING:  # torch is imported where a scorer is built, so builds without one never load it
    import torch

UNSAFE_PROMPTS = (
    "a photo containing nudity",
    "a sexually explicit photo",
    "a pornographic image",
    "a photo of graphic violence",
    "a photo of gore and blood",
)
SAFE_PROMPTS = (
    "a photo",
    "an ordinary photo that is safe for work",
    "a photo of people wearing clothes",
    "a drawing or an illustration",
    "a photo of a landscape, an object or an animal",
)

Scorer = Callable[[Image.Image], float]


class PromptScorer:
    """Zero-shot unsafe confidence: softmax over similarities to concept embeddings.

    ``unsafe`` and ``safe`` are (N, D) embeddings of concepts, usually of text prompts
    (``from_model``), in the image tower's space. The confidence is the probability that
    the softmax of ``logit_scale`` times the cosine similarities puts on unsafe concepts.
    """

    def __init__(self, encode_image: Callable[[torch.Tensor], torch.Tensor],
                 preprocess: Callable[[Image.Image], torch.Tensor],
                 unsafe: torch.Tensor, safe: torch.Tensor, logit_scale: float = 100.0) -> None:
        if unsafe.ndim != 2 or safe.ndim != 2 or unsafe.shape[1] != safe.shape[1] or not len(unsafe) or not len(safe):
            raise ValueError(f"concept embeddings must be two non-empty (N, D) tensors; got {tuple(unsafe.shape)} and {tuple(safe.shape)}")
        import torch

        self.encode_image, self.preprocess = encode_image, preprocess
        self.concepts = torch.nn.functional.normalize(torch.cat([unsafe, safe]).float(), dim=-1)
        self.unsafe_count = len(unsafe)
        self.logit_scale = logit_scale

    def __call__(self, image: Image.Image) -> float:
        import torch

        with torch.no_grad():
            pixels = self.preprocess(image.convert("RGB")).unsqueeze(0)
            return float(self.probabilities(self.encode_image(pixels))[0, : self.unsafe_count].sum())

    def probabilities(self, image_embeddings: torch.Tensor) -> torch.Tensor:
        """[B, unsafe + safe concepts]: the softmax over concepts for each image embedding
        (for callers that embed images in batches themselves, e.g. a server)."""
        import torch

        embeddings = torch.nn.functional.normalize(image_embeddings.float(), dim=-1)
        return (self.logit_scale * embeddings @ self.concepts.to(embeddings.device).T).softmax(dim=-1)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Callable[[list[str]], torch.Tensor],
                   unsafe_prompts: Sequence[str] = UNSAFE_PROMPTS, safe_prompts: Sequence[str] = SAFE_PROMPTS,
                   preprocess: Callable[[Image.Image], torch.Tensor] | None = None) -> PromptScorer:
        """A scorer from an open_clip model (``encode_image``/``encode_text``) and its tokenizer.

        ``preprocess`` defaults to open_clip's evaluation transform for the model's
        preprocessing config (size, mean, std). The model's own ``logit_scale`` is used.
        """
        import torch
        from open_clip.transform import PreprocessCfg, image_transform_v2

        model.eval()
        if preprocess is None:
            preprocess = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
        with torch.no_grad():
            unsafe = model.encode_text(tokenizer(list(unsafe_prompts)))
            safe = model.encode_text(tokenizer(list(safe_prompts)))
        return cls(model.encode_image, preprocess, unsafe, safe, float(model.logit_scale.detach().exp()))

    @classmethod
    def from_open_clip(cls, model: str, checkpoint: str | None = None,
                       unsafe_prompts: Sequence[str] = UNSAFE_PROMPTS,
                       safe_prompts: Sequence[str] = SAFE_PROMPTS) -> PromptScorer:
        """A scorer built by open_clip's own factory: ``model`` is a name in its registry
        (``ViT-B-32``) or the path of a model config JSON (e.g. one of
        ``pretrain_encoder/model_configs``), ``checkpoint`` a file of its weights.

        open_clip loads the checkpoint with ``weights_only=True``, so a hostile file cannot
        run code; its tokenizer and evaluation transform come from the same config.
        """
        import open_clip

        name = model
        if model.endswith(".json"):
            open_clip.add_model_config(model)
            name = model.rsplit("/", 1)[-1].removesuffix(".json")
        network, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=checkpoint)
        return cls.from_model(network, open_clip.get_tokenizer(name), unsafe_prompts, safe_prompts, preprocess)


class SafetyClassifier(Filter):
    """Drop images whose unsafe confidence is above ``max_confidence``.

    Give ``scorer`` (any callable image -> confidence in [0, 1]), or ``model`` (an
    open_clip config name or config JSON path) with ``checkpoint`` for a ``PromptScorer``. A YAML config can
    therefore say ``{step: safety, model: ViT-B-32, checkpoint: /models/clip.pt}``.
    """

    name = "safety"
    takes = "pixels"

    def __init__(self, scorer: Scorer | None = None, max_confidence: float = 0.5, model: str | None = None,
                 checkpoint: str | None = None, unsafe_prompts: Sequence[str] = UNSAFE_PROMPTS,
                 safe_prompts: Sequence[str] = SAFE_PROMPTS, **options: Any) -> None:
        super().__init__(**options)
        if scorer is None:
            if model is None:
                raise ValueError("the safety step needs a scorer, or an open_clip model (and its checkpoint)")
            scorer = PromptScorer.from_open_clip(model, checkpoint, unsafe_prompts, safe_prompts)
        self.scorer, self.max_confidence = scorer, max_confidence

    def check(self, image: Image.Image | np.ndarray) -> Verdict:
        if isinstance(image, np.ndarray):
            image = Image.fromarray(np.ascontiguousarray(image))
        return threshold("unsafe_confidence", self.scorer(image), high=self.max_confidence)
