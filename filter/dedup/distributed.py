"""Phase 2 on Ray: the oracle's decisions (``resolve.py``), computed in partitions.

The driver never reads a record: it starts map tasks (one per input unit) and reduce
tasks (one per hash partition), which exchange rows through files (``shuffle.py``), and
it keeps only their counts. So its memory grows with the number of units and
partitions, not of documents. The steps follow the oracle's order, each on the
documents the steps before left alive:

1. exact duplicates, one rule after the other: URL, text digest, image set
   (``keyed_steps.exact_*``: partitioned by the value);
2. near duplicates: LSH band buckets, candidate pairs, verification
   (``near_steps.py``), then connected components by label propagation
   (``components.py``);
3. paragraphs repeated within a domain (``keyed_steps.paragraphs_*``: by domain);
4. image URLs used by too many documents (``keyed_steps.image_urls_*``: by URL);
5. one task per unit gathers its drops into ``work/decisions/UNIT.json`` (the format
   the oracle writes, which phase 3 reads), adding perceptual image duplicates within
   each document, and returns its counts for ``work/decisions.json``.

A task that fails is retried by Ray (its files are rewritten identically); a driver
that dies before ``work/decisions.json`` exists re-runs the phase with the same result.
Once that marker is written the exchange files (``work/resolve/``) are deleted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from flamboyance.filter.dedup import components
from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.drops import DOCUMENT_RULES, unit_drops
from flamboyance.filter.dedup.images import phash_duplicates
from flamboyance.filter.dedup.keyed_steps import (
    EXACT_COLUMNS,
    FREQUENT,
    REMOVED,
    exact_map,
    exact_reduce,
    image_urls_map,
    image_urls_reduce,
    paragraphs_map,
    paragraphs_reduce,
)
from flamboyance.filter.dedup.near_steps import bands_map, bands_reduce, pairs_reduce, sides_map
from flamboyance.filter.dedup.records import read_records
from flamboyance.filter.dedup.resolve import RESOLVED, decisions_path
from flamboyance.filter.dedup.shuffle import folder, read_part, rows_of
from flamboyance.shards import storage
from flamboyance.shards.executor import run_tasks

log = logging.getLogger(__name__)

MAX_PARTITIONS = 256


def enabled_rules(config: DedupConfig) -> list[str]:
    """The document rules ``config`` turns on, in the order they run."""
    on = {"url": config.url, "text": config.text, "image_set": config.image_set_min_images > 0, "near": config.near,
          "paragraphs_repeated": config.paragraphs}
    return [rule for rule in DOCUMENT_RULES if on[rule]]


def run_step(function: Callable[..., int], calls: list[tuple]) -> int:
    """Run a step's tasks; the sum of their counts."""
    return int(sum(run_tasks(function, calls)))


def resolve_distributed(output: str, unit_ids: list[str], config: DedupConfig) -> dict[str, Any]:
    """Decide what goes, write the decisions of every unit, then the phase marker; return the summary."""
    parts = config.partitions or max(1, min(len(unit_ids), MAX_PARTITIONS))
    units = list(enumerate(unit_ids))
    rules = enabled_rules(config)
    done: list[str] = []
    for rule in (rule for rule in rules if rule in EXACT_COLUMNS):
        run_step(exact_map, [(output, number, unit_id, rule, config, parts, tuple(done)) for number, unit_id in units])
        log.info("%s: %d dropped", rule, run_step(exact_reduce, [(output, part, rule) for part in range(parts)]))
        done.append(rule)
    if "near" in rules:
        run_step(bands_map, [(output, number, unit_id, config, parts, tuple(done)) for number, unit_id in units])
        run_step(bands_reduce, [(output, part) for part in range(parts)])
        run_step(sides_map, [(output, number, unit_id, parts) for number, unit_id in units])
        if run_step(pairs_reduce, [(output, part, config, parts) for part in range(parts)]):
            sent, round_number = run_step(components.start, [(output, part, parts) for part in range(parts)]), 0
            while sent:
                round_number += 1
                sent = run_step(components.propagate, [(output, round_number, part, parts) for part in range(parts)])
            log.info("near: %d dropped after %d rounds",
                     run_step(components.finish, [(output, round_number, part) for part in range(parts)]), round_number)
        done.append("near")
    if "paragraphs_repeated" in rules:
        run_step(paragraphs_map, [(output, number, unit_id, parts, tuple(done)) for number, unit_id in units])
        run_step(paragraphs_reduce, [(output, part) for part in range(parts)])
        done.append("paragraphs_repeated")
    if config.max_image_url_documents is not None:
        run_step(image_urls_map, [(output, number, unit_id, parts, tuple(done)) for number, unit_id in units])
        run_step(image_urls_reduce, [(output, part, config.max_image_url_documents) for part in range(parts)])
    counts = run_tasks(write_unit_decisions, [(output, number, unit_id, config) for number, unit_id in units])
    summary = {
        "documents": sum(count["documents"] for count in counts),
        "documents_dropped": dict(sorted(sum((Counter(c["documents_dropped"]) for c in counts), Counter()).items())),
        "paragraphs_dropped": sum(count["paragraphs_dropped"] for count in counts),
        "images_dropped": dict(sorted(sum((Counter(c["images_dropped"]) for c in counts), Counter()).items())),
    }
    storage.write_json(storage.join(output, RESOLVED), summary)
    storage.remove_tree(folder(output))  # the exchange files: as large as the records, and no longer read
    return summary


