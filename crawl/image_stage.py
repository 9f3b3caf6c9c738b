"""The image stage of a WARC build: every image URL fetched once, one fetcher per host.

Fetching inside each unit (``crawl/image_http.py``) is fine for a few units, but at
cluster scale N units hit one image host N times as hard, each fetches its robots.txt,
and an image on 1,000 pages is downloaded 1,000 times. So a large WARC build fetches
its images before its units run, in three steps:

1. ``collect_urls`` (a Ray task per build unit): the unit's pages are read and
   filtered as the unit will (``before_fetch``), and their image URLs are sent to the
   partition of their **host** (``work/images/urls/pNNNNN/UNIT.parquet``); the pages
   are kept for the unit (``collected_pages.py``), so that it extracts them only once;
2. ``fetch_partition`` (a Ray task per host partition, a "fetch unit"): the distinct
   URLs of its hosts, fetched in one ``FetchSession``. A host belongs to exactly one
   partition, so cluster-wide one fetcher talks to it, within the per-host limit and
   delay, and reads its robots.txt once per build. The responses go into a WARC
   (``work/images/fetched/pNNNNN.warc.gz``), indexed by URL hash (``image_index.py``),
   and failures with their reason; a marker (``pNNNNN.json``) makes the step resumable;
3. the build units then attach images from that index (``PartitionedImages``) as they
   would from ``--image-warc``: each distinct URL was downloaded once, whatever the
   number of pages and units that use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from flamboyance.crawl.collected_pages import write_counts, write_pages
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.image_index import PartitionedImages, index_warc, write_failures
from flamboyance.crawl.unit import warc_documents
from flamboyance.crawl.unit_filters import UnitFilters
from flamboyance.crawl.units import Unit
from flamboyance.crawl.warc import PER_RECORD, file_kind
from flamboyance.filter.dedup.shuffle import bytes_partitions, read_part, write_parts
from flamboyance.shards import storage
from flamboyance.shards.config import ConfigError
from flamboyance.shards.document import Document
from flamboyance.shards.executor import run_tasks
from flamboyance.shards.stats import Stats

STAGE = "work/images"
MAX_FETCH_UNITS = 256
URLS = pa.schema([("url", pa.string())])
# The response headers kept with a fetched image (the body is stored decoded).
KEPT_HEADERS = ("content-type",)


def host_partitions(urls: list[str], parts: int) -> np.ndarray:
    """The partition of each URL's host: one host, one partition, so one fetcher."""
    hosts = [(urlsplit(url).hostname or "").encode("utf-8", "surrogatepass") for url in urls]
    return bytes_partitions(hosts, parts)


def collect_urls(unit: Unit, config: BuildConfig, output: str, parts: int) -> int:
    """Send the distinct image URLs of a unit's kept pages to their host's partition; return how many.

    The pages are extracted and filtered as the unit would, and kept for it
    (``collected_pages.py``), so the unit does not extract them a second time.
    """
    stats = Stats()
    filters = UnitFilters(config.filters, unit.id) if config.filters else None
    documents = warc_documents(unit, config, stats)
    if filters is not None:
        documents = filters.before_fetch(documents, stats)
    found: set[str] = set()

    def noting_urls(pages: Iterator[Document]) -> Iterator[Document]:
        for document in pages:
            found.update(node.url for node in document.images())
            yield document

    write_pages(output, unit.id, noting_urls(documents))
    write_counts(output, unit.id, stats, filters.pipeline.report() if filters is not None else None)
    urls = sorted(found)
    write_parts(storage.join(output, STAGE, "urls"), unit.id, pa.table({"url": urls}, schema=URLS),
                host_partitions(urls, parts))
    return len(urls)


def fetch_partition(output: str, part: int, config: BuildConfig, parts: int) -> dict[str, Any]:
    """Fetch the partition's distinct URLs once each, write, index and mark them; return the marker."""
    from flamboyance.crawl.fetch import FetchSession
    from flamboyance.crawl.warc_writer import WarcWriter

    marker_path = storage.join(output, STAGE, "fetched", f"p{part:05d}.json")
    if storage.exists(marker_path):
        return storage.read_json(marker_path)
    urls = sorted(set(read_part(storage.join(output, STAGE, "urls"), part, URLS).column("url").to_pylist()))
    stats = Stats()
    failures: list[tuple[str, str]] = []
    warc = fetched_warc(output, part)
    with WarcWriter(warc) as writer, FetchSession(config.fetch, stats) as session:
        for result in session.fetch_all(urls, "image"):
            if result.ok and result.body is not None:
                headers = [(name, value) for name, value in result.headers.items() if name.lower() in KEPT_HEADERS]
                writer.write_response(result.url, result.status or 200, headers, result.body)
            else:
                failures.append((result.url, result.error or "empty"))
    index = storage.join(output, STAGE, "index")
    index_warc(warc, part, index, parts)
    write_failures(index, f"p{part:05d}", sorted(failures), parts)
    marker = {"part": part, "urls": len(urls), "failed": len(failures), "stats": stats.to_json()}
    storage.write_json(marker_path, marker)
    return marker


def fetched_warc(output: str, part: int) -> str:
    return storage.join(output, STAGE, "fetched", f"p{part:05d}.warc.gz")


def fetched_images(output: str, parts: int) -> PartitionedImages:
    """The image source of the build units once every partition is fetched."""
    return PartitionedImages(storage.join(output, STAGE, "index"), [fetched_warc(output, part) for part in range(parts)],
                             parts, missing="not_fetched")


def run_image_stage(units: list[Unit], config: BuildConfig, output: str) -> tuple[PartitionedImages, Stats]:
    """Collect, partition and fetch the image URLs of ``units``; the source to attach from, and the fetch stats.

    One fetch unit per build unit, at most ``MAX_FETCH_UNITS``: hosts spread over them by hash.
    """
    parts = max(1, min(len(units), MAX_FETCH_UNITS))
    marker = storage.join(output, STAGE, "plan.json")
    if storage.exists(marker):
        parts = storage.read_json(marker)["parts"]  # a resumed build keeps its partitions
    else:
        run_tasks(collect_urls, [(unit, config, output, parts) for unit in units])
        storage.write_json(marker, {"parts": parts, "units": [unit.id for unit in units]})
    markers = run_tasks(fetch_partition, [(output, part, config, parts) for part in range(parts)])
    return fetched_images(output, parts), Stats.total(Stats.from_json(m["stats"]) for m in markers)


def check_image_warcs(paths: list[str]) -> None:
    """Refuse image WARCs that can only be read whole (single-stream gzip, ARC), before a
    build starts: replay reads each image by its record's offset, which they do not have."""
    whole = [f"{path} is {kind}" for path in paths if (kind := file_kind(path)) != PER_RECORD]
    if whole:
        raise ConfigError(f"--image-warc: images are read by offset, but {'; '.join(whole)}: recompress it record by record "
                          "(e.g. `warcio recompress`)")


def index_image_warcs(paths: list[str], output: str) -> PartitionedImages:
    """Index ``paths`` in parallel (a task per WARC) into partitions under ``output``; the source over them."""
    parts = max(1, min(len(paths) * 4, MAX_FETCH_UNITS))
    folder = storage.join(output, STAGE, "warc-index")
    run_tasks(index_warc, [(path, number, folder, parts) for number, path in enumerate(paths)])
    return PartitionedImages(folder, paths, parts)
