"""A unit of a URL list: fetch its pages, extract documents, fetch their images.

The same ``run_unit`` that reads WARC units writes the shards and the marker; this
module only supplies the pages (fetched in batches, politely, through the unit's
``FetchCache``) and the image source (the same cache, unless images are replayed from
``--image-warc``). Pages become documents through ``page_to_document``, as WARC
records do, so a page crawled live and the same page read from a WARC give the same
document, up to its provenance: here ``source`` is ``{"urls": list, "row": n}`` and
the list's other columns are ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterator

from flamboyance.crawl.attach import ImageSource
from flamboyance.crawl.charset import charset_param
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.fetch import FetchSession
from flamboyance.crawl.fetch_cache import FetchCache, cache_folder
from flamboyance.crawl.pages import page_to_document
from flamboyance.crawl.unit import Progress, batches, run_unit
from flamboyance.crawl.units import Unit
from flamboyance.crawl.url_list import read_rows
from flamboyance.shards import storage
from flamboyance.shards.document import Document
from flamboyance.shards.stats import Stats


def run_url_unit(
    unit: Unit,
    config: BuildConfig,
    output: str,
    stats: Stats | None = None,
    progress: Progress | None = None,
    save_warc: str | None = None,
    images: ImageSource | None = None,
) -> dict:
    """Crawl one URL unit into shards and a marker under ``output``; return the marker.

    Every response is cached as it arrives (``crawl/fetch_cache.py``), so running an
    unfinished unit again fetches only what it did not have. With ``save_warc`` the
    responses are kept there as ``UNIT.warc.gz``; ``images`` replaces image downloads
    (an ``--image-warc`` index).
    """
    stats = stats if stats is not None else Stats()
    saved = storage.join(save_warc, f"{unit.id}.warc.gz") if save_warc else None
    with FetchSession(config.fetch, stats) as session, FetchCache(cache_folder(output), unit.id, session, saved) as cache:
        marker = run_unit(
            unit,
            config,
            output,
            images if images is not None else cache,
            pages=url_documents(unit, config, cache, stats),
            stats=stats,
            progress=progress,
            before_marker=cache.save,
        )
    cache.remove()
    return marker


def url_documents(unit: Unit, config: BuildConfig, cache: FetchCache, stats: Stats) -> Iterator[Document]:
    """Documents of the unit's rows, in row order; failed fetches counted as ``pages/skipped/<reason>``."""
    for rows in batches(read_rows(unit.path, unit.start, unit.end, stats), config.page_batch):
        results = {result.url: result for result in cache.fetch([row.url for row in rows], "page")}
        for row in rows:
            result = results[row.url]
            if not result.ok or result.body is None:
                stats.add(f"pages/skipped/{result.error or 'empty'}")
                continue
            stats.add("pages/read")
            document = page_to_document(
                result.final_url,
                result.body,
                source={"urls": unit.path, "row": row.row},
                stats=stats,
                http_charset=charset_param(result.headers.get("content-type", "")),
                fetch_date=result.fetched_at,
                max_html_bytes=config.max_html_bytes,
                meta=row.meta,
                robots_tags=[result.headers["x-robots-tag"]] if "x-robots-tag" in result.headers else (),
                agent_token=config.fetch.agent_token,
            )
            if document is not None:
                yield document
