"""Every response a URL unit fetches, kept on disk the moment it arrives.

A crawl is interrupted sooner or later (a killed task, a lost machine, Ctrl-C). The
build then runs the same units again; finished units are skipped whole (their markers),
and this cache is what keeps an unfinished unit from fetching again what it already had:

* each unit appends every page and image response it receives to its own WARC,
  ``fetch-cache/UNIT.warc.gz``, one gzip member per record, flushed as written; a
  redirect is kept as a 302 record for the URL asked for plus the final response;
* failures (404, refused address, robots, timeouts...) go to ``UNIT.failed.jsonl``,
  one flushed line each: a failed URL is not asked again either, so a resumed crawl
  makes exactly the requests an uninterrupted one makes, and counts the same reasons;
* a re-run first replays both files: URLs found there are answered from disk (counted
  ``cache/<kind>/replayed`` besides the usual ``fetch/...`` and ``hosts/...`` counters),
  only the rest go to the fetcher.

The guarantee: a response that reached the cache is never requested again by its unit.
Only requests in flight when the process died (at most ``fetch.max_concurrency``) are
sent again, since their answers never arrived; robots.txt is fetched again once per
site and run. A kill can leave the last record or line half written: the replay reads
what is whole, cuts the tail off and counts ``cache/truncated``. Flushing hands each
record to the operating system, which survives the death of the process; a machine
crash may lose the unsynced tail, which is then simply fetched again.

When the unit is done the cache WARC becomes its ``--save-warc`` output (copied there
before the completion marker is written, and used as the replay source if the local
copy is gone), and the local files are deleted after the marker. Payloads are stored
as aiohttp hands them over, with content and transfer encodings undone, and the
headers adjusted to say so, so any WARC reader (ours: ``--warc`` and ``--image-warc``)
can re-extract a crawl later without touching the network.

The cache needs a local folder that it can append to: ``OUT/fetch-cache`` for a local
output, a folder under the system's temporary directory for an object-store output
(so a crawl into ``s3://`` resumes without refetching only on the same machine).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from flamboyance.crawl.attach import Fetched
from flamboyance.crawl.fetch import FetchResult, FetchSession
from flamboyance.crawl.fetch.address import UnsafeURL, check_url
from flamboyance.crawl.warc import iter_records, read_record_at, record_end
from flamboyance.crawl.warc_writer import WarcWriter
from flamboyance.shards import storage
from flamboyance.shards.stats import Stats

CACHE = "fetch-cache"
REDIRECT = 302
# Headers that describe the bytes on the wire, not the payload as stored.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class _Entry:
    """Where a cached response is in the WARC, and what is needed without reading it."""

    offset: int
    location: str | None  # where a redirect record points; None for a final response
    content_type: str


def cache_folder(output: str) -> str:
    """The local folder holding the fetch caches of a build's unfinished units."""
    if storage.is_local(output):
        return storage.join(output, CACHE)
    digest = hashlib.sha1(output.encode("utf-8")).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), "flamboyance-" + CACHE, digest)


def remove_caches(output: str, unit_ids: Iterable[str]) -> None:
    """Delete the caches of finished units (left when a task died after its marker)."""
    folder = cache_folder(output)
    for unit_id in unit_ids:
        for suffix in (".warc.gz", ".failed.jsonl"):
            storage.remove(os.path.join(folder, unit_id + suffix))


