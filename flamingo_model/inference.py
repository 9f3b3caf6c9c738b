"""A trained Flamingo run, loaded once and asked about one image at a time.

What a notebook (``flamboyance.load_flamingo``) and a server need: load the run's parts
and trained weights from its config, then caption an image, answer a question about it,
or score candidate texts for it, optionally after support examples shown Flamingo's way
(each support image followed by its text).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from flamboyance.flamingo_model.config import TrainConfig
from flamboyance.flamingo_model.fewshot import FewShotExample, encode_prompt, render_prompt, score_candidates
from flamboyance.flamingo_model.generation import generate_batch
from flamboyance.flamingo_model.model import Flamingo
from flamboyance.shards.loader.transforms import ImageTransform

ImageInput = bytes | Image.Image


class TrainedFlamingo:
    """A Flamingo model with its tokenizer and image transform, ready to answer.

    ``caption_prefix`` is the text before a caption in prompts: ``""`` matches how pair
    shards train (``<image>caption<EOC>``); the paper's evaluation uses ``"Output:"``.
    """

    def __init__(self, model: Flamingo, tokenizer: Any, transform: ImageTransform, caption_prefix: str = "") -> None:
        self.model, self.tokenizer, self.transform = model.eval(), tokenizer, transform
        self.caption_prefix = caption_prefix

    @classmethod
    def load(cls, config: str | TrainConfig, overrides: Sequence[str] = (), device: str | None = None) -> TrainedFlamingo:
        """The run that ``config`` (a YAML path or a ``TrainConfig``) describes, with its latest trained weights."""
        from flamboyance.flamingo_model.checkpoint import load_trained
        from flamboyance.flamingo_model.parts import load_parts
        from flamboyance.shards.config import load

        if not isinstance(config, TrainConfig):
            config = load(TrainConfig, config, overrides)
        model, tokenizer, transform = load_parts(config)
        model.load_trainable_state_dict(load_trained(config.output))
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        return cls(model, tokenizer, transform)

    def example(self, image: ImageInput, answer: str = "", question: str | None = None) -> FewShotExample:
        """A prompt example: the image as the encoder expects it, with its text."""
        return FewShotExample(self.transform(_as_bytes(image)), answer, question)

    def caption(self, image: ImageInput, support: Sequence[FewShotExample] = (), max_new_tokens: int = 20, num_beams: int = 3) -> str:
        """A caption of ``image`` by beam search that stops at ``<EOC>``."""
        return self._complete(self.example(image), support, max_new_tokens, num_beams)

    def ask(self, image: ImageInput, question: str, support: Sequence[FewShotExample] = (), max_new_tokens: int = 20, num_beams: int = 3) -> str:
        """The answer to ``question`` about ``image``, in the ``Question: ... Answer:`` format."""
        return self._complete(self.example(image, question=question), support, max_new_tokens, num_beams)

    def score(self, image: ImageInput, candidates: Sequence[str], support: Sequence[FewShotExample] = (), question: str | None = None) -> list[float]:
        """The log-likelihood of each candidate text as the caption (or answer) of ``image``."""
        query = self.example(image, question=question)
        prompt = encode_prompt(self.model, self.tokenizer, list(support), query, True, self.caption_prefix)
        return score_candidates(self.model, self.tokenizer, prompt, query, list(candidates), self.caption_prefix).tolist()

    @torch.no_grad()
    def complete_many(
        self, prompts: Sequence[tuple[FewShotExample, Sequence[FewShotExample]]], max_new_tokens: int = 20, num_beams: int = 3
    ) -> list[str]:
        """The answers to several (query, support examples) prompts, as ``caption``/``ask`` give them.

        Prompts with as many tokens and images as each other decode as one batch (one
        forward pass per step for all of them): what a server does with concurrent requests.
        """
        rendered = [
            (
                self.tokenizer.encode(render_prompt(list(support), query, True, self.caption_prefix), add_special_tokens=False),
                [example.image for example in support] + [query.image],
            )
            for query, support in prompts
        ]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for number, (ids, images) in enumerate(rendered):
            groups[len(ids), len(images)].append(number)
        device = next(self.model.parameters()).device
        answers = [""] * len(rendered)
        for members in groups.values():
            images = torch.stack([torch.stack(rendered[number][1]) for number in members]).to(device)
            media = self.model.encode_media(images[:, :, None])
            outputs = generate_batch(self.model, [rendered[number][0] for number in members], media, max_new_tokens, num_beams)
            for number, tokens in zip(members, outputs):
                answers[number] = self.tokenizer.decode(tokens).strip()
        return answers

    def _complete(self, query: FewShotExample, support: Sequence[FewShotExample], max_new_tokens: int, num_beams: int) -> str:
        return self.complete_many([(query, support)], max_new_tokens, num_beams)[0]


def _as_bytes(image: ImageInput) -> bytes:
    if isinstance(image, bytes):
        return image
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()
