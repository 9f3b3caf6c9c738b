"""The Flamingo token format: an interleaved document as language-model tokens.

Rendering. A document becomes text with ``<image>`` where each image stands and
``<EOC>`` (end of chunk) before every image and at the end, except that a leading image
has nothing to end before it::

    "A", image, "B", image, "C"  ->  A<EOC><image>B<EOC><image>C<EOC>
    image, "caption"             ->  <image>caption<EOC>

Consecutive text blocks are joined with a newline; empty ones are skipped. The k-th
``<image>`` stands for the document's k-th image node; the marker strings are removed
from page text, where they would otherwise become markers without images.

Windowing. A training example is a random window of ``max_tokens`` tokens (Flamingo:
256) holding at most ``max_images`` images (Flamingo: 5, the first ones of the window).
``<image>`` tokens past that limit are removed from the window, since a marker without
pixels would shift every later token's image. By default the window is drawn among those
that contain at least one image, when the document has one: a window of text alone
teaches the cross-attention nothing.

Which image a token sees (phi). ``media_index[t]`` is the slot (0-based, in the example's
image tensor) of the last ``<image>`` at or before position t; -1 means "no image" (text
before the first image, and padding). With probability ``attend_next_probability`` per
document (Flamingo's best ablation, p = 1/2) it is instead the first ``<image>`` at or
after t, and -1 after the last one. An ``<image>`` token always sees its own image.

Labels are the input ids with -100 at padding, at ``<image>`` tokens (the model does not
predict where images go) and, as OpenFlamingo does, at every token before the window's
first image.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from flamboyance.shards.document import Document, ImageNode

IMAGE_TOKEN = "<image>"
END_OF_CHUNK_TOKEN = "<EOC>"
PAD_TOKEN = "<pad>"
IGNORE_INDEX = -100


def render(document: Document, separator: str = "\n") -> str:
    """The document as Flamingo text (see the module doc for the exact rules)."""
    parts: list[str] = []
    for node in document.nodes:
        if isinstance(node, ImageNode):
            if parts:
                parts.append(END_OF_CHUNK_TOKEN)
            parts.append(IMAGE_TOKEN)
            continue
        text = node.text.replace(IMAGE_TOKEN, "").replace(END_OF_CHUNK_TOKEN, "").strip()
        if not text:
            continue
        if parts and parts[-1] != IMAGE_TOKEN:
            parts.append(separator)
        parts.append(text)
    parts.append(END_OF_CHUNK_TOKEN)
    return "".join(parts)


def add_flamingo_tokens(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Register ``<image>`` and ``<EOC>`` as special tokens (and a pad token if it has none).

    Special tokens are never split or merged with their neighbours, so each marker is
    exactly one id whatever text surrounds it. The language model's embedding matrix
    must then be resized to ``len(tokenizer)``.
    """
    tokenizer.add_tokens([IMAGE_TOKEN, END_OF_CHUNK_TOKEN], special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """A small byte-level BPE tokenizer trained on local text, with the Flamingo tokens added.

    For tests, benchmarks and offline smoke runs: nothing can be downloaded from a hub
    here, and a real run passes its language model's own tokenizer instead.
    """
    model = Tokenizer(models.BPE())
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, IMAGE_TOKEN, END_OF_CHUNK_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    model.train_from_iterator(texts, trainer)
    model.decoder = decoders.ByteLevel()
    return add_flamingo_tokens(PreTrainedTokenizerFast(tokenizer_object=model, pad_token=PAD_TOKEN))


@dataclass
class TokenConfig:
    """Window and image limits of a Flamingo example (defaults from the Flamingo paper)."""

    max_tokens: int = 256
    max_images: int = 5
    attend_next_probability: float = 0.5
    mask_before_first_image: bool = True
    window_with_image: bool = True


@dataclass
class FlamingoTokens:
    """One example's token side: lists of length ``max_tokens``, plus which images fill its slots.

    ``images[s]`` is the document's image number shown in slot s (slots past
    ``len(images)`` are empty).
    """

    input_ids: list[int]
    attention_mask: list[int]
    labels: list[int]
    media_index: list[int]
    images: list[int]
    attend_next: bool


class FlamingoTokenizer:
    """Renders, tokenizes and windows documents for one language model's tokenizer."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, config: TokenConfig | None = None) -> None:
        self.tokenizer = add_flamingo_tokens(tokenizer)
        self.config = config or TokenConfig()
        self.image_id = self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.eoc_id = self.tokenizer.convert_tokens_to_ids(END_OF_CHUNK_TOKEN)
        self.pad_id = self.tokenizer.pad_token_id

    def encode(self, document: Document, rng: random.Random) -> FlamingoTokens:
        ids = self.token_ids(render(document))
        markers = [t for t, token in enumerate(ids) if token == self.image_id]
        start = self._window_start(len(ids), markers, rng)
        end = start + self.config.max_tokens
        first_image = bisect.bisect_left(markers, start)
        inside = markers[first_image : bisect.bisect_left(markers, end)]
        dropped = set(inside[self.config.max_images :])
        window = [token for t, token in enumerate(ids[start:end], start) if t not in dropped]
        images = list(range(first_image, first_image + min(len(inside), self.config.max_images)))

        attend_next = rng.random() < self.config.attend_next_probability
        media = _media_index(window, self.image_id, attend_next)
        labels = [IGNORE_INDEX if token == self.image_id else token for token in window]
        if self.config.mask_before_first_image:
            first = window.index(self.image_id) if images else len(window)
            labels[:first] = [IGNORE_INDEX] * first
        padding = self.config.max_tokens - len(window)
        return FlamingoTokens(
            input_ids=window + [self.pad_id] * padding,
            attention_mask=[1] * len(window) + [0] * padding,
            labels=labels + [IGNORE_INDEX] * padding,
            media_index=media + [-1] * padding,
            images=images,
            attend_next=attend_next,
        )

    def token_ids(self, text: str) -> list[int]:
        """Ids of ``text`` with no special tokens added (the fast backend directly when there is one)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            return backend.encode(text, add_special_tokens=False).ids
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _window_start(self, length: int, markers: list[int], rng: random.Random) -> int:
        """A uniform start among windows that fit (and, if asked, hold an image)."""
        size = self.config.max_tokens
        last = length - size
        if last <= 0:
            return 0
        if not (self.config.window_with_image and markers):
            return rng.randint(0, last)
        # Starts whose window holds marker m are [m - size + 1, m]: a union of intervals.
        spans: list[tuple[int, int]] = []
        for marker in markers:
            low, high = max(0, marker - size + 1), min(last, marker)
            if spans and low <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], max(spans[-1][1], high))
            elif low <= high:
                spans.append((low, high))
        pick = rng.randrange(sum(high - low + 1 for low, high in spans))
        for low, high in spans:
            if pick <= high - low:
                return low + pick
            pick -= high - low + 1
        raise AssertionError("unreachable: pick lies within the spans")


def _media_index(window: list[int], image_id: int, attend_next: bool) -> list[int]:
    """Per token, the image slot it attends to (-1 for none); see the module doc."""
    media, seen = [], -1
    for token in window:
        seen += token == image_id
        media.append(seen)
    if not attend_next:
        return media
    # The next image at or after t: the previous one when t is an <image>, else one more.
    count = seen + 1
    return [m if token == image_id else (m + 1 if m + 1 < count else -1) for m, token in zip(media, window)]
