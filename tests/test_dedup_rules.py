"""The dedup rules on their own: survivor order, clusters, paragraphs, images, MinHash."""

from __future__ import annotations

import numpy as np

from flamboyance.filter.dedup.clusters import cluster_duplicates, exact_duplicates, rank_order
from flamboyance.filter.dedup.exact import domain, normalized_url, text_digest
from flamboyance.filter.dedup.images import image_set_digest, phash_duplicates
from flamboyance.filter.dedup.minhash import EMPTY, MinHashConfig, MinHasher, jaccard
from flamboyance.filter.dedup.paragraphs import repeated_paragraphs


def test_the_newest_copy_survives_and_ties_go_to_the_smallest_key():
    keys = ["c", "a", "b", "d"]
    dates = ["2020-01-01T00:00:00Z", "2019-01-01T00:00:00Z", "2020-01-01T00:00:00Z", None]
    rank = rank_order(keys, dates)
    assert [keys[i] for i in np.argsort(rank)] == ["b", "c", "a", "d"]
    urls = [normalized_url(u) for u in ("https://x/p", "https://x/p#top", "https://x/p", "https://x/q")]
    assert exact_duplicates(urls, range(4), rank) == {0: 2, 1: 2}


def test_a_chain_of_similar_documents_is_one_cluster_with_the_best_ranked_survivor():
    pairs = np.array([[0, 1], [1, 2], [3, 4]])
    rank = np.array([2, 0, 1, 4, 3])
    assert cluster_duplicates(pairs, rank) == {0: 1, 2: 1, 3: 4}


def test_text_digest_ignores_case_and_spacing_but_not_words():
    assert text_digest("Hello  World\n") == text_digest("hello world")
    assert text_digest("hello world") != text_digest("hello there")
    assert text_digest(" \n ") is None
    assert domain("https://WWW.Example.com:8080/a") == "example.com"


def test_a_paragraph_is_kept_at_its_first_occurrence_in_each_domain():
    domains = ["a.com", "a.com", "b.com", "a.com"]
    paragraphs = [[1, 2], [2, 3, 0], [2], [1, 3, 3]]
    assert repeated_paragraphs(domains, paragraphs, [1, 0, 2, 3]) == {0: [1], 3: [0, 1, 2]}


def test_image_rules():
    assert image_set_digest(["b", "a"], 2) == image_set_digest(["a", "b", "a"], 2)
    assert image_set_digest(["a"], 2) is None
    close, far = "f0f0f0f0f0f0f0f0", "0f0f0f0f0f0f0f0f"
    almost = "f0f0f0f0f0f0f0f1"
    assert phash_duplicates([close, far, almost, ""], skip=set(), max_distance=4) == {2: 0}
    assert phash_duplicates([close, far, almost], skip={0}, max_distance=4) == {}


def test_signatures_agree_as_often_as_the_sets_overlap():
    words = [f"w{i}" for i in range(400)]
    a = " ".join(words)
    b = " ".join(words[:300] + [f"x{i}" for i in range(100)])
    hasher = MinHasher(MinHashConfig(num_perm=256, bands=32, rows=8))
    sketches = hasher.sketch([a, b, "", "Two words"])
    exact = jaccard(sketches.shingles[0], sketches.shingles[1])
    assert abs(exact - 296 / 496) < 1e-9
    estimate = np.mean(sketches.signatures[0] == sketches.signatures[1])
    assert abs(estimate - exact) < 0.1
    assert np.all(sketches.signatures[2] == EMPTY) and len(sketches.shingles[2]) == 0
    assert len(sketches.shingles[3]) == 1  # shorter than one shingle: the whole text is one
    # Same input, same signature, in another process or batch.
    assert np.array_equal(MinHasher(hasher.config).signatures([b])[0], sketches.signatures[1])
