"""The Python API: what a notebook user does, as thin functions over the code the CLI runs.

Each function takes the same settings as its command (a YAML path or a config object,
plus ``key=value`` overrides) and returns what the command prints a summary of. Heavy
libraries (Ray, torch) are imported inside the functions, so ``import flamboyance`` is cheap.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

# ``flamboyance build`` itself; its module imports nothing heavy at import time.
from flamboyance.crawl.build_command import build

__all__ = ["build", "dedup", "evaluate", "load_flamingo", "pretrain_encoder", "read_documents", "stats", "train"]

if TYPE_CHECKING:
    from flamboyance.filter.dedup.config import DedupConfig
    from flamboyance.flamingo_model.config import TrainConfig
    from flamboyance.flamingo_model.inference import TrainedFlamingo
    from flamboyance.pretrain_encoder.config import EncoderConfig
    from flamboyance.shards.document import Document
    from flamboyance.shards.executor import StageResult


def dedup(build: str, output: str, config: str | DedupConfig | None = None, overrides: Sequence[str] = (),
          ray_address: str | None = None, show_progress: bool = False) -> StageResult:
    """Remove duplicate documents, paragraphs and images across a finished build (``flamboyance dedup``)."""
    from flamboyance.filter.dedup.config import DedupConfig
    from flamboyance.filter.dedup.stage import run_dedup
    from flamboyance.shards.config import load

    if not isinstance(config, DedupConfig):
        config = load(DedupConfig, config, overrides)
    return run_dedup(build, output, config, ray_address, show_progress)


def stats(output: str, html: str | None = None) -> dict[str, Any]:
    """The filter funnel of a build or dedup output, and the path of its HTML audit report (``flamboyance stats``)."""
    from flamboyance.filter.report.funnel import format_funnel, funnel, load_build
    from flamboyance.filter.report.html import write_report

    counts, report = load_build(output)
    return {"funnel": format_funnel(funnel(counts, report)), "stats": counts, "report": write_report(output, counts, report, html)}


def read_documents(path: str) -> Iterator[Document]:
    """The documents of a shard, a shard set folder or a build output, in order (images not decoded)."""
    from flamboyance.shards.inspect import iter_documents, resolve_shards

    return iter_documents(resolve_shards(path))


def pretrain_encoder(config: str | EncoderConfig | None = None, overrides: Sequence[str] = ()) -> dict[str, float]:
    """CLIP-style contrastive pretraining on pair shards (``flamboyance pretrain-encoder``); the last evaluation's metrics."""
    from flamboyance.pretrain_encoder.config import EncoderConfig
    from flamboyance.pretrain_encoder.train import train as run
    from flamboyance.shards.config import load

    if not isinstance(config, EncoderConfig):
        config = load(EncoderConfig, config, overrides)
    return run(config)


def train(config: str | TrainConfig | None = None, overrides: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Train Flamingo on weighted shard sets in this process (``flamboyance train``); one record per step run."""
    import torch

    from flamboyance.flamingo_model.config import TrainConfig
    from flamboyance.flamingo_model.data import training_datasets
    from flamboyance.flamingo_model.parts import load_parts
    from flamboyance.flamingo_model.train import train as run
    from flamboyance.shards.config import load

    if not isinstance(config, TrainConfig):
        config = load(TrainConfig, config, overrides)
    torch.manual_seed(config.seed)
    model, tokenizer, transform = load_parts(config)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return run(model, training_datasets(config, tokenizer, transform), config, device)


def evaluate(config: str | TrainConfig, support: Sequence[str], queries: Sequence[str], shots: int = 4,
             overrides: Sequence[str] = (), **options: Any) -> dict[str, Any]:
    """Few-shot accuracy of a trained run on pair shards (``flamboyance eval``); ``options`` as the command's flags."""
    from flamboyance.flamingo_model.config import TrainConfig
    from flamboyance.flamingo_model.eval_command import evaluate as run
    from flamboyance.shards.config import load

    if not isinstance(config, TrainConfig):
        config = load(TrainConfig, config, overrides)
    return run(config, list(support), list(queries), shots, **options)


def load_flamingo(config: str | TrainConfig, overrides: Sequence[str] = ()) -> TrainedFlamingo:
    """A trained Flamingo run, ready to ``caption(image)``, ``ask(image, question)`` and ``score(image, texts)``."""
    from flamboyance.flamingo_model.inference import TrainedFlamingo

    return TrainedFlamingo.load(config, overrides)
