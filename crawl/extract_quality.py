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
from typing import Any, Iterable

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


@dataclass(frozen=True)
class ImageScore:
    """Image recall and precision against a reference's images, and whether its lead image came first."""

    expected: int
    found: int
    matched: int  # reference images found
    correct: int  # found images that are reference images
    lead_kept: bool | None  # None: the reference has no image


def image_score(predicted: list[str], expected: list[frozenset[str]]) -> ImageScore:
    """Compare image URLs in order; each reference image is the set of its renditions'
    URLs (``src``, ``srcset`` candidates), since extractors pick different renditions of
    one image. The lead image is the reference's first image."""
    found = list(dict.fromkeys(predicted))
    matched = sum(any(url in renditions for url in found) for renditions in expected)
    correct = sum(any(url in renditions for renditions in expected) for url in found)
    lead = (bool(found) and found[0] in expected[0]) if expected else None
    return ImageScore(len(expected), len(found), matched, correct, lead)


@dataclass(frozen=True)
class ReferencePage(BenchmarkPage):
    """A page with a curated article that also lists the article's images, in order."""

    images: tuple[frozenset[str], ...] = ()


def load_readability_pages(folder: str | Path, limit: int | None = None) -> list[ReferencePage]:
    """Pages of Mozilla Readability's test suite (``pages/NAME/source.html.gz`` + ``expected.html.gz``).

    The truth text is the expected article's text. Its images are the ``<img src>`` URLs,
    resolved against the URL the pages were saved for, each with the other renditions
    the source page offers for the same ``<img>`` (its srcset candidates and those of the
    ``<source>`` elements of its ``<picture>``).
    """
    from lxml import html as lxml_html

    from flamboyance.crawl.image_urls import SOURCE_ATTRIBUTES, SRCSET_ATTRIBUTES, normalize_url, parse_srcset

    def urls(image: Any) -> set[str]:
        references = [image.get(name) or "" for name in SOURCE_ATTRIBUTES]
        picture = next((e for e in image.iterancestors() if e.tag == "picture"), None)
        holders = [image, *(picture.iter("source") if picture is not None else ())]
        references += [url for holder in holders for name in SRCSET_ATTRIBUTES for url, _, _ in parse_srcset(holder.get(name) or "")]
        return {url for url in (normalize_url(r, base) for r in references if r) if url}

    folder = Path(folder)
    base = "http://fakehost/test/page.html"
    pages = []
    for page_dir in sorted(p for p in (folder / "pages").iterdir() if p.is_dir())[:limit]:
        source = gzip.decompress((page_dir / "source.html.gz").read_bytes()).decode("utf-8", "replace")
        expected = gzip.decompress((page_dir / "expected.html.gz").read_bytes()).decode("utf-8", "replace")
        tree = lxml_html.fromstring(expected)
        truth = "\n\n".join(t for t in (" ".join(block.split()) for block in tree.itertext()) if t)
        renditions: dict[str, set[str]] = {}
        for image in lxml_html.fromstring(source).iter("img"):
            group = urls(image)
            for url in group:
                renditions.setdefault(url, set()).update(group)
        images: list[frozenset[str]] = []
        for image in tree.iter("img"):
            src = normalize_url(image.get("src") or "", base)
            if src and not any(src in group for group in images):
                images.append(frozenset(renditions.get(src, set()) | {src}))
        pages.append(ReferencePage(page_dir.name, base, source, truth, tuple(images)))
    return pages
