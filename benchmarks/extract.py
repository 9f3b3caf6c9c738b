"""Quality and speed of our page extractor against trafilatura and resiliparse, on two sets.

Usage (from the project root)::

    nice python benchmarks/extract.py [--data ../shared/data] [--rounds 2] [--core 0] [--worst 0]

Two development sets, so that what is tuned on one is checked on the other:
article-extraction-benchmark (181 news pages, hand-made article text) and Mozilla
Readability's test pages (130 pages of many kinds and languages, curated article text
*and* images). Every extractor runs on every page in one process pinned to one core,
interleaved round by round so that load from other processes hits them alike; each one's
F1 (metric: ``crawl/extract_quality.py``) and its best round's pages per CPU second are
printed (CPU time of this process, so that other processes on a shared machine do not
count), with the ratio of our speed to trafilatura's fast mode.

Images (ours only: the others return text): on readability-test-pages, recall and
precision of the article's images, and the lead-image rate, the share of pages with
images whose first extracted image is the reference's first. On article-extraction-benchmark,
which has no image truth, the lead image is the page's og:image / twitter:image where that
image is also shown in the page; the rate is how often our first image is it.
``--worst N`` lists our N lowest-scoring pages of each set, for looking at.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Callable

import trafilatura
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from flamboyance.crawl.extract import ExtractedPage, extract_page
from flamboyance.crawl.extract_quality import (
    BenchmarkPage,
    image_score,
    load_benchmark,
    load_readability_pages,
    page_score,
    set_score,
)  # fmt: skip
from flamboyance.shards.document import ImageNode

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

Extractor = Callable[[BenchmarkPage], object]


def _resiliparse(page: BenchmarkPage) -> str:
    return extract_plain_text(HTMLTree.parse(page.html), main_content=True)


EXTRACTORS: dict[str, Extractor] = {
    "flamboyance": lambda page: extract_page(page.html, page.url),
    "trafilatura": lambda page: trafilatura.extract(page.html, url=page.url) or "",
    "trafilatura fast": lambda page: trafilatura.extract(page.html, url=page.url, fast=True) or "",
    "resiliparse": _resiliparse,
}


def _text(output: object) -> str:
    return output.text() if isinstance(output, ExtractedPage) else str(output)


def _images(output: ExtractedPage) -> list[str]:
    return [node.url for node in output.nodes if isinstance(node, ImageNode)]


def run_set(name: str, pages: list[BenchmarkPage], extractors: list[str], rounds: int, worst: int) -> None:
    best_seconds = {extractor: float("inf") for extractor in extractors}
    outputs: dict[str, list[object]] = {}
    for _ in range(rounds):
        for extractor in extractors:
            run = EXTRACTORS[extractor]
            start = time.process_time()
            outputs[extractor] = [run(page) for page in pages]
            best_seconds[extractor] = min(best_seconds[extractor], time.process_time() - start)
    print(f"\n{name}: {len(pages)} pages, best of {rounds} interleaved rounds, one core")
    print(f"{'extractor':<18} {'F1':>6} {'prec':>6} {'recall':>6} {'empty':>6} {'pages/s':>8}  (per CPU second)")
    for extractor in extractors:
        texts = [_text(output) for output in outputs[extractor]]
        score = set_score(page_score(text, page.truth) for text, page in zip(texts, pages))
        empty = sum(not text.strip() for text in texts)
        rate = len(pages) / best_seconds[extractor]
        print(f"{extractor:<18} {score.f1:6.3f} {score.precision:6.3f} {score.recall:6.3f} {empty:6d} {rate:8.1f}")
    if "flamboyance" in outputs and "trafilatura fast" in outputs:
        print(f"speed ours / trafilatura fast: {best_seconds['trafilatura fast'] / best_seconds['flamboyance']:.1f}x")
    if "flamboyance" not in outputs:
        return
    ours = outputs["flamboyance"]
    _print_images(pages, ours)
    if worst:
        scored = [(page_score(_text(o), p.truth), p) for o, p in zip(ours, pages)]
        scored.sort(key=lambda item: 2 * item[0].precision * item[0].recall / (item[0].precision + item[0].recall or 1))
        for score, page in scored[:worst]:
            print(f"  P={score.precision:.2f} R={score.recall:.2f} {page.id[:30]} {page.url}")


def _print_images(pages: list[BenchmarkPage], ours: list[ExtractedPage]) -> None:
    if any(getattr(page, "images", ()) for page in pages):
        scores = [image_score(_images(o), list(p.images)) for o, p in zip(ours, pages)]
        expected = sum(s.expected for s in scores)
        found = sum(s.found for s in scores)
        matched = sum(s.matched for s in scores)
        correct = sum(s.correct for s in scores)
        leads = [s.lead_kept for s in scores if s.lead_kept is not None]
        print(
            f"images (ours): recall {matched / max(expected, 1):.3f} ({matched}/{expected}), "
            f"precision {correct / max(found, 1):.3f} ({correct}/{found}), "
            f"lead image first on {sum(leads)}/{len(leads)} pages ({sum(leads) / max(len(leads), 1):.3f})"
        )
        return
    # No image truth: the lead image is the page's og/twitter image, where the page shows it.
    leads = [(o, o.lead_image) for o in ours if o.lead_image]
    kept = sum(bool(_images(o)) and _images(o)[0] == lead for o, lead in leads)
    print(f"lead image (og:image shown in the page) first on {kept}/{len(leads)} pages ({kept / max(len(leads), 1):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the shared data folder")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (-1: do not pin)")
    parser.add_argument("--only", nargs="*", default=list(EXTRACTORS), choices=list(EXTRACTORS))
    parser.add_argument("--sets", nargs="*", default=["aeb", "readability"], choices=["aeb", "readability"])
    parser.add_argument("--worst", type=int, default=0)
    args = parser.parse_args()
    if args.core >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    data = Path(args.data)
    if "aeb" in args.sets:
        run_set("article-extraction-benchmark", load_benchmark(data / "article-extraction-benchmark"), args.only, args.rounds, args.worst)
    if "readability" in args.sets:
        run_set("readability-test-pages", load_readability_pages(data / "readability-test-pages"), args.only, args.rounds, args.worst)


if __name__ == "__main__":
    main()
