"""The Flamingo end of ``flamboyance demo``: train on the built shards, then a few-shot test that shows learning.

The demo's site describes drawings of coloured shapes; its pair shards hold each drawing
with its caption (``A red star on a dotted background.``). A tiny LM is first taught the
site's language (text only, standing in for a pretrained LM) and frozen; Flamingo's new
parts train on the pair shards with the encoder of the previous step (the interleaved
shards are in the run's settings at weight 0: see ``demo_config``).

The test uses drawings the model has never seen, written as pair shards beside the
run: each query shows two captioned support drawings, then the query drawing, and the
model ranks the 24 captions that differ from the truth in colour or shape (chance 1/24).
Only the image tells them apart, so accuracy above chance is learning to look; the same
test with every image blanked is the control, and stays near chance. ``few_shot_line``
is the verdict the demo ends with.

Everything the run needs is saved under the work folder, so the README's ``train``,
``eval`` and ``serve`` commands work straight after the demo: ``lm/`` (the LM and its
tokenizer), ``flamingo.yaml`` (the run's settings), ``flamingo/`` (its checkpoints and
logs) and ``heldout/`` (the test's support and query shards).
"""

from __future__ import annotations

import os
import time
from typing import Any

import yaml

from flamboyance.flamingo_model.config import DatasetConfig, TrainConfig
from flamboyance.pretrain_encoder.checkpoint import CheckpointConfig
from flamboyance.pretrain_encoder.run_log import LogConfig
from flamboyance.shards import storage
from flamboyance.shards.config import to_dict
from flamboyance.shards.synthetic import Drawing

# Held-out drawings: support examples to draw the shots from, and the queries.
SUPPORT, QUERIES, SHOTS = 32, 96, 2


def run_demo_flamingo(
    interleaved_dir: str, pairs_dir: str, encoder: str, workdir: str, steps: int = 300, seed: int = 0
) -> dict[str, Any]:
    """Train on the demo's shards (resuming a finished run is a no-op), then run the few-shot test; returns what happened.

    ``encoder`` is an image tower exported by pretrain_encoder (or ``MODEL:CHECKPOINT``).
    """
    import torch

    from flamboyance.flamingo_model.data import training_datasets
    from flamboyance.flamingo_model.parts import load_parts
    from flamboyance.flamingo_model.train import train

    started = time.monotonic()
    torch.manual_seed(seed)
    lm = os.path.join(workdir, "lm")
    if not storage.exists(os.path.join(lm, "config.json")):
        pretrain_language_model(interleaved_dir, pairs_dir, lm, seed)
    config = demo_config(interleaved_dir, pairs_dir, encoder, lm, workdir, steps, seed)
    with open(os.path.join(workdir, "flamingo.yaml"), "w", encoding="utf-8") as stream:
        yaml.safe_dump(to_dict(config), stream, sort_keys=False)
    # The model is built from the saved files, as `flamboyance train --config flamingo.yaml` builds it.
    model, tokenizer, transform = load_parts(config)
    history = train(model, training_datasets(config, tokenizer, transform), config)
    if not history:
        print("flamingo: training had finished in an earlier run; loading its checkpoint")
    from flamboyance.flamingo_model.checkpoint import load_trained

    model.load_trainable_state_dict(load_trained(config.output))
    model.eval()
    result = few_shot_test(model, tokenizer, transform, os.path.join(workdir, "heldout"), seed)
    result.update(steps=len(history), losses=history[-1]["losses"] if history else {}, seconds=time.monotonic() - started)
    return result


def pretrain_language_model(interleaved_dir: str, pairs_dir: str, folder: str, seed: int) -> None:
    """Train a tokenizer and a tiny GPT-2 on the site's text (the stand-in for a pretrained LM); save both to ``folder``."""
    from flamboyance.flamingo_model.fewshot import pair_examples
    from flamboyance.flamingo_model.tiny import pretrain_tiny_lm, tiny_lm, tiny_tokenizer
    from flamboyance.flamingo_model.tokens import render
    from flamboyance.shards.inspect import iter_documents
    from flamboyance.shards.manifest import shard_paths

    texts = [render(document) for document in iter_documents(shard_paths(interleaved_dir))]
    captions = [f"{example.answer}<EOC>" for example in pair_examples(shard_paths(pairs_dir), lambda payload: None)]
    tokenizer = tiny_tokenizer(texts + captions, vocab_size=600)
    lm = tiny_lm("gpt2", len(tokenizer), width=96, context=256)
    losses = pretrain_tiny_lm(lm, tokenizer, [text[:400] for text in texts] + captions, steps=80, seed=seed, log_every=20)
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    print(f"language model: {sum(p.numel() for p in lm.parameters()) / 1e6:.1f}M parameters taught the site's text "
          f"(loss {losses[0]:.2f} -> {losses[-1]:.2f}), saved to {folder}", flush=True)


