"""The Flamingo end of ``flamboyance demo``: a short training run and a few-shot answer, on a CPU in about a minute.

The demo's shards come from a generated site whose captions name the shape and colour
in each drawing. A tiny LM is first taught the site's language (text only, standing in
for a pretrained LM), then frozen; Flamingo's new parts train on the interleaved and
pair shards with the paper's weights, and the model answers a query image few-shot.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flamboyance.shards import storage
from flamboyance.shards.synthetic import SHAPES


def run_demo_flamingo(
    interleaved_dir: str, pairs_dir: str, encoder: str | None, workdir: str, steps: int = 40, pairs_weight: float = 0.2
) -> dict[str, Any]:
    """Train briefly on the demo shards and print a few-shot answer; returns what happened.

    ``encoder`` is an open_clip ``MODEL:CHECKPOINT`` (e.g. pretrain_encoder's output), or
    None for a tiny randomly initialised ViT.
    """
    import torch

    from flamboyance.flamingo_model.config import DatasetConfig, TrainConfig
    from flamboyance.flamingo_model.data import dataset_loader
    from flamboyance.flamingo_model.fewshot import FewShotEvaluator, pair_examples
    from flamboyance.flamingo_model.model import build_flamingo
    from flamboyance.flamingo_model.tiny import pretrain_tiny_lm, tiny_flamingo_config, tiny_lm, tiny_tokenizer, tiny_vit
    from flamboyance.flamingo_model.tokens import render
    from flamboyance.flamingo_model.train import TrainDataset, train
    from flamboyance.flamingo_model.vision import load_encoder
    from flamboyance.pretrain_encoder.checkpoint import CheckpointConfig
    from flamboyance.shards.inspect import iter_documents
    from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig
    from flamboyance.shards.manifest import shard_paths

    started = time.monotonic()
    torch.manual_seed(0)
    texts = [render(document) for document in iter_documents(shard_paths(interleaved_dir))]
    tokenizer = tiny_tokenizer(texts, vocab_size=600)
    lm = tiny_lm("gpt2", len(tokenizer), width=96)
    captions = [f"{example.answer}<EOC>" for example in pair_examples(shard_paths(pairs_dir), lambda payload: None)]
    pretrain_tiny_lm(lm, tokenizer, [text[:400] for text in texts] + captions, steps=80)
    vision = load_encoder(encoder) if encoder else tiny_vit()
    preprocess = getattr(vision, "preprocess_cfg", None)
    transform = ImageTransform(
        ImageTransformConfig.from_preprocess_cfg(preprocess) if preprocess else ImageTransformConfig(size=32)
    )
    model = build_flamingo(lm, vision, tokenizer, tiny_flamingo_config())

    interleaved = DatasetConfig(
        "interleaved", [storage.join(interleaved_dir, "*.tar")], batch_size=4, max_tokens=64, max_images=3, num_workers=0
    )
    pairs = DatasetConfig(
        "pairs",
        [storage.join(pairs_dir, "*.tar")],
        kind="pairs",
        weight=pairs_weight,
        batch_size=4,
        max_tokens=24,
        max_images=1,
        num_workers=0,
    )
    config = TrainConfig(
        steps=steps,
        lr=3e-3,
        warmup_steps=5,
        output=os.path.join(workdir, "flamingo"),
        checkpoint=CheckpointConfig(every=steps),
        datasets=[interleaved, pairs],
    )
    datasets = [
        TrainDataset(d.name, d.weight, dataset_loader(d, tokenizer, transform, config.seed, rank=0, world_size=1))
        for d in config.datasets
    ]
    history = train(model, datasets, config)
    model.eval()

    examples = pair_examples(shard_paths(pairs_dir), transform, limit=48)
    support, queries = examples[:16], examples[16:]
    evaluator = FewShotEvaluator(model, tokenizer, support, shots=2, caption_prefix="")  # pairs train on bare captions
    answer = evaluator.answer(queries[0], max_new_tokens=12)
    # Close-ended: does the image decide the shape? Each query's candidates are its own
    # caption with the shape word swapped for each of the four shapes (chance 25%).
    shaped = [query for query in queries if _shape_variants(query.answer)]
    accuracy = sum(evaluator.classify(q, _shape_variants(q.answer)) == q.answer for q in shaped) / max(1, len(shaped))
    losses = history[-1]["losses"] if history else {}  # empty when an earlier run had finished
    print(f"flamingo: {len(history)} steps run now, last losses {losses}")
    print(f"flamingo few-shot answer: {answer!r} (truth: {queries[0].answer!r})")
    print(f"flamingo few-shot shape accuracy on {len(shaped)} held-out drawings: {accuracy:.0%} (chance 25%)")
    return {
        "steps": len(history),
        "losses": losses,
        "answer": answer,
        "truth": queries[0].answer,
        "accuracy": accuracy,
        "chance": 1 / len(SHAPES),
        "seconds": time.monotonic() - started,
    }


def _shape_variants(caption: str) -> list[str]:
    """The caption with its shape word replaced by each shape in turn (itself included);
    empty for a caption that names no shape."""
    words = caption.split()
    where = next((i for i, word in enumerate(words) if word.strip(".,") in SHAPES), None)
    if where is None:
        return []
    tail = words[where][len(words[where].strip(".,")) :]
    return [" ".join([*words[:where], shape + tail, *words[where + 1 :]]) for shape in SHAPES]
