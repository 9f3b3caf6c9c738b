"""Acceptance: near-duplicate detection on edited copies of real articles.

Variants of real article bodies (the article-extraction benchmark's ground truth) are
made by inserting, deleting and replacing words at edit rates from 0.5% to 30%, and by
adding or swapping boilerplate sentences. Every pair of documents gets its true Jaccard
similarity of word 5-gram sets, computed here independently (Python sets of word
tuples); the detector must find at least 95% of the pairs at 0.8 or more, and at least
99% of what it reports must be such pairs.
"""

from __future__ import annotations

import itertools
import json
import random
import re

import numpy as np

from flamboyance.filter.dedup.clusters import cluster_duplicates
from flamboyance.filter.dedup.minhash import MinHashConfig, MinHasher, near_duplicate_pairs

BOILERPLATE = (
    "Subscribe to our newsletter for the latest news.",
    "Share this article on social media.",
    "All rights reserved.",
    "Click here to read more stories like this one.",
    "Advertisement",
)
EDIT_RATES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3)


def variant(text: str, rate: float, vocabulary: list[str], rng: random.Random) -> str:
    """The text with about ``rate`` of its words deleted, replaced or followed by an insertion."""
    words = []
    for word in text.split():
        draw = rng.random()
        if draw < rate / 3:
            continue
        if draw < 2 * rate / 3:
            words.append(rng.choice(vocabulary))
        elif draw < rate:
            words += [word, rng.choice(vocabulary)]
        else:
            words.append(word)
    edited = " ".join(words)
    if rng.random() < 0.5:
        edited = f"{rng.choice(BOILERPLATE)} {edited}"
    if rng.random() < 0.5:
        edited = f"{edited} {rng.choice(BOILERPLATE)}"
    return edited


def true_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def shingle_set(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 5]) for i in range(max(1, len(words) - 4))}


def test_recall_and_precision_at_jaccard_0_8(article_benchmark):
    truth = json.loads((article_benchmark / "ground-truth.json").read_text())
    bases = [truth[name]["articleBody"] for name in sorted(truth) if len(truth[name]["articleBody"].split()) >= 60]
    rng = random.Random(0)
    vocabulary = [word for text in bases for word in text.split()]
    documents = []
    for base in bases[:100]:
        documents.append(base)
        documents += [variant(base, rate, vocabulary, rng) for rate in rng.sample(EDIT_RATES, 4)]

    sets = [shingle_set(text) for text in documents]
    positives = set()
    borderline = 0
    for i, j in itertools.combinations(range(len(documents)), 2):
        if sets[i].isdisjoint(sets[j]):
            continue
        similarity = true_jaccard(sets[i], sets[j])
        positives.update([(i, j)] if similarity >= 0.8 else [])
        borderline += 0.7 <= similarity < 0.9
    assert len(positives) > 100 and borderline > 100  # the test set does probe the threshold

    config = MinHashConfig()
    sketches = MinHasher(config).sketch(documents)
    pairs, similarity = near_duplicate_pairs(sketches.signatures, sketches.shingles, config)
    found = {tuple(pair) for pair in pairs.tolist()}
    recall = len(found & positives) / len(positives)
    precision = len(found & positives) / len(found)
    print(f"near duplicates: {len(positives)} true pairs, recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.95 and precision >= 0.99
    # The similarity each pair is confirmed on is the true word 5-gram Jaccard, not an estimate.
    for (i, j), reported in zip(pairs.tolist(), similarity.tolist()):
        assert abs(reported - true_jaccard(sets[i], sets[j])) < 0.01, (i, j)

    # Each cluster keeps its best-ranked document (here: the lowest index) and drops the rest.
    dropped = cluster_duplicates(pairs, np.arange(len(documents)))
    assert all(survivor < record and survivor not in dropped for record, survivor in dropped.items())
