"""The GPU-speed paths, checked on the CPU: SDPA attention against plain softmax maths, the
FLOPs count behind MFU against a hand count and torch's FLOP counter, bf16 frozen weights,
and training under torch.compile."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from flamboyance.flamingo_model import train as train_module
from flamboyance.flamingo_model.checkpoint import load_latest
from flamboyance.flamingo_model.config import TrainConfig
from flamboyance.flamingo_model.cross_attention import GatedCrossAttentionBlock
from flamboyance.flamingo_model.flops import ModelFlops, plain_maths
from flamboyance.flamingo_model.model import Flamingo
from flamboyance.flamingo_model.perceiver import PerceiverResampler
from flamboyance.flamingo_model.tiny import tiny_flamingo_config, tiny_lm, tiny_vit
from flamboyance.flamingo_model.train import TrainDataset, frozen_to, token_loss, train
from flamboyance.pretrain_encoder.run_log import LogConfig

VOCAB = 300
IMAGE, EOC = VOCAB - 2, VOCAB - 1


def reference_attention(attention, x, context, allowed=None):
    """Multi-head attention written out: softmax(q k^T / sqrt(d)) v, keys outside ``allowed`` [B, Lq, Lk] excluded."""
    q = attention.to_q(attention.norm(x))
    k, v = attention.to_kv(context).chunk(2, dim=-1)
    heads = attention.heads
    q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if allowed is not None:
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    return attention.to_out((scores.softmax(-1) @ v).transpose(1, 2).flatten(2))


def test_resampler_attention_through_sdpa_equals_the_softmax_formula():
    torch.manual_seed(0)
    resampler = PerceiverResampler(dim=32, depth=2, num_latents=5, heads=4, dim_head=8, max_frames=3)
    features = torch.randn(2, 3, 2, 7, 32)  # batch 2, 3 media items, 2 frames, 7 features
    with torch.no_grad():
        resampler.time_embeddings.normal_()
        x = (features + resampler.time_embeddings[:2].view(1, 1, 2, 1, 32)).reshape(6, 14, 32)
        latents = resampler.latents.expand(6, -1, -1)
        for attention, feed_forward in resampler.layers:
            context = torch.cat([resampler.context_norm(x), attention.norm(latents)], dim=1)
            latents = latents + reference_attention(attention, latents, context)
            latents = latents + feed_forward(latents)
        expected = resampler.norm(latents).view(2, 3, 5, 32)
        torch.testing.assert_close(resampler(features), expected, rtol=0, atol=1e-5)


def test_masked_cross_attention_through_sdpa_equals_per_token_softmax_over_its_own_image():
    """Each text token attends to the visual tokens of its image only; a token without one gets exactly zero."""
    torch.manual_seed(0)
    block = GatedCrossAttentionBlock(dim=32, media_dim=16, heads=4, dim_head=8)
    with torch.no_grad():
        block.attention_gate.fill_(0.7)
        block.feed_forward_gate.fill_(-0.4)
    x, media = torch.randn(2, 6, 32), torch.randn(2, 3, 4, 16)
    index = torch.tensor([[-1, 0, 0, 2, 2, 1], [-1, -1, 1, 1, 0, 3]])  # 3: beyond the slots, sees nothing
    with torch.no_grad():
        attended = torch.zeros_like(x)
        for b in range(2):
            for t in range(6):
                slot = int(index[b, t])
                if 0 <= slot < 3:
                    attended[b, t] = reference_attention(block.attention, x[b : b + 1, t : t + 1], media[b : b + 1, slot])[0, 0]
        assert attended[0, 0].abs().sum() == 0 and attended[1, 5].abs().sum() == 0
        mixed = x + math.tanh(0.7) * attended
        expected = mixed + math.tanh(-0.4) * block.feed_forward(mixed)
        torch.testing.assert_close(block(x, media, index), expected, rtol=0, atol=1e-5)


def flamingo(family="gpt2", seed=0, **config):
    torch.manual_seed(seed)
    return Flamingo(tiny_lm(family, VOCAB), tiny_vit(), IMAGE, EOC, replace(tiny_flamingo_config(), **config)).train()


def batch(sequences=2, length=24, slots=3, image_mask=None, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB - 2, (sequences, length), generator=generator)
    ids[:, 0], ids[:, length // 2] = IMAGE, IMAGE
    media_index = (ids == IMAGE).long().cumsum(-1) - 1
    out = {"input_ids": ids, "labels": ids, "media_index": media_index, "images": torch.randn(sequences, slots, 1, 3, 32, 32)}
    if image_mask is not None:
        out["image_mask"] = image_mask
    return out


def counted(model, inputs):
    """FLOPs torch counts in one forward + backward of the training loss (in plain maths, whose products it sees)."""
    with plain_maths(), FlopCounterMode(display=False) as counter:
        total, _ = token_loss(model, inputs)
        total.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def test_the_flops_of_a_text_only_step_match_a_hand_count():
    """GPT-2, width d, n layers: 12 d^2 weights per layer, head V d; gradient flows through all of it, no weight trains."""
    model = flamingo("gpt2")
    d, n, sequences, length = 64, 2, 2, 24
    tokens = sequences * length
    ids = batch(sequences, length)["input_ids"]
    linear = 2 * tokens * (n * 12 * d * d + VOCAB * d)  # forward of every matrix layer, output head included
    attention = 4 * tokens * length * d * n  # q k^T and the weighted sum of v, full square
    rows = 2 * tokens * 2 * d  # one-hot [tokens, 2] x the two trainable rows [2, d]
    by_hand = 2 * linear + 3 * attention + 2 * rows  # frozen matrices: + input gradient; attention: + both operands'; rows: + weight gradient
    assert ModelFlops(model)({"input_ids": ids}) == by_hand
    assert counted(model, {"input_ids": ids, "labels": ids}) == by_hand


def test_the_vision_encoders_forward_flops_per_image_match_a_hand_count():
    """tiny_vit: 32 px, patch 8 -> 16 patches + a class token = 17 tokens of width 64, 2 layers, MLP 4x."""
    patches = 2 * 16 * (3 * 8 * 8) * 64  # the patch embedding, a convolution
    linear = 2 * 17 * (4 * 64 * 64 + 2 * 64 * 256)  # q, k, v, out; the MLP's two layers
    attention = 4 * 17 * 17 * 64
    assert ModelFlops(flamingo()).vision((3, 32, 32)) == (patches + 2 * (linear + attention), 16)  # 16 spatial features


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("image_mask", [None, "partial"])
def test_the_flops_of_a_step_with_images_match_torchs_flop_counter(family, image_mask):
    model = flamingo(family, cross_attn_every=2)
    mask = torch.tensor([[True, True, False], [True, False, False]]) if image_mask else None
    inputs = batch(image_mask=mask)
    flops = ModelFlops(model)(inputs)
    assert flops == counted(model, inputs)
    # The backward is in, and costs less than twice the forward: frozen weights take no gradient.
    with plain_maths(), FlopCounterMode(display=False) as forward:
        token_loss(model, inputs)
    assert forward.get_total_flops() < flops < 3 * forward.get_total_flops()


def test_training_logs_mfu_from_the_flops_count_and_keeps_optimiser_state_for_trainable_weights_only(tmp_path, monkeypatch):
    model = flamingo("gpt2")
    batches = [batch(seed=n) for n in range(2)]
    expected = ModelFlops(model)(batches[0]) / int((batches[0]["labels"][:, 1:] != -100).sum())
    monkeypatch.setattr(train_module, "peak_flops", lambda device: 1e12)
    config = TrainConfig(steps=1, warmup_steps=1, output=str(tmp_path / "run"), log=LogConfig(every=1, tensorboard=False))
    (record,) = train(model, [TrainDataset("docs", 1.0, batches)], config)
    # mfu x peak = FLOPs / s; tokens_per_s = label tokens / s: their ratio is FLOPs per label token.
    assert record["mfu"] > 0
    assert record["mfu"] * 1e12 / record["tokens_per_s"] == pytest.approx(expected, rel=1e-9)
    # The frozen LM holds no optimiser state: only the trainable parameters have moments.
    state = load_latest(config.output, rank=0, world_size=1)
    assert set(state["optimizer"]["state"]) == {name for name, p in model.named_parameters() if p.requires_grad}


def test_frozen_weights_in_bf16_keep_trainable_fp32_masters_and_train_under_autocast():
    model, reference = flamingo("llama"), flamingo("llama")
    frozen_to(model, torch.bfloat16)
    for parameter in model.parameters():
        assert parameter.dtype == (torch.float32 if parameter.requires_grad else torch.bfloat16)
    inputs = batch()
    with torch.autocast("cpu", torch.bfloat16):
        total, count = token_loss(model, inputs)
    total.backward()
    expected, _ = token_loss(reference, inputs)
    assert torch.isfinite(total) and abs(total.item() - expected.item()) / expected.item() < 0.02
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters() if p.requires_grad)


@pytest.mark.slow
def test_a_compiled_model_trains_like_the_eager_one(tmp_path):
    batches = [batch(seed=n) for n in range(2)]
    histories, models = [], []
    for compiled in (False, True):
        model = flamingo("llama")
        config = TrainConfig(steps=2, warmup_steps=1, lr=1e-3, compile=compiled, output=str(tmp_path / str(compiled)), log=LogConfig(tensorboard=False))
        histories.append(train(model, [TrainDataset("docs", 1.0, batches)], config))
        models.append(model)
    assert models[1].blocks[0]._compiled_call_impl is not None
    for eager, compiled in zip(*histories):
        assert compiled["losses"]["docs"] == pytest.approx(eager["losses"]["docs"], rel=1e-4)
    # Parameter names are unchanged by compiling, so checkpoints stay interchangeable.
    assert models[1].trainable_state_dict().keys() == models[0].trainable_state_dict().keys()
