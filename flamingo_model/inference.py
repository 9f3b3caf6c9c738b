"""A trained Flamingo run, loaded once and asked about one image at a time.

What a notebook (``flamboyance.load_flamingo``) and a server need: load the run's parts
and trained weights from its config, then caption an image, answer a question about it,
or score candidate texts for it, optionally after support examples shown Flamingo's way
(each support image followed by its text).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import torch
from PIL import Image

from flamboyance.flamingo_model.config import TrainConfig
from flamboyance.flamingo_model.fewshot import FewShotExample, candidate_ids, fit_prompt
from flamboyance.flamingo_model.generation import generate_batch
from flamboyance.flamingo_model.model import Flamingo
from flamboyance.flamingo_model.scoring import candidate_log_likelihoods_many
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

    def score(
        self, image: ImageInput, candidates: Sequence[str], support: Sequence[FewShotExample] = (), question: str | None = None,
        length_normalize: bool = False,
    ) -> list[float]:
        """The log-likelihood of each candidate text as the caption (or answer) of ``image``; per token with ``length_normalize``."""
        return self.score_many([(self.example(image, question=question), support, candidates)], length_normalize)[0]

    @torch.no_grad()
    def score_many(
        self, queries: Sequence[tuple[FewShotExample, Sequence[FewShotExample], Sequence[str]]], length_normalize: bool = False
    ) -> list[list[float]]:
        """``score`` for several (query, support examples, candidates): the candidates of all
        queries with as many images as each other score in one forward pass."""
        candidates = [candidate_ids(self.tokenizer, query, list(texts), self.caption_prefix) for query, _, texts in queries]
        rendered = [
            self._rendered(query, support, max(map(len, ids))) for (query, support, _), ids in zip(queries, candidates)
        ]
        scores: list[list[float]] = [[] for _ in queries]
        for members, media in self._media_groups(rendered, lambda number: len(rendered[number][1])):
            batch = [(rendered[number][0], candidates[number], media[row : row + 1]) for row, number in enumerate(members)]
            for number, likelihoods in zip(members, candidate_log_likelihoods_many(self.model, batch, length_normalize)):
                scores[number] = likelihoods.tolist()
        return scores

    @torch.no_grad()
    def complete_many(
        self, prompts: Sequence[tuple[FewShotExample, Sequence[FewShotExample]]], max_new_tokens: int = 20, num_beams: int = 3
    ) -> list[str]:
        """The answers to several (query, support examples) prompts, as ``caption``/``ask`` give them.

        Prompts with as many tokens and images as each other decode as one batch (one
        forward pass per step for all of them): what a server does with concurrent requests.
        """
        rendered = [self._rendered(query, support, max_new_tokens) for query, support in prompts]
        answers = [""] * len(rendered)
        for members, media in self._media_groups(rendered, lambda number: (len(rendered[number][0]), len(rendered[number][1]))):
            outputs = generate_batch(self.model, [rendered[number][0] for number in members], media, max_new_tokens, num_beams)
            for number, tokens in zip(members, outputs):
                answers[number] = self.tokenizer.decode(tokens).strip()
        return answers

    def _rendered(self, query: FewShotExample, support: Sequence[FewShotExample], reserve: int) -> tuple[list[int], list[torch.Tensor]]:
        """(prompt token ids, its images in order) for ``query`` after ``support``, ``reserve`` tokens left for the answer."""
        ids, kept = fit_prompt(self.model, self.tokenizer, list(support), query, True, self.caption_prefix, reserve)
        return ids, [example.image for example in kept] + [query.image]

    def _media_groups(
        self, rendered: list[tuple[list[int], list[torch.Tensor]]], key: Callable[[int], Hashable]
    ) -> Iterator[tuple[list[int], torch.Tensor]]:
        """(prompt numbers, their visual tokens [B, N, R, D]) for each group of prompts of one ``key``."""
        groups: dict[Hashable, list[int]] = defaultdict(list)
        for number in range(len(rendered)):
            groups[key(number)].append(number)
        device = next(self.model.parameters()).device
        for members in groups.values():
            images = torch.stack([torch.stack(rendered[number][1]) for number in members]).to(device)
            yield members, self.model.encode_media(images[:, :, None])

    def _complete(self, query: FewShotExample, support: Sequence[FewShotExample], max_new_tokens: int, num_beams: int) -> str:
        return self.complete_many([(query, support)], max_new_tokens, num_beams)[0]


def _as_bytes(image: ImageInput) -> bytes:
    if isinstance(image, bytes):
        return image
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()
