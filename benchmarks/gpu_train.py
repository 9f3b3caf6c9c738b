"""Flamingo training speed on a GPU (tokens/s, MFU), and whether the loader keeps up with it.

Called by ``benchmarks/gpu.sh``. Two parts:

1. **Training.** Flamingo on a Llama-style LM of 1.1B parameters (TinyLlama's shape: width
   2048, 22 layers, 32 heads, 4 KV heads, vocabulary 32000) with an open_clip ViT-L/14
   vision encoder, both built from configs with random weights (nothing is downloaded),
   a GATED XATTN-DENSE block before every 4th layer and the paper's resampler. M3W-shaped
   batches: 256 tokens and 5 images of 224 px per sequence, made on the GPU so that only
   the model is timed. The batch size is the largest power of two whose step fits in
   the GPU's memory with room to spare. Training runs through ``flamingo_model.train.train``
   itself (bf16 autocast, frozen weights stored in bf16, fused AdamW), which logs
   tokens/s and MFU per step; the medians after the warm-up steps are printed.
2. **Loader.** The streaming loader makes Flamingo examples of the same shape (256 tokens,
   up to 5 images, 224 px) from shards of real documents and photos (the shards of
   ``benchmarks/loader.py``: article texts and Wikipedia JPEGs) with all spare cores as
   workers, and its examples/s is set against the examples/s training consumed in part 1.

``--tiny`` runs both parts at toy sizes on any device (the CPU smoke test uses it).

    python benchmarks/gpu_train.py [--tiny] [--device cuda] [--steps 8] [--compile] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from flamboyance.flamingo_model.config import DatasetConfig, FlamingoConfig, TrainConfig
from flamboyance.flamingo_model.model import Flamingo
from flamboyance.flamingo_model.train import TrainDataset, frozen_to, token_loss, train
from flamboyance.pretrain_encoder.checkpoint import CheckpointConfig
from flamboyance.pretrain_encoder.run_log import LogConfig

WARMUP = 3
M3W = DatasetConfig()  # 256 tokens, up to 5 images per sequence


def build(tiny: bool, device: torch.device) -> Flamingo:
    """The model, initialised on ``device`` directly (a 1B model initialises in seconds there, minutes on a CPU)."""
    import open_clip
    from transformers import LlamaConfig, LlamaForCausalLM

    from flamboyance.flamingo_model.tiny import tiny_flamingo_config, tiny_lm, tiny_vit

    with device:
        if tiny:
            lm, vision, config = tiny_lm("llama", 300), tiny_vit(image_size=32), tiny_flamingo_config()
        else:
            lm = LlamaForCausalLM(
                LlamaConfig(
                    vocab_size=32000,
                    hidden_size=2048,
                    intermediate_size=5632,
                    num_hidden_layers=22,
                    num_attention_heads=32,
                    num_key_value_heads=4,
                    max_position_embeddings=2048,
                    attn_implementation="sdpa",
                )
            )
            vision = open_clip.create_model("ViT-L-14", pretrained=None, device=device).visual
            config = FlamingoConfig(cross_attn_every=4)
        vocab = lm.get_input_embeddings().weight.shape[0]
        return Flamingo(lm, vision, image_id=vocab - 2, eoc_id=vocab - 1, config=config)


def make_batch(model: Flamingo, sequences: int, tokens: int, images: int, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """An M3W-shaped batch: an ``<image>`` every ``tokens // images`` tokens, every token a label."""
    vocab = model.lm.get_input_embeddings().weight.shape[0]
    ids = torch.randint(0, vocab - 2, (sequences, tokens), device=device)
    ids[:, :: tokens // images] = model.image_id
    return {
        "input_ids": ids,
        "labels": ids,
        "attention_mask": torch.ones_like(ids),
        "media_index": (ids == model.image_id).long().cumsum(-1) - 1,
        "images": torch.randn(sequences, images, 1, 3, size, size, device=device),
        "image_mask": torch.ones(sequences, images, dtype=torch.bool, device=device),
    }


def fits(model: Flamingo, batch: dict[str, torch.Tensor]) -> float | None:
    """Peak memory share of one bf16 training step on ``batch``, or None if it runs out of memory."""
    torch.cuda.reset_peak_memory_stats()
    try:
        with torch.autocast("cuda", torch.bfloat16):
            total, count = token_loss(model, batch)
        (total / count).backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / torch.cuda.get_device_properties(0).total_memory
    except torch.cuda.OutOfMemoryError:
        return None
    finally:
        model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()


def largest_batch(model: Flamingo, shape: dict[str, int], device: torch.device, start: int = 8, limit: float = 0.4) -> int:
    """Double the batch while a step uses under ``limit`` of memory (doubling then stays under ~85%, optimiser state aside)."""
    batch = start
    while True:
        share = fits(model, make_batch(model, batch, **shape, device=device))
        if share is None:
            if batch == start:
                raise RuntimeError(f"a batch of {start} does not fit on this GPU")
            return batch // 2
        print(f"  batch {batch}: {100 * share:.0f}% of GPU memory at peak", flush=True)
        if share > limit:
            return batch
        batch *= 2


def training(args: argparse.Namespace, device: torch.device) -> float:
    """Part 1; returns the examples per second training consumed."""
    model = build(args.tiny, device).train()
    lm = sum(p.numel() for p in model.lm.parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    vision = sum(p.numel() for p in model.vision.parameters())
    shape = {"tokens": args.tokens, "images": args.images, "size": args.size}
    print(f"Flamingo: frozen LM {lm / 1e6:.1f}M, vision {vision / 1e6:.1f}M, trainable {trainable / 1e6:.1f}M parameters")
    if device.type == "cuda":
        frozen_to(model, torch.bfloat16)  # as train() does: probe the memory it will use
        sequences = args.batch or largest_batch(model, shape, device)
    else:
        sequences = args.batch or 2
    batches = [make_batch(model, sequences, **shape, device=device) for _ in range(2)]
    config = TrainConfig(
        steps=WARMUP + args.steps,
        warmup_steps=1,
        precision="bf16",
        compile=args.compile,
        output=args.output,
        checkpoint=CheckpointConfig(every=0, resume="none"),
        log=LogConfig(every=1000, tensorboard=False),
    )
    history = train(model, [TrainDataset("m3w", 1.0, batches)], config, device)[WARMUP:]
    seconds = statistics.median(sequences * (args.tokens - 1) / record["tokens_per_s"] for record in history)
    precision = "bf16" if device.type == "cuda" else "fp32"
    print(
        f"batch {sequences} x {args.tokens} tokens x {args.images} images of {args.size} px, {precision}, {args.steps} steps timed"
        f"{', compiled' if args.compile else ''}"
    )
    print(f"training: {sequences * args.tokens / seconds:10.0f} tokens/s   {sequences / seconds:8.1f} examples/s   {seconds:.3f} s per step")
    if "mfu" in history[0]:
        print(f"MFU: {100 * statistics.median(record['mfu'] for record in history):.1f}% of the GPU's dense bf16 peak (target >= 40%)")
    else:
        print("MFU: no bf16 peak known for this device")
    return sequences / seconds


def loading(args: argparse.Namespace, consumed: float) -> None:
    """Part 2: the loader's examples/s on real shards against training's."""
    from loader import build_shards  # benchmarks/loader.py, next to this script

    from flamboyance.flamingo_model.examples import FlamingoExamples
    from flamboyance.flamingo_model.tokens import FlamingoTokenizer, TokenConfig, train_tokenizer
    from flamboyance.shards.loader.examples import collate
    from flamboyance.shards.loader.reader import LoaderConfig, ShardLoader
    from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig

    workers = args.workers or max(1, len(os.sched_getaffinity(0)) - 2)
    with tempfile.TemporaryDirectory() as folder:
        paths, texts = build_shards(Path(folder))
        tokens = FlamingoTokenizer(train_tokenizer(texts, vocab_size=8000), TokenConfig(args.tokens, args.images))
        examples = FlamingoExamples(tokens, ImageTransform(ImageTransformConfig(size=args.size)))
        config = LoaderConfig(
            batch_size=8,
            num_workers=workers,
            shuffle_buffer=64,
            resample=True,  # the 181 documents drawn again and again: a stream as long as asked
            epoch_samples=args.examples,
            pin_memory=torch.cuda.is_available(),
            prefetch_factor=M3W.prefetch_factor,
            multiprocessing_context="fork",
        )
        stream = iter(ShardLoader(paths, examples, collate, config))
        next(stream)  # the workers have started: time the steady state from here
        started, made = time.perf_counter(), 0
        for batch in stream:
            made += len(batch["input_ids"])
        rate = made / (time.perf_counter() - started)
    print(
        f"loader: {rate:10.1f} examples/s with {workers} workers ({made} examples of {args.tokens} tokens, "
        f"up to {args.images} images of {args.size} px, real shards)"
    )
    print(f"loader / training consumption: {rate / consumed:.2f}x (target >= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes (smoke test)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=8, help="timed steps after the warm-up")
    parser.add_argument("--batch", type=int, default=0, help="sequences per batch (0: the largest that fits)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="loader workers (0: all cores but two)")
    parser.add_argument("--examples", type=int, default=4000, help="examples the loader makes")
    args = parser.parse_args()
    args.tokens, args.images, args.size = (32, 2, 32) if args.tiny else (M3W.max_tokens, M3W.max_images, 224)
    device = torch.device(args.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as output:
        args.output = output
        consumed = training(args, device)
    loading(args, consumed)


if __name__ == "__main__":
    main()
