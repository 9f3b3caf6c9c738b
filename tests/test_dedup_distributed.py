"""Phase 2 on Ray, partitioned, against the single-process resolver as the oracle.

Records (what phase 1 writes) are generated for a few units with every kind of
duplicate in numbers: repeated URLs and texts, shared image sets, near-duplicate
variants of real articles (chains of edits, and one LSH bucket larger than
``MAX_BUCKET``), equal and missing dates, boilerplate paragraphs,
frequent image URLs and perceptual image repeats. Both resolvers decide over the same
records; every unit's decisions and the summary must be identical, whatever the number
of partitions.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.distributed import resolve_distributed
from flamboyance.filter.dedup.exact import domain, text_digest
from flamboyance.filter.dedup.minhash import MAX_BUCKET, MinHasher
from flamboyance.filter.dedup.records import SCHEMA, records_path
from flamboyance.filter.dedup.resolve import RESOLVED, decisions_path, resolve
from flamboyance.shards import storage

UNITS = ["unit-0", "unit-1", "unit-2", "unit-3", "unit-4"]
DOMAINS = ["https://news.example", "https://www.blog.example", "https://shop.example"]
PHASHES = ["0000000000000000", "0000000000000003", "00000000ffffffff", "ffffffffffffffff", "f0f0f0f0f0f0f0f0"]


def edit(words: list[str], count: int, rng: random.Random) -> list[str]:
    words = list(words)
    for _ in range(count):
        words[rng.randrange(len(words))] = f"edit{rng.randrange(10**6)}"
    return words


def make_records(articles: list[str], seed: int) -> dict[str, list[dict]]:
    """Records spread at random over the units, with duplicates of every kind."""
    rng = random.Random(seed)
    boiler = ["Subscribe to our newsletter for the best stories of the week.", "All rights reserved by the publisher."]
    texts: list[list[str]] = []  # each document as paragraphs
    for article in articles[:40]:
        words = article.split()
        paragraphs = [" ".join(words[i : i + 60]) for i in range(0, len(words), 60)]
        texts.append(paragraphs)
        for _ in range(rng.randrange(4)):  # near copies, some of near copies (chains)
            source = rng.choice(texts[-3:])
            texts.append([" ".join(edit(p.split(), 1, rng)) if rng.random() < 0.3 else p for p in source])
    big = articles[40].split()
    texts += [[" ".join(edit(big, 1, rng))] for _ in range(MAX_BUCKET + 6)]  # one bucket above MAX_BUCKET
    texts.append([])  # a document without text
    words = articles[41].split()
    shared = [" ".join(words[i : i + 30]) for i in range(0, 180, 30)]
    images = [f"https://cdn.example/{n}.jpg" for n in range(80)]
    records = []
    for number, paragraphs in enumerate(texts):
        site = rng.choice(DOMAINS)
        paragraphs = paragraphs + [rng.choice(boiler)] * (rng.random() < 0.5)
        draw = rng.random()
        if draw < 0.2 and paragraphs:
            site, paragraphs = DOMAINS[0], paragraphs + rng.sample(shared, 2)  # boilerplate of the site
        elif draw < 0.3:
            site, paragraphs = DOMAINS[0], rng.sample(shared, 2)  # nothing of its own
        if draw > 0.9 and records:
            paragraphs = list(rng.choice(records)["paragraph_texts"])  # an exact copy of the text
        url = f"{site}/page/{rng.randrange(len(texts) * 2 // 3)}" + ("#c" if rng.random() < 0.2 else "")
        picked = rng.sample(images[:3] if rng.random() < 0.5 else images, rng.randrange(4))
        date = rng.choice([None, "2020-01-01T00:00:00Z", "2021-06-01T00:00:00Z", "2021-06-01", f"2019-0{rng.randrange(1, 10)}-01"])
        key = f"k{rng.randrange(10**6):06d}-{number}"  # unique, in no relation to position
        records.append({
            "key": key, "url": url, "fetch_date": date, "text": "\n".join(paragraphs), "domain": domain(url),
            "paragraph_texts": paragraphs,
            "paragraphs": [text_digest(p) or 0 for p in paragraphs],
            "image_sha256": [hashlib.sha256(u.encode()).hexdigest()[:8] for u in picked],
            "image_phash": [rng.choice(PHASHES + [""]) for _ in picked], "image_url": picked,
        })
    sketches = MinHasher().sketch([record.pop("text") for record in records])
    for record in records:
        del record["paragraph_texts"]
    units: dict[str, list[dict]] = {unit: [] for unit in UNITS}
    for record, signature, shingles in zip(records, sketches.signatures, sketches.shingles):
        record["text_digest"] = text_digest(" ".join(str(p) for p in record["paragraphs"])) if record["paragraphs"] else None
        record["signature"] = signature.astype("<u4").tobytes()
        record["shingles"] = shingles.astype("<u4").tobytes()
        units[rng.choice(UNITS)].append(record)
    return units


def write_records(output: str, units: dict[str, list[dict]]) -> None:
    for unit, rows in units.items():
        with storage.atomic_writer(records_path(output, unit)) as stream:
            pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), stream)


@pytest.fixture(scope="module")
def articles(article_benchmark) -> list[str]:
    truth = json.loads((article_benchmark / "ground-truth.json").read_text())
    return [truth[name]["articleBody"] for name in sorted(truth) if len(truth[name]["articleBody"].split()) >= 200]


@pytest.mark.parametrize("seed, partitions", [(0, 0), (1, 1), (2, 7)])
def test_partitioned_decisions_equal_the_oracle(articles, tmp_path, ray_local, seed, partitions):
    config = DedupConfig(max_image_url_documents=3, partitions=partitions)
    oracle, ours = str(tmp_path / "oracle"), str(tmp_path / "ours")
    write_records(oracle, make_records(articles, seed))
    shutil.copytree(oracle, ours)
    expected = resolve(oracle, UNITS, config)
    assert resolve_distributed(ours, UNITS, config) == expected
    for rule in ("url", "text", "near", "paragraphs_repeated"):
        assert expected["documents_dropped"].get(rule, 0) > 0, rule  # the records do exercise every rule
    assert expected["paragraphs_dropped"] > 0 and set(expected["images_dropped"]) == {"url_frequent", "phash"}
    for unit in UNITS:
        assert storage.read_json(decisions_path(ours, unit)) == storage.read_json(decisions_path(oracle, unit)), unit
    assert storage.read_json(storage.join(ours, RESOLVED)) == expected
    assert not (tmp_path / "ours" / "work" / "resolve").exists()  # the exchange files go once decisions are written


def test_rules_turned_off_are_off_in_both(articles, tmp_path, ray_local):
    config = DedupConfig(url=False, near=False, paragraphs=False, max_image_url_documents=None, phash_max_distance=None,
                         image_set_min_images=1, partitions=3)
    oracle, ours = str(tmp_path / "oracle"), str(tmp_path / "ours")
    write_records(oracle, make_records(articles, 3))
    shutil.copytree(oracle, ours)
    expected = resolve(oracle, UNITS, config)
    assert set(expected["documents_dropped"]) == {"text", "image_set"}
    assert resolve_distributed(ours, UNITS, config) == expected
    for unit in UNITS:
        assert storage.read_json(decisions_path(ours, unit)) == storage.read_json(decisions_path(oracle, unit)), unit
