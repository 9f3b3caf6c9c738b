"""A trained Flamingo run, loaded once and asked about one image at a time.

What a notebook (``flamboyance.load_flamingo``) and a server need: load the run's parts
and trained weights from its config, then caption an image, answer a question about it,
or score candidate texts for it, optionally after support examples shown Flamingo's way
(each support image followed by its text).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from flamboyance.flamingo_model.config import TrainConfig
from flamboyance.flamingo_model.fewshot import FewShotExample, candidate_ids, complete, encode_prompt
from flamboyance.flamingo_model.model import Flamingo
from flamboyance.flamingo_model.scoring import candidate_log_likelihoods
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
        query = self.example(image, question=question)
        ids = candidate_ids(self.tokenizer, query, list(candidates), self.caption_prefix)
        prompt, media = encode_prompt(self.model, self.tokenizer, list(support), query, True, self.caption_prefix, max(map(len, ids)))
        return candidate_log_likelihoods(self.model, prompt, ids, media, length_normalize).tolist()

    def _complete(self, query: FewShotExample, support: Sequence[FewShotExample], max_new_tokens: int, num_beams: int) -> str:
        prompt = encode_prompt(self.model, self.tokenizer, list(support), query, True, self.caption_prefix, max_new_tokens)
        return complete(self.model, self.tokenizer, prompt, max_new_tokens, num_beams)


def _as_bytes(image: ImageInput) -> bytes:
    if isinstance(image, bytes):
        return image
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()