def write_unit_decisions(output: str, number: int, unit_id: str, config: DedupConfig) -> dict[str, Any]:
    """Gather one unit's drops into its decisions file (the oracle's format); return its counts."""
    table = read_records(output, unit_id, ["key", "image_url", "image_phash"])
    keys = table.column("key").to_pylist()
    documents: dict[str, dict[str, Any]] = {}
    dropped = np.zeros(table.num_rows, dtype=bool)
    for rule in enabled_rules(config):
        drops = unit_drops(output, rule, number)
        rows = rows_of(drops.column("id").to_numpy())
        dropped[rows] = True
        for row, survivor_key, survivor_url, score in zip(rows.tolist(),
                                                          *(drops.column(name).to_pylist() for name in ("survivor_key", "survivor_url", "score"))):
            documents[keys[row]] = {
                "rule": rule, "duplicate_of": None if survivor_key is None else {"key": survivor_key, "url": survivor_url},
                "score": None if score is None else (int(score) if rule == "paragraphs_repeated" else score),
            }
    alive = np.flatnonzero(~dropped).tolist()
    removed = read_part(folder(output, "paragraphs"), number, REMOVED)
    paragraphs = {keys[row]: positions for row, positions in zip(rows_of(removed.column("id").to_numpy()).tolist(),
                                                                 removed.column("positions").to_pylist())}
    frequent: dict[int, dict[str, int]] = {}
    found = read_part(folder(output, "frequent"), number, FREQUENT)
    for row, url, count in zip(rows_of(found.column("id").to_numpy()).tolist(), found.column("url").to_pylist(),
                               found.column("count").to_pylist()):
        frequent.setdefault(row, {})[url] = count
    images = _image_drops(table.column("image_url").to_pylist(), table.column("image_phash").to_pylist(), alive, frequent, config)
    decisions = {"documents": documents, "paragraphs": paragraphs, "images": {keys[row]: drops for row, drops in images.items()}}
    storage.write_json(decisions_path(output, unit_id), decisions)
    return {
        "documents": table.num_rows,
        "documents_dropped": dict(Counter(decision["rule"] for decision in documents.values())),
        "paragraphs_dropped": int(sum(len(positions) for positions in paragraphs.values())),
        "images_dropped": dict(Counter(d["rule"] for drops in images.values() for d in drops.values())),
    }


def _image_drops(urls: list[list[str]], phashes: list[list[str]], alive: list[int], frequent: dict[int, dict[str, int]],
                 config: DedupConfig) -> dict[int, dict[str, dict[str, Any]]]:
    """``{row: {image index: decision}}`` for the unit's surviving documents (as ``resolve._image_drops``)."""
    drops: dict[int, dict[str, dict[str, Any]]] = {}
    for row in alive:
        found: dict[int, dict[str, Any]] = {}
        for index, url in enumerate(urls[row]):
            count = frequent.get(row, {}).get(url)
            if count is not None:
                found[index] = {"rule": "url_frequent", "score": count, "duplicate_of": None}
        if config.phash_max_distance is not None:
            for index, earlier in phash_duplicates(phashes[row], set(found), config.phash_max_distance).items():
                found[index] = {"rule": "phash", "score": None, "duplicate_of": earlier}
        if found:
            drops[row] = {str(index): found[index] for index in sorted(found)}
    return drops