class FetchCache:
    """The fetcher behind a cache of one unit's responses: ``with FetchCache(...) as cache``.

    ``fetch(urls, kind)`` yields a ``FetchResult`` per distinct URL, from the cache or
    the network; ``get_many(urls)`` makes the cache an image source for ``attach_images``.
    ``saved`` is where the finished unit's WARC goes (``save()``), if it is kept.
    """

    def __init__(self, folder: str, name: str, session: FetchSession, saved: str | None = None) -> None:
        self.warc_path = os.path.join(folder, f"{name}.warc.gz")
        self.failed_path = os.path.join(folder, f"{name}.failed.jsonl")
        self.session = session
        self.stats = session.stats
        self.saved = saved
        self._index: dict[str, _Entry] = {}
        self._failures: dict[tuple[str, str], str] = {}
        self._warc: IO[bytes] | None = None
        self._failed: IO[str] | None = None

    def __enter__(self) -> FetchCache:
        os.makedirs(os.path.dirname(self.warc_path), exist_ok=True)
        if self.saved and not os.path.exists(self.warc_path) and storage.exists(self.saved):
            # Killed after saving but before the marker: the saved WARC is the cache.
            with storage.open_input(self.saved) as source, open(self.warc_path, "wb") as target:
                shutil.copyfileobj(source, target)
        self._replay_warc()
        self._replay_failures()
        self._warc = open(self.warc_path, "ab")
        self._writer = WarcWriter(self._warc).__enter__()
        self._failed = open(self.failed_path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self._warc, self._failed):
            if stream is not None:
                stream.close()
        self._warc = self._failed = None

    def fetch(self, urls: Iterable[str], kind: str) -> Iterator[FetchResult]:
        """Each distinct URL's result: replayed ones first, then the rest as they are fetched."""
        missing = []
        for url in dict.fromkeys(urls):
            result = self._replayed(url, kind)
            if result is None:
                missing.append(url)
                continue
            self._count(result, kind)
            yield result
        if not missing:
            return
        # The session counts into self.stats from its thread; nothing else counts meanwhile.
        for result in self.session.fetch_all(missing, kind):
            self._record(result, kind)
            yield result

    def get_many(self, urls: list[str]) -> dict[str, Fetched]:
        """Image bytes by URL, or the reason there are none (the ``ImageSource`` protocol)."""
        return {
            result.url: result.body if result.ok and result.body is not None else (result.error or "empty")
            for result in self.fetch(urls, "image")
        }

    def save(self) -> None:
        """Copy the cache WARC to ``saved``, whole or not at all."""
        if self.saved is None:
            return
        if self._warc is not None:
            self._warc.flush()
        with open(self.warc_path, "rb") as source, storage.atomic_writer(self.saved) as target:
            shutil.copyfileobj(source, target)

    def remove(self) -> None:
        """Delete the cache files (once the unit's marker is written)."""
        storage.remove(self.warc_path)
        storage.remove(self.failed_path)

    # --- writing --------------------------------------------------------------------

    def _record(self, result: FetchResult, kind: str) -> None:
        assert self._warc is not None and self._failed is not None, "use FetchCache inside 'with'"
        if not result.ok or result.body is None:
            error = result.error or "empty"
            self._failed.write(json.dumps({"kind": kind, "url": result.url, "error": error}, ensure_ascii=False) + "\n")
            self._failed.flush()
            self._failures[(kind, result.url)] = error
            return
        date = datetime.fromisoformat(result.fetched_at) if result.fetched_at else None
        headers = [(name, value) for name, value in result.headers.items() if name not in _WIRE_HEADERS]
        headers.append(("content-length", str(len(result.body))))
        try:
            entry = _Entry(self._warc.tell(), None, result.headers.get("content-type", ""))
            self._writer.write_response(result.final_url, result.status or 200, headers, result.body, date)
            self._index[result.final_url] = entry
            if result.url != result.final_url:
                hop = _Entry(self._warc.tell(), result.final_url, "")
                self._writer.write_response(result.url, REDIRECT, [("location", result.final_url)], b"", date)
                self._index[result.url] = hop
        except ValueError:  # a header no WARC can hold: served now, fetched again next time
            return
        self._warc.flush()

    # --- replaying ------------------------------------------------------------------

    def _replay_warc(self) -> None:
        if not os.path.exists(self.warc_path):
            return
        seen = Stats()
        last = None
        for record in iter_records(self.warc_path, stats=seen):
            location = record.http_headers.get("location") if record.http_status == REDIRECT else None
            self._index[record.target_uri] = _Entry(record.offset, location, record.http_headers.get("content-type", ""))
            last = record.offset
        if seen.under("warc/corrupt"):
            # Only ever a half-written last record: cut it off before appending.
            with open(self.warc_path, "r+b") as stream:
                end = 0 if last is None else record_end(stream, last, True) or 0
                stream.truncate(end)
            self.stats.add("cache/truncated")

    def _replay_failures(self) -> None:
        if not os.path.exists(self.failed_path):
            return
        whole = 0
        with open(self.failed_path, "rb") as stream:
            for line in stream:
                try:
                    entry = json.loads(line)
                    self._failures[(entry["kind"], entry["url"])] = entry["error"]
                except (ValueError, KeyError, TypeError):
                    break
                if not line.endswith(b"\n"):
                    break
                whole += len(line)
        if whole < os.path.getsize(self.failed_path):
            os.truncate(self.failed_path, whole)
            self.stats.add("cache/truncated")

    def _replayed(self, url: str, kind: str) -> FetchResult | None:
        """The cached result for ``url`` as ``kind``, or None when it must be fetched."""
        error = self._failures.get((kind, url))
        if error is not None:
            return FetchResult(url=url, final_url=url, error=error)
        target = url
        for _ in range(self.session.config.max_redirects + 1):
            entry = self._index.get(target)
            if entry is None:
                return None
            if entry.location is None:
                break
            target = entry.location
        else:
            return None
        if not self.session.config.accepts(kind, entry.content_type):
            return FetchResult(url=url, final_url=target, error="content_type")
        record = read_record_at(self.warc_path, entry.offset)
        if record is None or record.target_uri != target:
            return None
        fetched_at = datetime.fromisoformat(record.date).isoformat(timespec="seconds") if record.date else ""
        return FetchResult(
            url=url,
            final_url=target,
            status=record.http_status,
            headers=record.http_headers,
            body=record.body,
            fetched_at=fetched_at,
        )

    def _count(self, result: FetchResult, kind: str) -> None:
        """The counters the fetcher would have added for this result, plus the replay."""
        outcome = result.error or "ok"
        self.stats.add(f"fetch/{kind}/ok" if result.ok else f"fetch/{kind}/failed/{outcome}")
        host = _host(result.url)
        if host:
            self.stats.add(f"hosts/{host}/{outcome}")
        self.stats.add(f"cache/{kind}/replayed")


def _host(url: str) -> str | None:
    try:
        return check_url(url).raw_host
    except UnsafeURL:
        return None
