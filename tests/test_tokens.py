"""The Flamingo token format: rendering, windowing, labels and which image each token sees."""

from __future__ import annotations

import random

import pytest

from flamboyance.flamingo_model.tokens import (
    END_OF_CHUNK_TOKEN,
    IGNORE_INDEX,
    IMAGE_TOKEN,
    FlamingoTokenizer,
    TokenConfig,
    render,
    train_tokenizer,
)
from flamboyance.shards.document import Document, ImageNode, TextNode

CORPUS = [
    "Cute pics of my pets! My puppy in the grass. My cat.",
    "The quick brown fox jumps over the lazy dog. Caption number one two three four five six seven.",
] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS, vocab_size=400)


def doc(*parts: str) -> Document:
    """A document from text parts, with "IMG" standing for the next image."""
    nodes, images = [], 0
    for part in parts:
        if part == "IMG":
            nodes.append(ImageNode(url=f"https://example.org/{images}.jpg", index=images))
            images += 1
        else:
            nodes.append(TextNode(part))
    return Document(key="k", url="https://example.org/", nodes=nodes)


def test_render_guide_example_and_edge_cases() -> None:
    pets = doc("Cute pics of my pets!", "IMG", "My puppy in the grass.", "IMG", "My cat.")
    assert render(pets) == "Cute pics of my pets!<EOC><image>My puppy in the grass.<EOC><image>My cat.<EOC>"
    assert render(doc("A", "IMG", "B", "IMG", "C")) == "A<EOC><image>B<EOC><image>C<EOC>"
    assert render(doc("IMG", "caption")) == "<image>caption<EOC>"
    assert render(doc("A", "B ", "IMG", "IMG")) == "A\nB<EOC><image><EOC><image><EOC>"
    assert render(doc("  ", "A")) == "A<EOC>"
    assert render(doc("a web page that says <image> and <EOC>", "IMG")) == "a web page that says  and<EOC><image><EOC>"


def test_tokens_labels_and_media_index(tokenizer) -> None:
    flamingo = FlamingoTokenizer(tokenizer, TokenConfig(max_tokens=40, attend_next_probability=0.0))
    pets = doc("Cute pics of my pets!", "IMG", "My puppy in the grass.", "IMG", "My cat.")
    example = flamingo.encode(pets, random.Random(0))

    length = sum(example.attention_mask)
    ids = example.input_ids[:length]
    assert tokenizer.decode(ids) == render(pets)
    assert example.input_ids[length:] == [flamingo.pad_id] * (40 - length)
    assert example.images == [0, 1] and example.attend_next is False

    first, second = [t for t, token in enumerate(ids) if token == flamingo.image_id]
    assert ids[first - 1] == ids[second - 1] == ids[-1] == flamingo.eoc_id
    # phi: nothing before the first image, then the latest image at or before the token.
    assert example.media_index == [-1] * first + [0] * (second - first) + [1] * (length - second) + [-1] * (40 - length)
    # Labels: text before the first image, <image> tokens and padding are not predicted.
    expected = [IGNORE_INDEX] * (first + 1) + ids[first + 1 : second] + [IGNORE_INDEX] + ids[second + 1 :]
    assert example.labels == expected + [IGNORE_INDEX] * (40 - length)
    assert example.labels[length - 1] == flamingo.eoc_id  # the model learns to end the document


def test_attend_to_next_image(tokenizer) -> None:
    flamingo = FlamingoTokenizer(tokenizer, TokenConfig(max_tokens=40, attend_next_probability=1.0))
    example = flamingo.encode(doc("Cute pics", "IMG", "My cat.", "IMG", "My puppy."), random.Random(0))
    length = sum(example.attention_mask)
    first, second = [t for t, token in enumerate(example.input_ids) if token == flamingo.image_id]
    assert example.attend_next is True
    assert example.media_index[: first + 1] == [0] * (first + 1)
    assert example.media_index[first + 1 : second + 1] == [1] * (second - first)
    assert example.media_index[second + 1 :] == [-1] * (40 - second - 1)
    assert length < 40

    flags = [FlamingoTokenizer(tokenizer).encode(doc("A", "IMG", "B"), random.Random(seed)).attend_next for seed in range(400)]
    assert 160 < sum(flags) < 240  # p = 1/2 by default


def test_window_holds_at_most_five_images_in_order(tokenizer) -> None:
    # 12 images, each followed by its own caption "Caption number <k words>" to identify it.
    words = ["one", "two", "three", "four", "five", "six", "seven"]
    parts = ["The quick brown fox jumps over the lazy dog."]
    for k in range(12):
        parts += ["IMG", "Caption number " + " ".join(words[: k % 7 + 1]) + ".", "The lazy dog."]
    document = doc(*parts)
    flamingo = FlamingoTokenizer(tokenizer, TokenConfig(max_tokens=64, max_images=5))
    full = tokenizer(render(document), add_special_tokens=False)["input_ids"]
    assert len(full) > 64

    for seed in range(30):
        example = flamingo.encode(document, random.Random(seed))
        assert example == flamingo.encode(document, random.Random(seed))  # seeded: reproducible
        assert len(example.input_ids) == 64
        markers = [t for t, token in enumerate(example.input_ids) if token == flamingo.image_id]
        assert 1 <= len(markers) <= 5 and len(markers) == len(example.images)
        assert example.images == list(range(example.images[0], example.images[0] + len(markers)))
        for slot, (marker, number) in enumerate(zip(markers, example.images)):
            # The text right after slot s's marker is the caption of document image images[s].
            # (The window may cut it short: then what is there is the caption's beginning.)
            following = tokenizer.decode(example.input_ids[marker + 1 : marker + 12]).split("<")[0]
            caption = "Caption number " + " ".join(words[: number % 7 + 1]) + "."
            assert following.startswith(caption) or caption.startswith(following)
            assert example.media_index[marker] == slot
        assert all(index < len(markers) for index in example.media_index)


def test_window_without_images_and_without_masking(tokenizer) -> None:
    config = TokenConfig(max_tokens=16, mask_before_first_image=False)
    example = FlamingoTokenizer(tokenizer, config).encode(doc("My cat. " * 20), random.Random(3))
    assert example.images == [] and set(example.media_index) == {-1}
    assert example.labels == example.input_ids  # no padding, no image: every token is predicted
    assert END_OF_CHUNK_TOKEN != IMAGE_TOKEN
