"""Pages a WARC unit extracted while the image stage collected its URLs, kept for the unit.

Extraction is the costly part of a WARC unit. The image stage must extract (and filter
before fetching) every page to learn its image URLs, so it keeps what it extracted:
the documents that passed ``before_fetch``, the counters of reading them and the
filter steps' stats so far. The unit then starts from these instead of extracting the
same byte range again, and its marker counts what both halves counted, so the numbers
add up exactly as if the unit had done everything itself.

Layout, per unit: ``work/images/pages/UNIT.jsonl.gz`` (one ``Document.to_json`` per
line), then ``UNIT.json`` (``{"stats": ..., "filters": ...}``), written last: without
it the pages are incomplete and the unit extracts from its WARC as before. Both are
deleted once the unit's own marker is written.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from flamboyance.filter.audit import FilterReport
from flamboyance.shards import storage
from flamboyance.shards.document import Document
from flamboyance.shards.stats import Stats

FOLDER = "work/images/pages"


@dataclass
class CollectedPages:
    """A unit's extracted pages and what was counted on the way."""

    documents: Iterator[Document]
    stats: Stats
    filters: FilterReport | None


def _paths(output: str, unit_id: str) -> tuple[str, str]:
    folder = storage.join(output, FOLDER)
    return storage.join(folder, f"{unit_id}.jsonl.gz"), storage.join(folder, f"{unit_id}.json")


def write_pages(output: str, unit_id: str, documents: Iterable[Document]) -> None:
    """Write the documents (streamed: a unit's pages never need to fit in memory at once)."""
    with storage.atomic_writer(_paths(output, unit_id)[0]) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed, \
            io.TextIOWrapper(packed, encoding="utf-8") as lines:
        for document in documents:
            lines.write(json.dumps(document.to_json()) + "\n")  # ASCII: a lone surrogate survives the round trip


def write_counts(output: str, unit_id: str, stats: Stats, filters: FilterReport | None) -> None:
    """Write what was counted while the pages were extracted: the file that says they are complete."""
    storage.write_json(_paths(output, unit_id)[1], {"stats": stats.to_json(), "filters": filters.to_json() if filters else None})


def load_pages(output: str, unit_id: str) -> CollectedPages | None:
    """The unit's collected pages, or None if there are none complete."""
    pages, counts = _paths(output, unit_id)
    if not storage.exists(counts):
        return None
    saved = storage.read_json(counts)

    def documents() -> Iterator[Document]:
        with storage.open_input(pages, "rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            for line in lines:
                yield Document.from_json(json.loads(line))

    filters = FilterReport.from_json(saved["filters"]) if saved["filters"] else None
    return CollectedPages(documents(), Stats.from_json(saved["stats"]), filters)


def remove_pages(output: str, unit_id: str) -> None:
    for path in _paths(output, unit_id):
        storage.remove(path)
