"""Image-sentence similarities for MMC4's ``similarity_matrix``, from an open_clip encoder.

MMC4 places each image at a sentence by CLIP similarity, and OpenFlamingo reads only
the matrix: each image goes before the sentence its row ranks highest, and images whose
best similarity is under ``--mmc4_textsim_threshold`` are skipped. ``clip_similarity``
computes that matrix with any model open_clip loads from a folder without downloading
(``pretrain_encoder``'s export, ``open_clip.create_model("local-dir:FOLDER")``): the
cosine similarity of the normalised image and text embeddings, as MMC4 computed it with
ViT-L/14.
"""

from __future__ import annotations

import io
from collections.abc import Callable

# (image bytes of a document, its sentences) -> one row of similarities per image.
Similarity = Callable[[list[bytes], list[str]], list[list[float]]]


def clip_similarity(folder: str) -> Similarity:
    """The cosine image-sentence similarity of the open_clip model exported in local ``folder``."""
    import open_clip
    import torch
    from PIL import Image

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    model.eval()

    @torch.no_grad()
    def similarity(images: list[bytes], sentences: list[str]) -> list[list[float]]:
        if not images or not sentences:
            return [[] for _ in images]
        pixels = torch.stack([preprocess(Image.open(io.BytesIO(payload)).convert("RGB")) for payload in images])
        image_features = torch.nn.functional.normalize(model.encode_image(pixels), dim=-1)
        text_features = torch.nn.functional.normalize(model.encode_text(tokenizer(sentences)), dim=-1)
        return (image_features @ text_features.T).tolist()

    return similarity
