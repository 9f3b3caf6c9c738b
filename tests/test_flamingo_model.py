"""The Flamingo model on tiny LMs of three families: identity at init, phi masking, what training may change."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from flamboyance.flamingo_model.cross_attention import GatedCrossAttentionBlock
from flamboyance.flamingo_model.model import build_flamingo, media_index_of
from flamboyance.flamingo_model.tiny import LM_FAMILIES, tiny_flamingo_config, tiny_lm, tiny_tokenizer, tiny_vit
from flamboyance.flamingo_model.tokens import FlamingoTokenizer, TokenConfig
from flamboyance.shards.document import Document, ImageNode, TextNode

SMALL = tiny_flamingo_config(num_latents=4, dim_head=16)
TEXT = "Some words first.<image>Output: A red circle.<EOC><image>Output: A blue star.<EOC>"


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer(
        [f"Output: A {c} {s}. Some words first." for c in ("red", "blue", "green") for s in ("circle", "star")] * 5
    )


def make(tokenizer, family="gpt2", seed=0):
    torch.manual_seed(seed)
    lm = tiny_lm(family, len(tokenizer))
    reference = copy.deepcopy(lm).eval()
    return build_flamingo(lm, tiny_vit(), tokenizer, SMALL).eval(), reference


def open_gates(model, value=1.0):
    with torch.no_grad():
        for block in model.blocks:
            block.attention_gate.fill_(value)
            block.feed_forward_gate.fill_(value)


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_at_initialisation_the_logits_are_the_frozen_lms_exactly(tokenizer, family):
    model, reference = make(tokenizer, family)
    ids = torch.tensor([tokenizer.encode(TEXT)])
    images = torch.randn(1, 2, 1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(ids, images=images).logits, reference(ids).logits)
        assert torch.equal(model(ids).logits, reference(ids).logits)


def test_cross_attention_block_sees_only_the_image_phi_assigns():
    torch.manual_seed(0)
    block = GatedCrossAttentionBlock(dim=32, media_dim=16, heads=2, dim_head=8)
    with torch.no_grad():
        block.attention_gate.fill_(1.0)
    x = torch.randn(1, 7, 32)
    media = torch.randn(1, 3, 4, 16)
    index = torch.tensor([[-1, 0, 0, 1, 1, 1, 2]])
    changed = media.clone()
    changed[0, 1] += 1.0
    moved = (block(x, changed, index) - block(x, media, index)).abs().sum(-1)[0]
    assert (moved[index[0] == 1] > 0).all()
    assert (moved[index[0] != 1] == 0).all()


def test_media_index_matches_the_loader_token_format(tokenizer):
    flamingo_tokens = FlamingoTokenizer(tokenizer, TokenConfig(max_tokens=40))
    nodes = [TextNode("Some words first.")] + [
        n for k in range(3) for n in (ImageNode(url=f"u{k}", index=k), TextNode(f"Output: A red circle {k}."))
    ]
    document = Document(key="d", url="u", nodes=nodes)
    for seed in range(6):
        tokens = flamingo_tokens.encode(document, random.Random(seed))
        ids = torch.tensor([tokens.input_ids])
        real = torch.tensor(tokens.attention_mask, dtype=torch.bool)
        ours = media_index_of(ids, flamingo_tokens.image_id, tokens.attend_next)[0]
        assert ours[real].tolist() == torch.tensor(tokens.media_index)[real].tolist()


@pytest.mark.parametrize("attend_next", [False, True])
def test_changing_one_image_changes_only_the_tokens_that_see_it(tokenizer, attend_next):
    """Previous-image phi: the chunk after image 2 changes, everything before it does not.

    Attend-to-next: the chunk before image 2 changes, everything before that chunk does
    not. (Later tokens may still change through the LM's self-attention to changed ones.)
    """
    model, _ = make(tokenizer, "llama")
    open_gates(model)
    ids = torch.tensor([tokenizer.encode(TEXT)])
    index = media_index_of(ids, model.image_id, attend_next)
    images = torch.randn(1, 2, 1, 3, 32, 32)
    changed = images.clone()
    changed[0, 1] = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        moved = (
            (model(ids, media_index=index, images=changed).logits - model(ids, media_index=index, images=images).logits)
            .abs()
            .sum(-1)[0]
        )
    sees_second = (index[0] == 1).nonzero()[:, 0]
    first = int(sees_second[0])
    assert (moved[:first] == 0).all()
    assert (moved[sees_second] > 0).all()
    if not attend_next:  # text before the first image sees no image at all
        before_images = int((ids[0] == model.image_id).nonzero()[0])
        first_changed = images.clone()
        first_changed[0, 0] += 1.0
        with torch.no_grad():
            moved = (model(ids, images=first_changed).logits - model(ids, images=images).logits).abs().sum(-1)[0]
        assert (moved[:before_images] == 0).all() and (moved[before_images:] > 0).any()


def test_training_changes_only_the_new_modules_and_the_two_new_embedding_rows(tokenizer):
    model, _ = make(tokenizer, "gpt2")
    model.train()
    frozen = {name: p.detach().clone() for name, p in model.named_parameters() if not p.requires_grad}
    every_token = torch.arange(len(tokenizer))
    embedded = model.lm.get_input_embeddings()(every_token).detach().clone()
    optimizer = torch.optim.AdamW(model.parameter_groups(0.1), lr=1e-2)
    ids = torch.tensor([tokenizer.encode(TEXT)])
    for _ in range(3):
        optimizer.zero_grad()
        model(ids, images=torch.randn(1, 2, 1, 3, 32, 32), labels=ids).loss.backward()
        optimizer.step()

    assert all(torch.equal(p, frozen[name]) for name, p in model.named_parameters() if name in frozen)
    after = model.lm.get_input_embeddings()(every_token).detach()
    special = torch.zeros(len(tokenizer), dtype=torch.bool)
    special[[model.image_id, model.eoc_id]] = True
    assert torch.equal(after[~special], embedded[~special])
    assert not torch.equal(after[special], embedded[special])
    assert all(block.attention_gate.item() != 0 for block in model.blocks)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert all(name.startswith("resampler.") or ".block." in name or name.endswith(".rows") for name in trainable)
    assert not any(name.startswith("vision.") for name in trainable)


def test_a_module_without_decoder_layers_is_refused_with_a_clear_error(tokenizer):
    lm = tiny_lm("gpt2", len(tokenizer))
    lm.transformer.h = torch.nn.Sequential(*lm.transformer.h)
    with pytest.raises(ValueError, match="cannot find the decoder layers"):
        build_flamingo(lm, tiny_vit(), tokenizer, SMALL)


def test_an_encoder_loads_from_an_image_tower_export_or_an_open_clip_checkpoint(tmp_path):
    import json

    from flamboyance.flamingo_model.tiny import tiny_clip
    from flamboyance.flamingo_model.vision import VisionFeatures, load_encoder
    from flamboyance.pretrain_encoder.image_tower import export_image_tower

    clip, config = tiny_clip()
    export_image_tower(clip, config, str(tmp_path / "tower"), "tiny")
    (tmp_path / "tiny-loaded.json").write_text(json.dumps(config))
    torch.save({"state_dict": clip.state_dict()}, tmp_path / "clip.pt")

    images = torch.randn(2, 3, 1, 3, 32, 32)
    expected = VisionFeatures(clip.visual)(images)
    assert expected.shape == (2, 3, 1, 16, 64)
    for spec in (str(tmp_path / "tower"), f"{tmp_path / 'tiny-loaded.json'}:{tmp_path / 'clip.pt'}"):
        torch.testing.assert_close(VisionFeatures(load_encoder(spec))(images), expected)
    with pytest.raises(ValueError, match="neither an image tower export"):
        load_encoder(str(tmp_path / "missing"))


def test_gradient_checkpointing_gives_the_same_gradients(tokenizer):
    from dataclasses import replace

    ids = torch.tensor([tokenizer.encode(TEXT)])
    images = torch.randn(1, 2, 1, 3, 32, 32)
    gradients = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = build_flamingo(
            tiny_lm("llama", len(tokenizer)), tiny_vit(), tokenizer, replace(SMALL, gradient_checkpointing=checkpointing)
        )
        open_gates(model, 0.5)
        model.train()
        model(ids, images=images, labels=ids).loss.backward()
        gradients.append({name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad})
    for name, gradient in gradients[0].items():
        torch.testing.assert_close(gradients[1][name], gradient, msg=name)
