"""Phase 1: a compact record of every document, one parquet file per input unit.

Global resolution must see every document at once, so it gets only what the rules
need, about 0.5 KB plus 4 bytes per word a document (the 32-bit shingle set, read back
only for the candidate pairs that LSH proposes), instead of the documents themselves.

A unit writes ``work/records/UNIT.parquet`` and then, last, its marker
``work/records/UNIT.json``; a re-run skips units with a marker and rewrites the file of
the others (``shards/executor.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.exact import domain, text_digest
from flamboyance.filter.dedup.inputs import InputUnit, read_documents
from flamboyance.filter.dedup.minhash import MinHasher
from flamboyance.shards import storage
from flamboyance.shards.document import Document
from flamboyance.shards.executor import write_marker
from flamboyance.shards.stats import Stats

RECORDS = "work/records"

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("url", pa.string()),
        ("fetch_date", pa.string()),
        ("text_digest", pa.uint64()),
        ("domain", pa.string()),
        # One digest per text node, in node order (0: empty text).
        ("paragraphs", pa.list_(pa.uint64())),
        # One entry per image node, in index order.
        ("image_sha256", pa.list_(pa.string())),
        ("image_phash", pa.list_(pa.string())),
        ("image_url", pa.list_(pa.string())),
        ("signature", pa.binary()),  # num_perm uint32, little-endian
        ("shingles", pa.binary()),  # sorted distinct uint32 shingle hashes
    ]
)

# Called with the number of documents done since the last call (progress bars).
Progress = Callable[[int], None]


def records_path(output: str, unit_id: str) -> str:
    return storage.join(output, RECORDS, f"{unit_id}.parquet")


def document_fields(document: Document) -> dict[str, Any]:
    """Everything a record holds about a document except its MinHash sketch."""
    images = document.images()
    return {
        "key": document.key,
        "url": document.url,
        "fetch_date": document.fetch_date,
        "text_digest": text_digest(document.text()),
        "domain": domain(document.url),
        "paragraphs": [text_digest(node.text) or 0 for node in document.texts()],
        "image_sha256": [node.sha256 or "" for node in images],
        "image_phash": [node.phash or "" for node in images],
        "image_url": [node.url for node in images],
    }


def write_records(
    build: str, unit: InputUnit, output: str, config: DedupConfig, progress: Progress | None = None
) -> dict:
    """Read a unit's documents, write their records and then the unit's marker; return it."""
    stats = Stats()
    hasher = MinHasher(config.minhash)
    rows: list[dict[str, Any]] = []
    texts: list[str] = []

    def sketch_pending() -> None:
        """Add the MinHash sketches of the rows that lack one (a batch, vectorised)."""
        sketches = hasher.sketch(texts)
        for row, signature, shingles in zip(rows[len(rows) - len(texts) :], sketches.signatures, sketches.shingles):
            row["signature"] = signature.astype("<u4").tobytes()
            row["shingles"] = shingles.astype("<u4").tobytes()
        stats.add("dedup/records", len(texts))
        if progress is not None:
            progress(len(texts))
        texts.clear()

    for document, _images in read_documents(build, unit, stats):
        rows.append(document_fields(document))
        texts.append(document.text())
        if len(texts) >= config.batch_documents:
            sketch_pending()
    if texts:
        sketch_pending()
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    with storage.atomic_writer(records_path(output, unit.id)) as stream:
        pq.write_table(table, stream)
    return write_marker(storage.join(output, RECORDS), unit, stats, {}, documents=len(rows))


def read_records(output: str, unit_id: str, columns: Sequence[str]) -> pa.Table:
    """Some columns of a unit's records."""
    with storage.open_input(records_path(output, unit_id)) as stream:
        return pq.read_table(stream, columns=list(columns))


def uint32_rows(values: Sequence[bytes]) -> list[np.ndarray]:
    """Little-endian uint32 arrays back from the binary column they were stored in."""
    return [np.frombuffer(value, dtype="<u4") for value in values]
