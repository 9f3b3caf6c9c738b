"""Quality and speed of our page extractor against trafilatura, on the article benchmark.

Usage (from the project root)::

    python benchmarks/extract.py [--data ../shared/data/article-extraction-benchmark]
                                 [--rounds 3] [--core 0] [--worst 0]

Runs every extractor on every page in one process pinned to one core, interleaving the
extractors round by round so that load from other processes hits them alike, and
reports each one's F1 (metric: ``crawl/extract_quality.py``) and its best round's
pages per second. ``--worst N`` lists our N lowest-scoring pages, for tuning.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Callable

import trafilatura

from flamboyance.crawl.extract import extract_page
from flamboyance.crawl.extract_quality import BenchmarkPage, load_benchmark, page_score, set_score

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "article-extraction-benchmark"

Extractor = Callable[[BenchmarkPage], str]

EXTRACTORS: dict[str, Extractor] = {
    "flamboyance": lambda page: extract_page(page.html, page.url).text(),
    "trafilatura": lambda page: trafilatura.extract(page.html, url=page.url) or "",
    "trafilatura fast": lambda page: trafilatura.extract(page.html, url=page.url, fast=True) or "",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (-1: do not pin)")
    parser.add_argument("--only", nargs="*", default=list(EXTRACTORS), choices=list(EXTRACTORS))
    parser.add_argument("--worst", type=int, default=0)
    args = parser.parse_args()
    if args.core >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    pages = load_benchmark(args.data)
    best_seconds = {name: float("inf") for name in args.only}
    outputs: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name in args.only:
            extractor = EXTRACTORS[name]
            start = time.perf_counter()
            outputs[name] = [extractor(page) for page in pages]
            best_seconds[name] = min(best_seconds[name], time.perf_counter() - start)
    print(f"{len(pages)} pages, best of {args.rounds} interleaved rounds, one core")
    print(f"{'extractor':<18} {'F1':>6} {'prec':>6} {'recall':>6} {'pages/s':>8}")
    for name in args.only:
        score = set_score(page_score(text, page.truth) for text, page in zip(outputs[name], pages))
        rate = len(pages) / best_seconds[name]
        print(f"{name:<18} {score.f1:6.3f} {score.precision:6.3f} {score.recall:6.3f} {rate:8.1f}")
    if args.worst and "flamboyance" in outputs:
        scored = [(page_score(t, p.truth), p) for t, p in zip(outputs["flamboyance"], pages)]
        scored.sort(key=lambda item: 2 * item[0].precision * item[0].recall / (item[0].precision + item[0].recall or 1))
        for score, page in scored[: args.worst]:
            print(f"  P={score.precision:.2f} R={score.recall:.2f} {page.id[:12]} {page.url}")


if __name__ == "__main__":
    main()
