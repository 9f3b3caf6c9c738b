"""Training-step time of our Flamingo vs transformers' IDEFICS at a matched tiny size, on CPU.

Both models: a Llama-style LM of 4 layers, width 256, 4 heads, MLP 1024, frozen; a
gated cross-attention block before every layer; a Perceiver Resampler of depth 6 with
64 latents; a frozen 2-layer ViT (width 128, patch 8, 32 px). Batch 4, 64 tokens, 2
images per sample. A step is forward + backward of the language-modelling loss; the
two models alternate step by step so machine load hits both alike. Prints the median
seconds per step of each and our / IDEFICS ratio (target <= 1.0).

    python benchmarks/flamingo.py [--steps 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

BATCH, TOKENS, IMAGES, VOCAB, WIDTH, LAYERS, HEADS = 4, 64, 2, 1000, 256, 4, 4


def ours() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    from flamboyance.flamingo_model.config import FlamingoConfig
    from flamboyance.flamingo_model.model import Flamingo
    from flamboyance.flamingo_model.tiny import tiny_lm

    lm = tiny_lm("llama", VOCAB, width=WIDTH, layers=LAYERS, heads=HEADS)
    vit = _build_vision_tower(128, CLIPVisionCfg(layers=2, width=128, head_width=64, patch_size=8, image_size=32))
    config = FlamingoConfig(
        num_latents=64,
        perceiver_depth=6,
        perceiver_heads=4,
        perceiver_dim_head=32,
        cross_attn_heads=HEADS,
        cross_attn_dim_head=WIDTH // HEADS,
    )
    model = Flamingo(lm, vit, image_id=VOCAB - 2, eoc_id=VOCAB - 1, config=config).train()
    ids = torch.randint(0, VOCAB - 2, (BATCH, TOKENS))
    ids[:, 0], ids[:, TOKENS // 2] = VOCAB - 2, VOCAB - 2
    inputs = {"input_ids": ids, "images": torch.randn(BATCH, IMAGES, 1, 3, 32, 32), "labels": ids}
    return model, inputs


def idefics() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    from transformers import IdeficsConfig, IdeficsForVisionText2Text

    config = IdeficsConfig(
        vocab_size=VOCAB,
        hidden_size=WIDTH,
        intermediate_size=4 * WIDTH,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        cross_layer_interval=1,
        use_resampler=True,
        freeze_text_layers=True,
        freeze_vision_layers=True,
        vision_config={
            "embed_dim": 128,
            "image_size": 32,
            "patch_size": 8,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 512,
        },
        perceiver_config={
            "use_resampler": True,
            "resampler_n_latents": 64,
            "resampler_depth": 6,
            "resampler_n_heads": 4,
            "resampler_head_dim": 32,
        },
    )
    model = IdeficsForVisionText2Text(config).train()
    ids = torch.randint(3, VOCAB, (BATCH, TOKENS))
    image_mask = torch.zeros(BATCH, TOKENS, IMAGES, dtype=torch.long)
    image_mask[:, : TOKENS // 2, 0] = 1
    image_mask[:, TOKENS // 2 :, 1] = 1
    inputs = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values": torch.randn(BATCH, IMAGES, 3, 32, 32),
        "image_attention_mask": image_mask,
        "labels": ids,
    }
    return model, inputs


def step(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> float:
    started = time.perf_counter()
    model(**inputs).loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    contenders = {"flamingo_model": ours(), "IDEFICS": idefics()}
    for name, (model, _) in contenders.items():
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, {trainable / 1e6:.2f}M trainable")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for number in range(args.steps + 3):
        for name, (model, inputs) in contenders.items():
            seconds = step(model, inputs)
            if number >= 3:  # warm-up steps are not counted
                times[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name}: {value:.4f} s per training step (median of {args.steps})")
    print(f"ratio flamingo_model / IDEFICS: {medians['flamingo_model'] / medians['IDEFICS']:.2f}x (target <= 1.0)")


if __name__ == "__main__":
    main()
