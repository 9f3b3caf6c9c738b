"""The safety step: plumbing from a user's CLIP model to a counted, audited drop.

Nothing is downloaded: the model is a tiny open_clip built from a config with random
weights. Its verdicts mean nothing, so the decisive test sets the concept embeddings to
the embeddings of two known images, which makes the right answer computable.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from flamboyance.filter.pipeline import FilterPipeline
from flamboyance.filter.safety import PromptScorer, SafetyClassifier
from flamboyance.pretrain_encoder.models import CONFIG_DIR, build_model, model_config

RED = Image.new("RGB", (80, 60), (220, 30, 30))
NOISE = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def tiny_clip():
    torch.manual_seed(0)
    return build_model(model_config("tiny-vit")).eval()


def test_a_scorer_built_from_a_config_and_checkpoint_scores_like_the_model_it_was_saved_from(tiny_clip, tmp_path) -> None:
    from open_clip.tokenizer import SimpleTokenizer

    checkpoint = tmp_path / "tiny.pt"
    torch.save(tiny_clip.state_dict(), checkpoint)
    config = str(CONFIG_DIR / "tiny-vit.json")  # built by open_clip's own factory
    from_file = PromptScorer.from_open_clip(config, str(checkpoint))
    in_memory = PromptScorer.from_model(tiny_clip, SimpleTokenizer(context_length=32))
    for image in (RED, NOISE):
        score = from_file(image)
        assert 0.0 <= score <= 1.0
        assert score == pytest.approx(in_memory(image), abs=1e-5)
    # What a filter config would say: {step: safety, model: path/to/tiny-vit.json, checkpoint: ...}.
    step = SafetyClassifier(model=config, checkpoint=str(checkpoint), max_confidence=0.9)
    assert step.check(RED).score == pytest.approx(from_file(RED), abs=1e-5)


def test_the_step_drops_what_resembles_the_unsafe_concept_and_counts_it(tiny_clip) -> None:
    from open_clip.transform import PreprocessCfg, image_transform_v2

    preprocess = image_transform_v2(PreprocessCfg(**tiny_clip.visual.preprocess_cfg), is_train=False)
    with torch.no_grad():
        unsafe, safe = (tiny_clip.encode_image(preprocess(image).unsqueeze(0)) for image in (RED, NOISE))
    scorer = PromptScorer(tiny_clip.encode_image, preprocess, unsafe=unsafe, safe=safe, logit_scale=100.0)
    cosine = float(torch.nn.functional.cosine_similarity(unsafe, safe))
    assert cosine < 0.99  # the two images are told apart by the random model
    expected = 1 / (1 + math.exp(-100 * (1 - cosine)))  # softmax of (100, 100 * cosine)
    assert scorer(RED) == pytest.approx(expected, abs=1e-4)
    assert scorer(NOISE) == pytest.approx(1 - expected, abs=1e-4)

    step = SafetyClassifier(scorer, max_confidence=0.5)
    pipeline = FilterPipeline(pixels=[step])
    assert not pipeline.keep_pixels(RED, label={"document": "doc-1", "url": "https://example.invalid/red.jpg"})
    assert pipeline.keep_pixels(np.asarray(NOISE), label="doc-2")  # numpy pixels work too
    stats = pipeline.report()["safety"]
    assert (stats.inputs, stats.kept, dict(stats.dropped)) == (2, 1, {"unsafe_confidence_above": 1})
    histogram = stats.histograms["unsafe_confidence"]
    assert (histogram.total(), histogram.high) == (2, 0.5)
    (drop,) = stats.sample.records()
    assert drop["score"] == pytest.approx(expected, abs=1e-4)
    assert drop["item"]["label"]["url"] == "https://example.invalid/red.jpg"
    assert drop["item"]["item"]["thumbnail"].startswith("data:image/jpeg;base64,")


def test_the_step_needs_a_scorer_or_a_model_and_concepts_must_match() -> None:
    with pytest.raises(ValueError, match="needs a scorer"):
        SafetyClassifier()
    with pytest.raises(ValueError, match="concept embeddings"):
        PromptScorer(lambda x: x, lambda x: x, unsafe=torch.zeros(2, 8), safe=torch.zeros(2, 4))
