"""Evaluation during training: zero-shot classification and image<->text retrieval.

Zero-shot follows CLIP: each class name is put into prompt templates, the normalised
text embeddings of a class are averaged into one classifier row, and an image is given
the class whose row is most similar. It is reported with the single template
``a photo of a {c}.`` and with the ensemble below. Retrieval ranks all held-out captions
for every image (and all images for every caption); Recall@K is the share of queries
whose own partner is among the top K.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from flamboyance.pretrain_encoder.data import ImageTensors
from flamboyance.pretrain_encoder.tokenizer import Tokenize

SINGLE_TEMPLATE = ("a photo of a {c}.",)
ENSEMBLE_TEMPLATES = (
    "a photo of a {c}.",
    "a picture of a {c}.",
    "a drawing of a {c}.",
    "a {c}.",
    "an image showing a {c}.",
    "a photo of the {c}.",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def image_folder(root: str) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names (sorted sub-folder names) and (image path, class index) pairs of an ImageFolder tree."""
    classes = sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
    items = [
        (os.path.join(root, name, file), index)
        for index, name in enumerate(classes)
        for file in sorted(os.listdir(os.path.join(root, name)))
        if file.lower().endswith(IMAGE_SUFFIXES)
    ]
    if not items:
        raise ValueError(f"no images under {root} (expected root/CLASS/*.jpg)")
    return classes, items


@torch.no_grad()
def _embed(encode: Callable[[torch.Tensor], torch.Tensor], inputs: list[torch.Tensor], batch_size: int, device: torch.device) -> torch.Tensor:
    parts = [encode(torch.stack(inputs[i : i + batch_size]).to(device)).float() for i in range(0, len(inputs), batch_size)]
    return F.normalize(torch.cat(parts), dim=-1)


@torch.no_grad()
def class_embeddings(model: torch.nn.Module, tokenize: Tokenize, classes: list[str], templates: tuple[str, ...], device: torch.device) -> torch.Tensor:
    """[C, D]: per class, the normalised mean of its normalised prompt embeddings."""
    rows = []
    for name in classes:
        texts = tokenize([template.format(c=name) for template in templates]).to(device)
        rows.append(F.normalize(model.encode_text(texts, normalize=True).float().mean(0), dim=-1))
    return torch.stack(rows)


@torch.no_grad()
def zero_shot(
    model: torch.nn.Module, tokenize: Tokenize, images: ImageTensors, root: str, device: torch.device, batch_size: int = 128
) -> dict[str, float]:
    """Top-1 accuracy on an ImageFolder tree, with the single template and the ensemble, plus chance level."""
    classes, items = image_folder(root)
    pixels = [images(Path(path).read_bytes()) for path, _ in items]
    features = _embed(model.encode_image, pixels, batch_size, device)
    labels = torch.tensor([label for _, label in items], device=device)
    results = {"zero_shot/classes": float(len(classes)), "zero_shot/chance": 1.0 / len(classes)}
    for name, templates in (("single", SINGLE_TEMPLATE), ("ensemble", ENSEMBLE_TEMPLATES)):
        classifier = class_embeddings(model, tokenize, classes, templates, device)
        predictions = (features @ classifier.T).argmax(dim=1)
        results[f"zero_shot/top1_{name}"] = (predictions == labels).float().mean().item()
    return results


@torch.no_grad()
def retrieval(
    model: torch.nn.Module,
    tokenize: Tokenize,
    images: ImageTensors,
    pairs: list[tuple[bytes, str]],
    device: torch.device,
    batch_size: int = 128,
    ks: tuple[int, ...] = (1, 5, 10),
) -> dict[str, float]:
    """Image-to-text and text-to-image Recall@K over held-out pairs (chance is K / len(pairs))."""
    image_features = _embed(model.encode_image, [images(payload) for payload, _ in pairs], batch_size, device)
    tokens = list(tokenize([caption for _, caption in pairs]))
    text_features = _embed(model.encode_text, tokens, batch_size, device)
    similarity = image_features @ text_features.T
    truth = torch.arange(len(pairs), device=device)
    results = {"retrieval/pairs": float(len(pairs))}
    for direction, scores in (("image_to_text", similarity), ("text_to_image", similarity.T)):
        # Rank of the true partner: how many candidates score strictly higher.
        rank = (scores > scores[truth, truth].unsqueeze(1)).sum(dim=1)
        for k in ks:
            results[f"retrieval/{direction}_R@{k}"] = (rank < k).float().mean().item()
    return results
