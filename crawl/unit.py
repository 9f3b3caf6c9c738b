"""Running one unit: pages in, shards and a completion marker out.

This is the body of a Ray task, but it is plain Python (tests call it directly). A unit
either finishes, with its shards and then its marker written, or leaves no marker; the
build then re-does it, overwriting the same shard names. The marker is written last and
atomically, so its presence means every shard it lists is complete.
"""

from __future__ import annotations

import datetime
import itertools
from typing import Callable, Iterable, Iterator, TypeVar

from crawl.attach import ImageCache, ImageSource, attach_images
from crawl.config import BuildConfig
from crawl.unit_filters import UnitFilters
from crawl.pages import HTML_TYPES, page_to_document
from crawl.units import Unit
from crawl.warc import iter_records
from shards import storage
from shards.document import Document
from shards.layout import INTERLEAVED, PAIRS, interleaved_sample, pair_samples
from shards.stats import Stats
from shards.writer import ShardWriter

MARKERS = "units"
T = TypeVar("T")

# Called with the number of documents written since the last call (progress bars).
Progress = Callable[[int], None]


def marker_path(output: str, unit: Unit) -> str:
    return storage.join(output, MARKERS, f"{unit.id}.json")


def run_unit(
    unit: Unit,
    config: BuildConfig,
    output: str,
    images: ImageSource,
    pages: Iterator[Document] | None = None,
    stats: Stats | None = None,
    progress: Progress | None = None,
    before_marker: Callable[[], None] | None = None,
) -> dict:
    """Process ``unit`` and write its shards and marker under ``output``; return the marker.

    ``pages`` overrides where documents come from (the URL-list crawler passes its own);
    by default the unit is a WARC byte range. Counters go to ``stats`` (the image source
    may share it) and into the marker. ``before_marker`` is work that must be done
    before the unit counts as finished (the crawler saving its WARC).
    """
    stats = stats if stats is not None else Stats()
    documents = pages if pages is not None else warc_documents(unit, config, stats)
    filters = UnitFilters(config.filters, unit.id) if config.filters else None
    if filters is not None:
        documents = filters.before_fetch(documents, stats)
    cache = ImageCache()
    interleaved = ShardWriter(storage.join(output, INTERLEAVED), unit.id, config.shards.max_samples, config.shards.max_bytes)
    pairs = ShardWriter(storage.join(output, PAIRS), unit.id, config.shards.max_samples, config.shards.max_bytes)
    with interleaved, pairs:
        for batch in batches(documents, config.page_batch):
            payloads = attach_images(batch, images, config.images, stats, cache, filters.keep_image if filters else None)
            for document, jpegs in zip(batch, payloads):
                if filters is not None and not filters.after_fetch(document, stats):
                    continue
                interleaved.write(interleaved_sample(document, jpegs))
                stats.add("documents/written")
                for sample in pair_samples(document, jpegs):
                    pairs.write(sample)
                    stats.add("pairs/written")
            if progress is not None:
                progress(len(batch))
    report = filters.pipeline.report() if filters is not None else None
    if report is not None:
        stats.merge(report.counters())
    marker = {
        "unit": unit.to_json(),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stats": stats.to_json(),
        "shards": {
            INTERLEAVED: [dict(shard.to_json(), unit=unit.id) for shard in interleaved.shards],
            PAIRS: [dict(shard.to_json(), unit=unit.id) for shard in pairs.shards],
        },
    }
    if report is not None:
        marker["filters"] = report.to_json()
    if before_marker is not None:
        before_marker()
    storage.write_json(marker_path(output, unit), marker)
    return marker


def warc_documents(unit: Unit, config: BuildConfig, stats: Stats) -> Iterator[Document]:
    """Documents from the HTML response records of a WARC byte range."""
    for record in iter_records(unit.path, unit.start, unit.end, stats=stats):
        stats.add("pages/read")
        if record.http_status != 200:
            stats.add(f"pages/skipped/http_{record.http_status}")
            continue
        if record.content_type not in HTML_TYPES:
            stats.add("pages/skipped/not_html")
            continue
        document = page_to_document(
            record.target_uri,
            record.body,
            source={"warc": unit.path, "offset": record.offset},
            stats=stats,
            http_charset=record.charset,
            fetch_date=record.date,
            max_html_bytes=config.max_html_bytes,
        )
        if document is not None:
            yield document


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
