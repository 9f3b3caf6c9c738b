"""How well an extractor finds a page's article text: the article-extraction-benchmark metric.

Defined once here so that the benchmark script and the tests score extractors the same
way, and so our numbers compare with the published ones (scrapinghub's
article-extraction-benchmark): ``\\w+`` tokens, 4-token shingles counted as multisets,
per-page TP/FP/FN normalised by their sum, precision and recall averaged over pages,
F1 the harmonic mean of the two means.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_TOKEN = re.compile(r"\w+")
SHINGLE = 4


@dataclass(frozen=True)
class PageScore:
    """Precision and recall of one page's prediction against its ground truth."""

    precision: float
    recall: float


def shingles(text: str, size: int = SHINGLE) -> Counter[tuple[str, ...]]:
    """The multiset of ``size``-token windows of ``text`` (one window if it is shorter)."""
    tokens = _TOKEN.findall(text)
    if len(tokens) <= size:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def page_score(predicted: str, truth: str) -> PageScore:
    """Score one page; a page whose prediction and truth are both empty is perfect."""
    predicted_shingles, true_shingles = shingles(predicted), shingles(truth)
    tp = sum((predicted_shingles & true_shingles).values())
    fp = sum(predicted_shingles.values()) - tp
    fn = sum(true_shingles.values()) - tp
    total = tp + fp + fn
    if total == 0:
        return PageScore(1.0, 1.0)
    tp, fp, fn = tp / total, fp / total, fn / total
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return PageScore(precision, recall)


@dataclass(frozen=True)
class SetScore:
    """Mean precision and recall over a set of pages, and the F1 of the two means."""

    precision: float
    recall: float
    pages: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def set_score(scores: Iterable[PageScore]) -> SetScore:
    scores = list(scores)
    if not scores:
        raise ValueError("cannot score an empty set of pages")
    precision = sum(s.precision for s in scores) / len(scores)
    recall = sum(s.recall for s in scores) / len(scores)
    return SetScore(precision, recall, len(scores))


@dataclass(frozen=True)
class BenchmarkPage:
    """One page of the benchmark: its HTML, URL and hand-made article body."""

    id: str
    url: str
    html: str
    truth: str


def load_benchmark(folder: str | Path, limit: int | None = None) -> list[BenchmarkPage]:
    """Pages of an article-extraction-benchmark checkout (``html/*.html.gz`` + ground truth)."""
    folder = Path(folder)
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(truth)[:limit]:
        raw = gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes())
        entry = truth[page_id]
        pages.append(BenchmarkPage(page_id, entry.get("url", ""), raw.decode("utf-8", "replace"), entry["articleBody"]))
    return pages
