"""Loading the pretrained parts a Flamingo run starts from, offline: LM, tokenizer, encoder, image transform."""

from __future__ import annotations

from typing import Any

from flamboyance.flamingo_model.config import TrainConfig
from flamboyance.flamingo_model.model import Flamingo, build_flamingo
from flamboyance.flamingo_model.vision import load_encoder
from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig


def load_parts(config: TrainConfig) -> tuple[Flamingo, Any, ImageTransform]:
    """(model, tokenizer, image transform) for ``config``: a local HF LM folder and an open_clip encoder.

    The transform follows the encoder's own ``preprocess_cfg`` when it has one, so the
    frozen encoder sees inputs normalised as in its training.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not config.lm or not config.encoder:
        raise ValueError(
            "set both `lm` (a local Hugging Face model folder) and `encoder` (an image tower export folder or OPEN_CLIP_MODEL:CHECKPOINT)"
        )
    lm = AutoModelForCausalLM.from_pretrained(config.lm, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(config.lm, local_files_only=True)
    encoder = load_encoder(config.encoder)
    preprocess = getattr(encoder, "preprocess_cfg", None)
    transform = (
        ImageTransformConfig.from_preprocess_cfg(preprocess) if preprocess else ImageTransformConfig(size=config.image_size)
    )
    return build_flamingo(lm, encoder, tokenizer, config.model), tokenizer, ImageTransform(transform)