def demo_config(interleaved_dir: str, pairs_dir: str, encoder: str, lm: str, workdir: str, steps: int, seed: int) -> TrainConfig:
    """The demo's run: tiny Flamingo parts trained on the pair shards, every 10 steps logged.

    The interleaved shards are in the run at weight 0, ready to be switched on
    (``--set datasets.0.weight=1``): on a 40-page site their site prose outweighs the
    captions, and a 3-minute run then learns to write prose rather than to look (measured:
    few-shot accuracy at chance with the interleaved weight at 0.1 or more, 6-12x chance
    without). Text attends to the image before it (``attend_next_probability`` 0): the
    paper's 50% of next-image attention halves the signal a short run gets.
    """
    from flamboyance.flamingo_model.tiny import tiny_flamingo_config

    interleaved = DatasetConfig(
        "interleaved", [storage.join(interleaved_dir, "*.tar")], weight=0.0, batch_size=4, max_tokens=64, max_images=3,
        attend_next_probability=0.0, num_workers=0,
    )
    pairs = DatasetConfig(
        "pairs", [storage.join(pairs_dir, "*.tar")], kind="pairs", weight=1.0, batch_size=16, max_tokens=24, max_images=1,
        attend_next_probability=0.0, num_workers=0,
    )
    return TrainConfig(
        lm=lm,
        encoder=encoder,
        model=tiny_flamingo_config(),
        datasets=[interleaved, pairs],
        steps=steps,
        lr=3e-3,
        warmup_steps=10,
        precision="fp32",
        seed=seed,
        output=os.path.join(workdir, "flamingo"),
        checkpoint=CheckpointConfig(every=steps, keep=1),
        log=LogConfig(every=10),
    )


def few_shot_test(model: Any, tokenizer: Any, transform: Any, folder: str, seed: int) -> dict[str, Any]:
    """Accuracy on held-out drawings, with the images and with them blanked; prints both, the last line being the verdict."""
    from flamboyance.flamingo_model.fewshot import FewShotEvaluator, FewShotExample, pair_examples
    from flamboyance.shards.manifest import shard_paths
    from flamboyance.shards.synthetic import write_shape_pairs

    for name, count, offset in (("support", SUPPORT, 1000), ("queries", QUERIES, 2000)):
        if not storage.exists(os.path.join(folder, name, "manifest.json")):
            write_shape_pairs(os.path.join(folder, name), count, seed=seed + offset, size=320, varied=False)
    support = pair_examples(shard_paths(os.path.join(folder, "support")), transform)
    queries = pair_examples(shard_paths(os.path.join(folder, "queries")), transform)
    chance = 1 / len(Drawing.from_caption(queries[0].answer).alternatives())

    def accuracy(blank: bool) -> float:
        def shown(example: FewShotExample) -> FewShotExample:
            return FewShotExample(example.image.clone().zero_() if blank else example.image, example.answer)

        evaluator = FewShotEvaluator(model, tokenizer, [shown(e) for e in support], shots=SHOTS, seed=seed, caption_prefix="")
        right = sum(evaluator.classify(shown(q), Drawing.from_caption(q.answer).alternatives()) == q.answer for q in queries)
        return right / len(queries)

    control = accuracy(blank=True)
    print(f"control, every image blanked: accuracy {control:.2f} on {len(queries)} held-out queries (chance {chance:.2f})", flush=True)
    score = accuracy(blank=False)
    evaluator = FewShotEvaluator(model, tokenizer, support, shots=SHOTS, seed=seed, caption_prefix="")
    answer = evaluator.answer(queries[0], max_new_tokens=12)
    print(f"flamingo few-shot caption of a held-out drawing: {answer!r} (truth: {queries[0].answer!r})", flush=True)
    return {"accuracy": score, "control": control, "chance": chance, "queries": len(queries), "answer": answer, "truth": queries[0].answer}


def few_shot_line(result: dict[str, Any]) -> str:
    """The demo's verdict, its last line: ``few-shot: accuracy A on N held-out queries (chance C)``."""
    return f"few-shot: accuracy {result['accuracy']:.2f} on {result['queries']} held-out queries (chance {result['chance']:.2f})"
