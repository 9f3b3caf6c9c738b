"""Documents per second (one core) of our Gopher quality + repetition filters vs datatrove's.

Both run on the same documents, the hand-made article bodies of the article-extraction
benchmark (../shared/data), in one process, after a warm-up (spaCy's model load is not
timed). Our token caches are cleared before every round, so each round tokenises afresh.
Ours runs twice: with the default tokenisation (whitespace words, as the Gopher paper
reads) and with ``tokenizer="datatrove"`` (spaCy-like tokens, datatrove's decisions).

    python benchmarks/filters.py [--rounds 3]

Needs ``pip install datatrove spacy`` for the comparison.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from flamboyance.filter.gopher import GopherQuality, GopherRepetition
from flamboyance.filter.words import tokens, whitespace_words, words

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "article-extraction-benchmark"


def ours(texts: list[str], tokenizer: str = "whitespace") -> int:
    for cache in (tokens, whitespace_words, words):
        cache.cache_clear()
    quality, repetition = GopherQuality(tokenizer=tokenizer), GopherRepetition(tokenizer=tokenizer)
    return sum(quality(text) and repetition(text) for text in texts)


def ours_datatrove_tokens(texts: list[str]) -> int:
    return ours(texts, "datatrove")


def theirs(texts: list[str]) -> int:
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter

    quality, repetition = GopherQualityFilter(), GopherRepetitionFilter()
    kept = 0
    for index, text in enumerate(texts):
        document = Document(text=text, id=str(index))
        kept += quality.filter(document) is True and repetition.filter(document) is True
    return kept


def rate(run, texts: list[str], rounds: int) -> tuple[float, int]:
    run(texts[:5])  # warm-up: loads spaCy for datatrove
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        kept = run(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    articles = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    texts = [article["articleBody"] for article in articles.values()]
    our_rate, our_kept = rate(ours, texts, args.rounds)
    print(f"flamboyance (whitespace words, default): {our_rate:8.1f} docs/s  ({our_kept}/{len(texts)} kept)")
    token_rate, token_kept = rate(ours_datatrove_tokens, texts, args.rounds)
    print(f"flamboyance (tokenizer=datatrove):       {token_rate:8.1f} docs/s  ({token_kept}/{len(texts)} kept)")
    their_rate, their_kept = rate(theirs, texts, args.rounds)
    print(f"datatrove   gopher quality+repetition:   {their_rate:8.1f} docs/s  ({their_kept}/{len(texts)} kept)")
    print(f"ratio: {our_rate / their_rate:.2f}x (default), {token_rate / their_rate:.2f}x (tokenizer=datatrove)")


if __name__ == "__main__":
    main()
