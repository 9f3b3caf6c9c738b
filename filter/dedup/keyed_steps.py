"""The rules that group records by a key: exact duplicates, paragraphs in a domain, image URLs.

Each is a map task per unit (its surviving records, sent to the partition of their
key) and a reduce task per partition (every record with a given key is in one
partition, so each group is decided there alone, with the oracle's rules: ``resolve.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.drops import SCHEMA as DROPS
from flamboyance.filter.dedup.drops import alive_rows, write_drops
from flamboyance.filter.dedup.exact import normalized_url
from flamboyance.filter.dedup.images import image_set_digest
from flamboyance.filter.dedup.records import read_records
from flamboyance.filter.dedup.shuffle import (
    bytes_partitions,
    folder,
    order_key,
    read_part,
    record_ids,
    unit_numbers,
    write_parts,
)

KEYED = pa.schema([("value", pa.binary()), ("order", pa.binary()), ("key", pa.string()), ("url", pa.string()),
                   ("id", pa.int64())])
IN_DOMAIN = pa.schema([("domain", pa.string()), ("order", pa.binary()), ("key", pa.string()), ("id", pa.int64()),
                       ("paragraphs", pa.list_(pa.uint64()))])
REMOVED = pa.schema([("id", pa.int64()), ("positions", pa.list_(pa.int64()))])
IMAGE_URLS = pa.schema([("url", pa.string()), ("id", pa.int64())])
FREQUENT = pa.schema([("id", pa.int64()), ("url", pa.string()), ("count", pa.int64())])

# The record column each exact rule compares.
EXACT_COLUMNS = {"url": "url", "text": "text_digest", "image_set": "image_sha256"}


def _exact_value(rule: str, value: object, config: DedupConfig) -> bytes | None:
    if rule == "url":
        return normalized_url(value).encode("utf-8", "surrogatepass")
    if rule == "text":
        return None if value is None else int(value).to_bytes(8, "little")
    digest = image_set_digest(value, config.image_set_min_images)
    return None if digest is None else digest.encode("ascii")


def exact_map(output: str, number: int, unit_id: str, rule: str, config: DedupConfig, parts: int,
              before: Sequence[str]) -> int:
    """Send the unit's surviving records with a value for ``rule`` to their value's partition."""
    columns = list(dict.fromkeys(["key", "url", "fetch_date", EXACT_COLUMNS[rule]]))
    table = read_records(output, unit_id, columns)
    ids = record_ids(number, table.num_rows)
    raw = table.column(EXACT_COLUMNS[rule]).to_pylist()
    rows, values = [], []
    for row in alive_rows(output, number, table.num_rows, before).tolist():
        value = _exact_value(rule, raw[row], config)
        if value is not None:
            rows.append(row)
            values.append(value)
    take = pa.array(rows, type=pa.int64())
    dates = table.column("fetch_date").take(take).to_pylist()
    sent = pa.table({"value": pa.array(values, pa.binary()), "order": pa.array([order_key(d) for d in dates], pa.binary()),
                     "key": table.column("key").take(take), "url": table.column("url").take(take),
                     "id": pa.array(ids[rows], pa.int64())}, schema=KEYED)
    write_parts(folder(output, "keys", rule), unit_id, sent, bytes_partitions(values, parts))
    return len(rows)


def _group_starts(values: list) -> np.ndarray:
    """For each row of a sorted column, the first row of its group of equal values."""
    first = np.ones(len(values), dtype=bool)
    first[1:] = [values[i] != values[i - 1] for i in range(1, len(values))]
    return np.maximum.accumulate(np.where(first, np.arange(len(values)), 0))


def exact_reduce(output: str, part: int, rule: str) -> int:
    """Drop every record of a partition but the best-ranked one of each value; return the drops."""
    table = read_part(folder(output, "keys", rule), part, KEYED)
    if table.num_rows == 0:
        return 0
    table = table.sort_by([("value", "ascending"), ("order", "ascending"), ("key", "ascending"), ("id", "ascending")])
    starts = _group_starts(table.column("value").to_pylist())
    duplicate = np.flatnonzero(starts != np.arange(table.num_rows))
    survivors = pa.array(starts[duplicate], pa.int64())
    drops = pa.table({"id": table.column("id").take(pa.array(duplicate, pa.int64())),
                      "survivor_key": table.column("key").take(survivors),
                      "survivor_url": table.column("url").take(survivors),
                      "score": pa.nulls(len(duplicate), pa.float64())}, schema=DROPS)
    write_drops(output, rule, f"p{part:05d}", drops)
    return len(duplicate)


def paragraphs_map(output: str, number: int, unit_id: str, parts: int, before: Sequence[str]) -> int:
    """Send the unit's surviving records to the partition of their domain."""
    table = read_records(output, unit_id, ["key", "fetch_date", "domain", "paragraphs"])
    take = pa.array(alive_rows(output, number, table.num_rows, before), pa.int64())
    domains = table.column("domain").take(take)
    dates = table.column("fetch_date").take(take).to_pylist()
    sent = pa.table({"domain": domains, "order": pa.array([order_key(d) for d in dates], pa.binary()),
                     "key": table.column("key").take(take), "id": pa.array(record_ids(number, table.num_rows)[take.to_numpy()]),
                     "paragraphs": table.column("paragraphs").take(take)}, schema=IN_DOMAIN)
    write_parts(folder(output, "domains"), unit_id, sent,
                bytes_partitions([d.encode("utf-8", "surrogatepass") for d in domains.to_pylist()], parts))
    return len(take)


