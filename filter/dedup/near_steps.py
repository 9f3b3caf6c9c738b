"""Near-duplicate text over partitions: LSH buckets, candidate pairs, and their verification.

Three exchanges, none of which brings all records together:

1. ``bands_map`` (per unit): each surviving record's band hashes go to the partition
   of their (band, hash) bucket;
2. ``bands_reduce`` (per partition): each bucket's candidate pairs, as the oracle makes
   them (``minhash.bucket_pairs``, members in id order), go to the units of both ends;
3. ``sides_map`` (per unit): for each candidate pair, the unit sends its end's signature,
   shingle set and rank to the partition of the pair; ``pairs_reduce`` (per partition)
   joins the two ends, applies the oracle's estimate prefilter and exact Jaccard check,
   and writes each verified pair as two directed edges for ``components.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.drops import alive_rows
from flamboyance.filter.dedup.minhash import EMPTY, MAX_BUCKET, PREFILTER_MARGIN, band_hashes, bucket_pairs, jaccard
from flamboyance.filter.dedup.records import read_records, uint32_rows
from flamboyance.filter.dedup.shuffle import (
    folder,
    int_partitions,
    order_key,
    read_part,
    record_ids,
    rows_of,
    unit_numbers,
    write_parts,
)

BANDS = pa.schema([("band", pa.int64()), ("hash", pa.uint64()), ("id", pa.int64())])
PAIRS = pa.schema([("a", pa.int64()), ("b", pa.int64())])
SIDES = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("side", pa.int8()), ("signature", pa.binary()),
                   ("shingles", pa.binary()), ("order", pa.binary()), ("key", pa.string()), ("url", pa.string())])
# A verified pair as seen from ``src``: the rank and description of ``src``, the similarity.
EDGES = pa.schema([("src", pa.int64()), ("dst", pa.int64()), ("similarity", pa.float64()), ("order", pa.binary()),
                   ("key", pa.string()), ("url", pa.string())])


def _pair_partitions(a: np.ndarray, b: np.ndarray, parts: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return int_partitions(a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ b.astype(np.uint64), parts)


def bands_map(output: str, number: int, unit_id: str, config: DedupConfig, parts: int, before: Sequence[str]) -> int:
    """Send each band hash of the unit's surviving records (with words) to its bucket's partition."""
    table = read_records(output, unit_id, ["signature"])
    rows = alive_rows(output, number, table.num_rows, before)
    if len(rows) == 0:
        return 0
    signatures = np.stack(uint32_rows(table.column("signature").take(pa.array(rows, pa.int64())).to_pylist()))
    valid = ~np.all(signatures == EMPTY, axis=1)
    hashes = band_hashes(signatures[valid], config.minhash.bands, config.minhash.rows)
    ids = record_ids(number, table.num_rows)[rows[valid]]
    bands = np.tile(np.arange(config.minhash.bands, dtype=np.int64), len(ids))
    flat = hashes.reshape(-1)
    sent = pa.table({"band": bands, "hash": flat, "id": np.repeat(ids, config.minhash.bands)}, schema=BANDS)
    with np.errstate(over="ignore"):
        write_parts(folder(output, "bands"), unit_id, sent, int_partitions(flat ^ bands.astype(np.uint64), parts))
    return len(ids)


def bands_reduce(output: str, part: int) -> int:
    """The candidate pairs of every bucket in the partition, sent to the units of both ends."""
    table = read_part(folder(output, "bands"), part, BANDS)
    band, hashes, ids = (table.column(name).to_numpy() for name in ("band", "hash", "id"))
    order = np.lexsort((ids, hashes, band))
    band, hashes, ids = band[order], hashes[order], ids[order]
    boundaries = np.flatnonzero((np.diff(band) != 0) | (np.diff(hashes) != 0)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(ids)]))
    found = [bucket_pairs(ids[start:end], MAX_BUCKET) for start, end in zip(starts, ends) if end - start > 1]
    if not found:
        return 0
    pairs = np.unique(np.concatenate(found), axis=0)
    a, b = pairs[:, 0], pairs[:, 1]
    sent = pa.table({"a": np.concatenate((a, b)), "b": np.concatenate((b, a))}, schema=PAIRS)
    # Each unit gets the pairs it holds an end of, as (its end, other end); a pair within a unit twice.
    write_parts(folder(output, "requests"), f"p{part:05d}", sent, unit_numbers(sent.column("a").to_numpy()))
    return len(pairs)


def sides_map(output: str, number: int, unit_id: str, parts: int) -> int:
    """Send the unit's end of each candidate pair it takes part in to the pair's partition."""
    requests = read_part(folder(output, "requests"), number, PAIRS)
    if requests.num_rows == 0:
        return 0
    mine, other = requests.column("a").to_numpy(), requests.column("b").to_numpy()
    lower, upper = np.minimum(mine, other), np.maximum(mine, other)
    pairs = np.unique(np.stack((lower, upper, mine), axis=1), axis=0)
    table = read_records(output, unit_id, ["key", "url", "fetch_date", "signature", "shingles"])
    rows = pa.array(rows_of(pairs[:, 2]), pa.int64())
    dates = table.column("fetch_date").take(rows).to_pylist()
    sent = pa.table({
        "a": pairs[:, 0], "b": pairs[:, 1], "side": (pairs[:, 2] == pairs[:, 1]).astype(np.int8),
        "signature": table.column("signature").take(rows), "shingles": table.column("shingles").take(rows),
        "order": pa.array([order_key(d) for d in dates], pa.binary()),
        "key": table.column("key").take(rows), "url": table.column("url").take(rows),
    }, schema=SIDES)
    write_parts(folder(output, "sides"), unit_id, sent, _pair_partitions(pairs[:, 0], pairs[:, 1], parts))
    return len(pairs)


def pairs_reduce(output: str, part: int, config: DedupConfig, parts: int) -> int:
    """Verify the partition's pairs; write each one kept as an edge both ways; return how many."""
    table = read_part(folder(output, "sides"), part, SIDES).sort_by([("a", "ascending"), ("b", "ascending"), ("side", "ascending")])
    if table.num_rows == 0:
        return 0
    signatures = np.stack(uint32_rows(table.column("signature").to_pylist()))
    shingles = uint32_rows(table.column("shingles").to_pylist())
    a, b = table.column("a").to_numpy(), table.column("b").to_numpy()
    first = np.arange(0, table.num_rows, 2)  # rows come as (a-side, b-side) per pair
    estimate = np.mean(signatures[first] == signatures[first + 1], axis=-1)
    candidates = first[estimate >= config.minhash.threshold - PREFILTER_MARGIN]
    similarity = np.array([jaccard(shingles[i], shingles[i + 1]) for i in candidates.tolist()], dtype=np.float64)
    kept = candidates[similarity >= config.minhash.threshold] if len(candidates) else candidates
    similarity = similarity[similarity >= config.minhash.threshold] if len(candidates) else similarity
    src = pa.array(np.concatenate((kept, kept + 1)), pa.int64())  # the row describing each edge's source
    edges = pa.table({"src": np.concatenate((a[kept], b[kept])), "dst": np.concatenate((b[kept], a[kept])),
                      "similarity": np.concatenate((similarity, similarity)),
                      "order": table.column("order").take(src), "key": table.column("key").take(src),
                      "url": table.column("url").take(src)}, schema=EDGES)
    write_parts(folder(output, "edges"), f"p{part:05d}", edges, int_partitions(edges.column("src").to_numpy(), parts))
    return len(kept)
