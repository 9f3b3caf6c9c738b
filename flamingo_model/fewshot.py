"""Few-shot evaluation: prompts built from support examples, RICES selection, prompt ensembles.

A prompt shows ``shots`` support examples, each its image then its text, and ends with
the query's image and the text up to the answer; Flamingo then completes it. Formats
are the paper's: captioning ``<image>Output: {answer}<EOC>``, VQA
``<image>Question: {question} Answer: {answer}<EOC>``. Zero-shot prompts show two
examples as text only (no images), which tells the model the format without any
visual example. RICES picks as shots the support examples whose encoder embeddings are
nearest the query image (the most similar shown last, nearest the query), and an
ensemble averages the answer scores of several orderings of the shots.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

import torch

from flamboyance.flamingo_model.generation import generate
from flamboyance.flamingo_model.model import Flamingo
from flamboyance.flamingo_model.scoring import candidate_log_likelihoods
from flamboyance.flamingo_model.tokens import END_OF_CHUNK_TOKEN, IMAGE_TOKEN

log = logging.getLogger(__name__)


@dataclass
class FewShotExample:
    """An image [C, H, W] (already transformed for the encoder), its answer, and a question for VQA."""

    image: torch.Tensor | None
    answer: str
    question: str | None = None


def lead_in(example: FewShotExample, caption_prefix: str = "Output:") -> str:
    """The text before the answer: ``Output:`` for captions, ``Question: ... Answer:`` for VQA.

    ``caption_prefix=""`` gives bare captions, the form pair shards train on (``<image>caption<EOC>``).
    """
    return caption_prefix if example.question is None else f"Question: {example.question} Answer:"


def render_prompt(
    support: list[FewShotExample], query: FewShotExample, with_images: bool = True, caption_prefix: str = "Output:"
) -> str:
    """The prompt text for ``query`` after ``support`` (images only as ``<image>`` markers)."""
    image = IMAGE_TOKEN if with_images else ""

    def shown(example: FewShotExample) -> str:
        return " ".join(part for part in (lead_in(example, caption_prefix), example.answer) if part)

    return (
        "".join(f"{image}{shown(example)}{END_OF_CHUNK_TOKEN}" for example in support)
        + f"{IMAGE_TOKEN}{lead_in(query, caption_prefix)}"
    )


def rices(query_embedding: torch.Tensor, support_embeddings: torch.Tensor, shots: int) -> list[int]:
    """Indices of the ``shots`` support examples most similar to the query, most similar last."""
    similarity = support_embeddings @ query_embedding
    return similarity.topk(min(shots, len(similarity))).indices.flip(0).tolist()


Prompt = tuple[list[int], torch.Tensor]


def context_length(model: Flamingo) -> int | None:
    """The most tokens the language model takes at once (None when its config does not say)."""
    config = model.lm.config
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)


def fit_prompt(
    model: Flamingo, tokenizer: Any, shots: list[FewShotExample], query: FewShotExample, with_images: bool = True,
    caption_prefix: str = "Output:", reserve: int = 0,
) -> tuple[list[int], list[FewShotExample]]:
    """(token ids, the shots kept) of the prompt showing ``shots`` then the query's image and lead-in.

    ``reserve`` tokens are kept free for the answer. A prompt that would not fit the LM's
    context loses whole support examples, oldest first, with a warning; one that does not
    fit even without them is refused with a clear message.
    """
    limit = context_length(model)
    ids = tokenizer.encode(render_prompt(shots, query, with_images, caption_prefix), add_special_tokens=False)
    dropped = 0
    while limit is not None and len(ids) + reserve > limit and shots:
        shots, dropped = shots[1:], dropped + 1
        ids = tokenizer.encode(render_prompt(shots, query, with_images, caption_prefix), add_special_tokens=False)
    if limit is not None and len(ids) + reserve > limit:
        raise ValueError(f"the query alone needs {len(ids) + reserve} tokens, more than the LM's context of {limit}")
    if dropped:
        log.warning("prompt cut to fit the LM's context of %d tokens: %d oldest support example(s) left out", limit, dropped)
    return ids, shots


def encode_prompt(
    model: Flamingo, tokenizer: Any, shots: list[FewShotExample], query: FewShotExample, with_images: bool = True,
    caption_prefix: str = "Output:", reserve: int = 0,
) -> Prompt:
    """(token ids, visual tokens) of the prompt ``fit_prompt`` makes."""
    ids, shots = fit_prompt(model, tokenizer, shots, query, with_images, caption_prefix, reserve)
    device = next(model.parameters()).device
    images = [example.image for example in shots] if with_images else []
    stacked = torch.stack(images + [query.image]).to(device)
    return ids, model.encode_media(stacked[None, :, None])


def candidate_ids(tokenizer: Any, query: FewShotExample, candidates: list[str], caption_prefix: str = "Output:") -> list[list[int]]:
    """The token ids of each candidate answer as it would follow the query's lead-in, ``<EOC>`` included."""
    space = " " if lead_in(query, caption_prefix) else ""
    return [tokenizer.encode(f"{space}{candidate}{END_OF_CHUNK_TOKEN}", add_special_tokens=False) for candidate in candidates]


