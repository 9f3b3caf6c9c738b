"""Phase 2 in one process: the reference for what goes and why.

This resolver reads every record (``records.py``) into one process, which is the
plainest statement of the rules and does not scale (about 0.6 KB per document). The
stage runs ``distributed.py``, which makes the same decisions in Ray partitions;
``tests/test_dedup_distributed.py`` holds it to this one, the oracle. Document rules run in a
fixed order, each on the documents that survived the ones before (``DedupConfig``):
URL, text, image set, near-duplicate text; then paragraphs repeated within a domain
(a document left with none of its own text goes too); then images: frequent URLs and
perceptual duplicates within a document. Every choice of survivor follows one order
(``clusters.py``), so the decisions depend on the input alone.

The decisions are written per input unit (``work/decisions/UNIT.json``), so a rewrite
task reads only its own, and then ``work/decisions.json`` (a summary) marks the phase
done. A crash before that marker re-runs the whole phase, with the same result.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from flamboyance.filter.dedup.clusters import cluster_duplicates, exact_duplicates, rank_order
from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.exact import normalized_url
from flamboyance.filter.dedup.images import image_set_digest, phash_duplicates, url_document_counts
from flamboyance.filter.dedup.minhash import likely_pairs, verified_pairs
from flamboyance.filter.dedup.paragraphs import repeated_paragraphs
from flamboyance.filter.dedup.records import read_records, uint32_rows
from flamboyance.shards import storage

DECISIONS = "work/decisions"
RESOLVED = "work/decisions.json"

_COLUMNS = ("key", "url", "fetch_date", "text_digest", "domain", "paragraphs",
            "image_sha256", "image_phash", "image_url", "signature")


def decisions_path(output: str, unit_id: str) -> str:
    return storage.join(output, DECISIONS, f"{unit_id}.json")


class Records:
    """The records of every unit, concatenated in unit-id order (record i = row i)."""

    def __init__(self, output: str, unit_ids: list[str]) -> None:
        self.output = output
        self.unit_ids = unit_ids
        columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
        units: list[int] = []
        for number, unit_id in enumerate(unit_ids):
            table = read_records(output, unit_id, _COLUMNS)
            for name in _COLUMNS:
                columns[name].extend(table.column(name).to_pylist())
            units.extend([number] * table.num_rows)
        self.columns = columns
        self.unit = np.array(units, dtype=np.int64)
        self.size = len(units)
        self.rank = rank_order(columns["key"], columns["fetch_date"])

    def signatures(self, records: np.ndarray) -> np.ndarray:
        return np.stack(uint32_rows([self.columns["signature"][i] for i in records.tolist()]))

    def shingles(self, records: np.ndarray) -> dict[int, np.ndarray]:
        """Shingle sets of some records, reading only the units that hold them."""
        wanted = set(records.tolist())
        found: dict[int, np.ndarray] = {}
        first_row = np.searchsorted(self.unit, np.arange(len(self.unit_ids)))
        for number in sorted({int(self.unit[i]) for i in wanted}):
            column = read_records(self.output, self.unit_ids[number], ["shingles"]).column("shingles")
            for record in sorted(i for i in wanted if self.unit[i] == number):
                found[record] = np.frombuffer(column[record - int(first_row[number])].as_py(), dtype="<u4")
        return found

    def describe(self, record: int) -> dict[str, str]:
        return {"key": self.columns["key"][record], "url": self.columns["url"][record]}


def resolve(output: str, unit_ids: list[str], config: DedupConfig) -> dict[str, Any]:
    """Decide over all records, write the decisions of every unit, then the phase marker."""
    records = Records(output, unit_ids)
    columns = records.columns
    alive = set(range(records.size))
    documents: dict[int, dict[str, Any]] = {}

    def drop(duplicates: dict[int, int], rule: str, scores: dict[int, float] | None = None) -> None:
        for record, survivor in sorted(duplicates.items()):
            documents[record] = {"rule": rule, "duplicate_of": records.describe(survivor),
                                 "score": None if scores is None else scores[record]}
            alive.discard(record)

    if config.url:
        drop(exact_duplicates([normalized_url(url) for url in columns["url"]], alive, records.rank), "url")
    if config.text:
        drop(exact_duplicates(columns["text_digest"], alive, records.rank), "text")
    if config.image_set_min_images:
        digests = [image_set_digest(sha256s, config.image_set_min_images) for sha256s in columns["image_sha256"]]
        drop(exact_duplicates(digests, alive, records.rank), "image_set")
    if config.near and alive:
        duplicates, similarity = _near_duplicates(records, np.array(sorted(alive), dtype=np.int64), config)
        drop(duplicates, "near", similarity)

    order = sorted(alive, key=lambda i: records.rank[i])
    paragraphs = repeated_paragraphs(columns["domain"], columns["paragraphs"], order) if config.paragraphs else {}
    for record, positions in sorted(paragraphs.items()):
        if len(positions) == sum(1 for digest in columns["paragraphs"][record] if digest):
            documents[record] = {"rule": "paragraphs_repeated", "duplicate_of": None, "score": len(positions)}
            alive.discard(record)
    images = _image_drops(records, alive, config)

    per_unit: list[dict[str, dict]] = [{"documents": {}, "paragraphs": {}, "images": {}} for _ in unit_ids]
    for record, decision in documents.items():
        per_unit[records.unit[record]]["documents"][columns["key"][record]] = decision
    for record, positions in paragraphs.items():
        if record in alive:
            per_unit[records.unit[record]]["paragraphs"][columns["key"][record]] = positions
    for record, drops in images.items():
        per_unit[records.unit[record]]["images"][columns["key"][record]] = drops
    for unit_id, decisions in zip(unit_ids, per_unit):
        storage.write_json(decisions_path(output, unit_id), decisions)
    summary = {
        "documents": records.size,
        "documents_dropped": dict(sorted(Counter(d["rule"] for d in documents.values()).items())),
        "paragraphs_dropped": sum(len(paragraphs[r]) for r in paragraphs if r in alive),
        "images_dropped": dict(sorted(Counter(d["rule"] for drops in images.values() for d in drops.values()).items())),
    }
    storage.write_json(storage.join(output, RESOLVED), summary)
    return summary


def _near_duplicates(records: Records, candidates: np.ndarray, config: DedupConfig) -> tuple[dict[int, int], dict[int, float]]:
    """``({duplicate: survivor}, {duplicate: best similarity})`` among ``candidates``."""
    local = likely_pairs(records.signatures(candidates), config.minhash)
    pairs = candidates[local] if len(local) else np.empty((0, 2), dtype=np.int64)
    shingles = records.shingles(np.unique(pairs)) if len(pairs) else {}
    pairs, similarity = verified_pairs(pairs, shingles, config.minhash.threshold)
    best: dict[int, float] = {}
    for (a, b), value in zip(pairs.tolist(), similarity.tolist()):
        for record in (a, b):
            best[record] = max(best.get(record, 0.0), round(value, 4))
    duplicates = cluster_duplicates(pairs, records.rank)
    return duplicates, {record: best[record] for record in duplicates}


def _image_drops(records: Records, alive: set[int], config: DedupConfig) -> dict[int, dict[str, dict[str, Any]]]:
    """``{record: {image index: decision}}`` for the surviving documents."""
    columns = records.columns
    counts = url_document_counts(columns["image_url"], alive) if config.max_image_url_documents is not None else Counter()
    drops: dict[int, dict[str, dict[str, Any]]] = {}
    for record in sorted(alive):
        found: dict[int, dict[str, Any]] = {}
        if config.max_image_url_documents is not None:
            for index, url in enumerate(columns["image_url"][record]):
                if counts[url] > config.max_image_url_documents:
                    found[index] = {"rule": "url_frequent", "score": counts[url], "duplicate_of": None}
        if config.phash_max_distance is not None:
            repeats = phash_duplicates(columns["image_phash"][record], set(found), config.phash_max_distance)
            for index, earlier in repeats.items():
                found[index] = {"rule": "phash", "score": None, "duplicate_of": earlier}
        if found:
            drops[record] = {str(index): found[index] for index in sorted(found)}
    return drops