def paragraphs_reduce(output: str, part: int) -> int:
    """Remove paragraphs already seen in a better-ranked record of the domain (``paragraphs.py``).

    A record left with none of its own text is dropped (``paragraphs_repeated``).
    Returns the number of records dropped.
    """
    table = read_part(folder(output, "domains"), part, IN_DOMAIN)
    table = table.sort_by([("domain", "ascending"), ("order", "ascending"), ("key", "ascending"), ("id", "ascending")])
    seen: dict[str, set[int]] = {}
    removed: list[tuple[int, list[int]]] = []
    dropped: list[tuple[int, int]] = []
    for domain, record, digests in zip(table.column("domain").to_pylist(), table.column("id").to_pylist(),
                                       table.column("paragraphs").to_pylist()):
        known = seen.setdefault(domain, set())
        positions = []
        for position, digest in enumerate(digests):
            if not digest:
                continue
            if digest in known:
                positions.append(position)
            else:
                known.add(digest)
        if positions and len(positions) == sum(1 for digest in digests if digest):
            dropped.append((record, len(positions)))
        elif positions:
            removed.append((record, positions))
    write_drops(output, "paragraphs_repeated", f"p{part:05d}", pa.table({
        "id": pa.array([r for r, _ in dropped], pa.int64()), "survivor_key": pa.nulls(len(dropped), pa.string()),
        "survivor_url": pa.nulls(len(dropped), pa.string()), "score": pa.array([float(c) for _, c in dropped], pa.float64()),
    }, schema=DROPS))
    table = pa.table({"id": pa.array([r for r, _ in removed], pa.int64()),
                      "positions": pa.array([p for _, p in removed], pa.list_(pa.int64()))}, schema=REMOVED)
    write_parts(folder(output, "paragraphs"), f"p{part:05d}", table, unit_numbers(table.column("id").to_numpy()))
    return len(dropped)


def image_urls_map(output: str, number: int, unit_id: str, parts: int, before: Sequence[str]) -> int:
    """Send each distinct image URL of each surviving record to the URL's partition."""
    table = read_records(output, unit_id, ["image_url"])
    ids = record_ids(number, table.num_rows)
    urls_per_row = table.column("image_url").to_pylist()
    urls, owners = [], []
    for row in alive_rows(output, number, table.num_rows, before).tolist():
        for url in sorted(set(urls_per_row[row])):
            urls.append(url)
            owners.append(int(ids[row]))
    sent = pa.table({"url": pa.array(urls, pa.string()), "id": pa.array(owners, pa.int64())}, schema=IMAGE_URLS)
    write_parts(folder(output, "image_urls"), unit_id, sent, bytes_partitions([u.encode("utf-8", "surrogatepass") for u in urls], parts))
    return len(urls)


def image_urls_reduce(output: str, part: int, max_documents: int) -> int:
    """Tell each record which of its image URLs more than ``max_documents`` records use."""
    table = read_part(folder(output, "image_urls"), part, IMAGE_URLS).sort_by([("url", "ascending"), ("id", "ascending")])
    starts = _group_starts(table.column("url").to_pylist())
    counts = np.bincount(starts, minlength=table.num_rows)[starts]  # each row's group size
    frequent = np.flatnonzero(counts > max_documents)
    take = pa.array(frequent, pa.int64())
    table = pa.table({"id": table.column("id").take(take), "url": table.column("url").take(take),
                      "count": pa.array(counts[frequent], pa.int64())}, schema=FREQUENT)
    write_parts(folder(output, "frequent"), f"p{part:05d}", table, unit_numbers(table.column("id").to_numpy()))
    return len(frequent)
