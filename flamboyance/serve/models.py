"""The served models, loaded once per process, each behind a batcher.

``flamboyance serve`` runs in one process with many threads (waitress), so "each worker
loads the model once" means: the process loads Flamingo, the encoder and the index
once, and every request thread shares them through the batchers, which is also what
lets concurrent requests share a forward pass.
"""

from __future__ import annotations

import io
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from flamboyance.filter.safety import SAFE_PROMPTS, UNSAFE_PROMPTS, PromptScorer
from flamboyance.flamingo_model.fewshot import FewShotExample
from flamboyance.flamingo_model.inference import TrainedFlamingo
from flamboyance.pretrain_encoder.evaluate import SINGLE_TEMPLATE
from flamboyance.pretrain_encoder.export import load_open_clip
from flamboyance.serve.batching import BATCH_TIMEOUT, Batcher
from flamboyance.serve.paths import ModelPaths
from flamboyance.serve.search import SearchIndex


@dataclass(frozen=True)
class BatchSettings:
    max_batch: int = 8
    max_wait: float = 0.005
    max_queue: int = 256


@dataclass(frozen=True)
class Generation:
    """One open-ended request for Flamingo: its query, support examples and decoding settings."""

    query: FewShotExample
    support: tuple[FewShotExample, ...]
    max_new_tokens: int
    num_beams: int


@dataclass(frozen=True)
class Ranking:
    """One close-ended request for Flamingo: candidates to score for its query (image and question)."""

    query: FewShotExample
    support: tuple[FewShotExample, ...]
    candidates: tuple[str, ...]


@torch.no_grad()
def embed_jpegs(model: Any, preprocess: Any, jpegs: list[bytes], device: str = "cpu") -> torch.Tensor:
    """[N, D] unit-length image embeddings of encoded images, in one forward pass."""
    pixels = torch.stack([preprocess(Image.open(io.BytesIO(jpeg)).convert("RGB")) for jpeg in jpegs]).to(device)
    return model.encode_image(pixels, normalize=True).float().cpu()


class Encoder:
    """The CLIP-style encoder: image and text embeddings (unit length), batched."""

    def __init__(self, folder: str, batching: BatchSettings, device: str) -> None:
        self.model, self.tokenizer, self.preprocess = load_open_clip(folder, device)
        self.device = device
        self.logit_scale = float(self.model.logit_scale.detach().exp())
        self.images = Batcher(self._embed_images, batching.max_batch, batching.max_wait, batching.max_queue, "images")
        # A request's texts (one query, or all its labels) are one item.
        self.texts = Batcher(self._embed_texts, batching.max_batch, batching.max_wait, batching.max_queue, "texts")
        self.safety = PromptScorer.from_model(self.model, self.tokenizer, preprocess=self.preprocess)
        self.concepts = [*UNSAFE_PROMPTS, *SAFE_PROMPTS]

    def _embed_images(self, jpegs: list[bytes]) -> list[torch.Tensor]:
        return list(embed_jpegs(self.model, self.preprocess, jpegs, self.device))

    @torch.no_grad()
    def _embed_texts(self, groups: list[list[str]]) -> list[torch.Tensor]:
        texts = [text for group in groups for text in group]
        embeddings = self.model.encode_text(self.tokenizer(texts).to(self.device), normalize=True).float().cpu()
        return list(embeddings.split([len(group) for group in groups]))

    def embed_image(self, jpeg: bytes) -> torch.Tensor:
        return self.images.submit(jpeg)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        return self.texts.submit(texts)

    def classify(self, jpeg: bytes, labels: list[str], template: str = SINGLE_TEMPLATE[0]) -> list[float]:
        """Zero-shot probabilities of ``labels`` for the image, CLIP's way (``template`` holds ``{c}``)."""
        image = self.images.enqueue(jpeg)  # both queued at once: the two batches run side by side
        classes = self.embed_texts([template.format(c=label) for label in labels])
        image = image.result(BATCH_TIMEOUT)
        return (self.logit_scale * classes @ image).softmax(-1).tolist()

    def moderate(self, jpeg: bytes) -> list[float]:
        """The safety step's probability for each of ``self.concepts`` (unsafe ones first)."""
        return self.safety.probabilities(self.embed_image(jpeg)[None])[0].tolist()


class Flamingo:
    """Flamingo captioning, answering and ranking, batched."""

    def __init__(self, config: str, batching: BatchSettings, device: str | None) -> None:
        self.trained = TrainedFlamingo.load(config, device=device)
        # The model holds per-call state (its cross-attention layers keep the media of the
        # forward pass running), so the two batchers' workers take turns with it.
        self.lock = threading.Lock()
        self.generations = Batcher(self._generate, batching.max_batch, batching.max_wait, batching.max_queue, "generate")
        self.rankings = Batcher(self._rank, batching.max_batch, batching.max_wait, batching.max_queue, "rank")

    def _generate(self, jobs: list[Generation]) -> list[str]:
        """Jobs with the same decoding settings run through ``complete_many`` together."""
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for number, job in enumerate(jobs):
            groups[job.max_new_tokens, job.num_beams].append(number)
        answers = [""] * len(jobs)
        for (max_new_tokens, num_beams), members in groups.items():
            prompts = [(jobs[number].query, jobs[number].support) for number in members]
            with self.lock:
                completed = self.trained.complete_many(prompts, max_new_tokens, num_beams)
            for number, answer in zip(members, completed):
                answers[number] = answer
        return answers

    def _rank(self, jobs: list[Ranking]) -> list[list[float]]:
        with self.lock:
            return self.trained.score_many([(job.query, job.support, job.candidates) for job in jobs])

    def example(self, jpeg: bytes, text: str = "", question: str | None = None) -> FewShotExample:
        return self.trained.example(jpeg, text, question)

    def generate(self, job: Generation) -> str:
        return self.generations.submit(job)

    def rank(self, job: Ranking) -> list[float]:
        return self.rankings.submit(job)


class Models:
    """Everything a server answers with; any part may be missing (its endpoints then say so)."""

    def __init__(self, paths: ModelPaths, batching: BatchSettings = BatchSettings(), device: str | None = None) -> None:
        self.paths = paths
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.encoder = Encoder(paths.encoder, batching, device) if paths.encoder else None
        self.flamingo = Flamingo(paths.flamingo, batching, device) if paths.flamingo else None
        self.index = SearchIndex.load(paths.index) if paths.index else None

    def batch_stats(self) -> dict[str, Any]:
        batchers: dict[str, Any] = {}
        if self.encoder:
            batchers.update(images=self.encoder.images, texts=self.encoder.texts)
        if self.flamingo:
            batchers.update(generate=self.flamingo.generations, rank=self.flamingo.rankings)
        return {name: batcher.stats() for name, batcher in batchers.items()}