@torch.no_grad()
def score_candidates(
    model: Flamingo, tokenizer: Any, prompt: Prompt, query: FewShotExample, candidates: list[str], caption_prefix: str = "Output:",
    length_normalize: bool = False,
) -> torch.Tensor:
    """The log-likelihood of each candidate answer (ending in ``<EOC>``) after ``prompt``, [C]; per token with ``length_normalize``."""
    ids, media = prompt
    return candidate_log_likelihoods(model, ids, candidate_ids(tokenizer, query, candidates, caption_prefix), media, length_normalize)


@torch.no_grad()
def complete(model: Flamingo, tokenizer: Any, prompt: Prompt, max_new_tokens: int = 20, num_beams: int = 3) -> str:
    """The open-ended continuation of ``prompt`` (beam search, stops at ``<EOC>``)."""
    ids, media = prompt
    return tokenizer.decode(generate(model, ids, media, max_new_tokens, num_beams)).strip()


class FewShotEvaluator:
    """Answers queries with a Flamingo model prompted by support examples.

    ``shots=0`` gives zero-shot prompts with two text-only examples; ``use_rices`` picks
    shots by image similarity instead of at random; ``ensembles`` > 1 averages the
    candidates' log-likelihoods over that many random orderings of the shots;
    ``length_normalize`` ranks candidates by mean rather than summed log-probability.
    """

    def __init__(
        self,
        model: Flamingo,
        tokenizer: Any,
        support: list[FewShotExample],
        shots: int = 4,
        use_rices: bool = False,
        ensembles: int = 1,
        seed: int = 0,
        caption_prefix: str = "Output:",
        length_normalize: bool = False,
        reserve: int = 32,
    ) -> None:
        if shots > len(support) or (shots == 0 and len(support) < 2):
            raise ValueError(f"{len(support)} support examples cannot give {max(shots, 2)}-example prompts")
        self.model, self.tokenizer, self.support = model, tokenizer, support
        self.shots, self.use_rices, self.ensembles = shots, use_rices, max(1, ensembles)
        self.caption_prefix, self.length_normalize, self.reserve = caption_prefix, length_normalize, reserve
        self.rng = random.Random(seed)
        self._support_embeddings: torch.Tensor | None = None

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def choose_shots(self, query: FewShotExample) -> list[FewShotExample]:
        if self.shots == 0:
            return self.rng.sample(self.support, 2)
        if not self.use_rices:
            return self.rng.sample(self.support, self.shots)
        if self._support_embeddings is None:
            images = torch.stack([example.image for example in self.support]).to(self._device())
            self._support_embeddings = self.model.vision.embed(images)
        query_embedding = self.model.vision.embed(query.image[None].to(self._device()))[0]
        return [self.support[i] for i in rices(query_embedding, self._support_embeddings, self.shots)]

    def prompts(self, query: FewShotExample) -> list[tuple[list[int], torch.Tensor | None]]:
        """(prompt token ids, visual tokens) for each ordering of the shots in the ensemble."""
        shots = self.choose_shots(query)
        with_images = self.shots > 0
        prompts = []
        for number in range(self.ensembles):
            order = shots if number == 0 else self.rng.sample(shots, len(shots))
            prompts.append(encode_prompt(self.model, self.tokenizer, order, query, with_images, self.caption_prefix, self.reserve))
        return prompts

    @torch.no_grad()
    def scores(self, query: FewShotExample, candidates: list[str]) -> torch.Tensor:
        """Mean log-likelihood of each candidate answer over the ensemble's prompts, [C]."""
        return torch.stack(
            [
                score_candidates(self.model, self.tokenizer, prompt, query, candidates, self.caption_prefix, self.length_normalize)
                for prompt in self.prompts(query)
            ]
        ).mean(0)

    def classify(self, query: FewShotExample, candidates: list[str]) -> str:
        return candidates[int(self.scores(query, candidates).argmax())]

    def accuracy(self, queries: list[FewShotExample], candidates: list[str]) -> float:
        """Share of queries whose best-scored candidate is their answer."""
        return sum(self.classify(query, candidates) == query.answer for query in queries) / len(queries)

    @torch.no_grad()
    def answer(self, query: FewShotExample, max_new_tokens: int = 20, num_beams: int = 3) -> str:
        """An open-ended answer (beam search, stops at ``<EOC>``), from the first prompt of the ensemble."""
        return complete(self.model, self.tokenizer, self.prompts(query)[0], max_new_tokens, num_beams)


def pair_examples(urls: list[str], transform: Any, limit: int | None = None) -> list[FewShotExample]:
    """Few-shot examples from pair shards (``KEY.jpg`` + ``KEY.txt``); unreadable samples are skipped and counted."""
    from flamboyance.shards import storage
    from flamboyance.shards.loader.examples import pair_caption
    from flamboyance.shards.loader.reader import DropSample
    from flamboyance.shards.stats import Stats
    from flamboyance.shards.tar_samples import iter_samples

    examples, stats = [], Stats()
    for url in storage.expand(urls):
        for sample in iter_samples(url, 0, stats):
            try:
                examples.append(FewShotExample(transform(sample["jpg"]), pair_caption(sample)))
            except (DropSample, KeyError, ValueError, OSError) as error:
                stats.add(f"eval/dropped/{getattr(error, 'reason', type(error).__name__)}")
            if limit is not None and len(examples) == limit:
                return examples
    return examples
