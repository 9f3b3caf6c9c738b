"""Hash-partitioned exchange of rows between Ray tasks, through the output's storage.

Phase 2 is a few map/reduce steps (``distributed.py``). A map task writes its rows as
one parquet file per destination partition, ``FOLDER/pNNNNN/SOURCE.parquet``; the
reduce task of partition N reads that folder. Files, not Ray objects: a step's data can
be larger than the object store, survive a node that dies, and cost the driver nothing
(it only sees task results: counts). Every file is named after the task that writes it,
and its content depends only on the input, so a retried task rewrites the same file.

Records are named by a 64-bit id, ``unit number << 32 | row``: ids sort in the order of
the oracle's concatenated records (``resolve.py``), so "smallest index" means the same.
A record's place in the survivor order (``clusters.py``: newest first, then smallest
key, then smallest id) is the tuple ``(order_key(fetch_date), key, id)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flamboyance.shards import storage

WORK = "work/resolve"
_MIX = np.uint64(0xFF51AFD7ED558CCD)


def folder(output: str, *names: str) -> str:
    return storage.join(output, WORK, *names)


def record_ids(unit_number: int, rows: int) -> np.ndarray:
    return (np.int64(unit_number) << np.int64(32)) + np.arange(rows, dtype=np.int64)


def unit_numbers(ids: np.ndarray) -> np.ndarray:
    return (np.asarray(ids, dtype=np.int64) >> np.int64(32)).astype(np.int64)


def rows_of(ids: np.ndarray) -> np.ndarray:
    return (np.asarray(ids, dtype=np.int64) & np.int64(0xFFFFFFFF)).astype(np.int64)


def order_key(fetch_date: str | None) -> bytes:
    """Bytes that sort ascending as ``fetch_date`` sorts descending; no date sorts last.

    Each byte is complemented, and a final 0xFF makes a date sort after the longer
    dates it is a prefix of (for descending order, the longer one is "later").
    """
    return bytes(255 - byte for byte in (fetch_date or "").encode("utf-8")) + b"\xff"


def int_partitions(values: np.ndarray, parts: int) -> np.ndarray:
    """The partition of each 64-bit value (mixed first: digests and ids are not uniform mod N)."""
    with np.errstate(over="ignore"):
        mixed = np.asarray(values).astype(np.uint64) * _MIX
        mixed ^= mixed >> np.uint64(29)
    return (mixed % np.uint64(parts)).astype(np.int64)


def bytes_partitions(values: Sequence[bytes], parts: int) -> np.ndarray:
    """The partition of each byte string, from a stable digest (not Python's salted ``hash``)."""
    digests = np.fromiter(
        (int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "little") for value in values),
        dtype=np.uint64, count=len(values),
    )
    return (digests % np.uint64(parts)).astype(np.int64)


def write_parts(target: str, source: str, table: pa.Table, part: np.ndarray) -> None:
    """Write each partition's rows of ``table`` to ``target/pNNNNN/source.parquet`` (empty ones: no file)."""
    if table.num_rows == 0:
        return
    order = np.argsort(part, kind="stable")
    sorted_parts = part[order]
    bounds = np.flatnonzero(np.diff(sorted_parts)) + 1
    for start, end in zip(np.concatenate(([0], bounds)), np.concatenate((bounds, [len(order)]))):
        write_table(storage.join(target, f"p{int(sorted_parts[start]):05d}", f"{source}.parquet"), table.take(order[start:end]))


def write_table(path: str, table: pa.Table) -> None:
    with storage.atomic_writer(path) as stream:
        pq.write_table(table, stream)


def read_table(path: str, schema: pa.Schema) -> pa.Table:
    """A table written by ``write_table``; empty when there is no file."""
    if not storage.exists(path):
        return schema.empty_table()
    with storage.open_input(path) as stream:
        return pq.read_table(stream, schema=schema)


def read_part(target: str, part: int, schema: pa.Schema) -> pa.Table:
    """All rows sent to one partition, in the order of their sources' names."""
    paths = [path for path in storage.listdir(storage.join(target, f"p{part:05d}")) if path.endswith(".parquet")]
    return pa.concat_tables([read_table(path, schema) for path in paths]) if paths else schema.empty_table()
