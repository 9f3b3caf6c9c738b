"""Running one unit: pages in, shards and a completion marker out.

This is the body of a Ray task, but it is plain Python (tests call it directly). A unit
either finishes, with its shards and then its marker written, or leaves no marker; the
build then re-does it, overwriting the same shard names. The marker is written last and
atomically, so its presence means every shard it lists is complete.
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterable, Iterator, TypeVar

from flamboyance.crawl.attach import ImageCache, ImageSource, attach_images
from flamboyance.crawl.collected_pages import CollectedPages
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.pages import HTML_TYPES, page_to_document
from flamboyance.crawl.unit_filters import UnitFilters
from flamboyance.crawl.units import Unit
from flamboyance.crawl.warc import iter_records
from flamboyance.filter.audit import FilterReport
from flamboyance.shards import storage
from flamboyance.shards.document import Document
from flamboyance.shards.executor import write_marker
from flamboyance.shards.stats import Stats
from flamboyance.shards.writer import DatasetWriter

MARKERS = "units"
T = TypeVar("T")

# Called with the number of documents written since the last call (progress bars).
Progress = Callable[[int], None]


def run_unit(
    unit: Unit,
    config: BuildConfig,
    output: str,
    images: ImageSource,
    pages: Iterator[Document] | None = None,
    stats: Stats | None = None,
    progress: Progress | None = None,
    before_marker: Callable[[], None] | None = None,
    collected: CollectedPages | None = None,
) -> dict:
    """Process ``unit`` and write its shards and marker under ``output``; return the marker.

    ``pages`` overrides where documents come from (the URL-list crawler passes its own);
    by default the unit is a WARC byte range. Counters go to ``stats`` (the image source
    may share it) and into the marker. ``before_marker`` is work that must be done
    before the unit counts as finished (the crawler saving its WARC). ``collected``: the
    unit's pages as the image stage extracted and filtered them before fetching
    (``collected_pages.py``), with their counts, which the marker includes.
    """
    stats = stats if stats is not None else Stats()
    filters = UnitFilters(config.filters, unit.id) if config.filters else None
    if collected is not None:
        stats.merge(collected.stats)
        documents = collected.documents
    else:
        documents = pages if pages is not None else warc_documents(unit, config, stats)
        if filters is not None:
            documents = filters.before_fetch(documents, stats)
    cache = ImageCache()
    with DatasetWriter(output, unit.id, config.shards, stats) as writer:
        for batch in batches(documents, config.page_batch):
            payloads = attach_images(batch, images, config.images, stats, cache, filters.keep_image if filters else None)
            for document, jpegs in zip(batch, payloads):
                if filters is None or filters.after_fetch(document, stats):
                    writer.write(document, jpegs)
            if progress is not None:
                progress(len(batch))
    extra = {}
    if filters is not None:
        report = filters.pipeline.report()
        if collected is not None and collected.filters is not None:
            report = FilterReport.total([collected.filters, report])
        stats.merge(report.counters())
        extra["filters"] = report.to_json()
    if before_marker is not None:
        before_marker()
    return write_marker(storage.join(output, MARKERS), unit, stats, writer.shards(), **extra)


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
            robots_tags=record.robots_tags,
            agent_token=config.fetch.agent_token,
        )
        if document is not None:
            yield document


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
