"""Fetching many URLs from plain synchronous code (a Ray task, a script).

A ``FetchSession`` runs a Fetcher on its own event loop in a background thread and
hands results over a queue as they complete, so the caller keeps writing ordinary loops:

    for result in fetch_all(urls, "image", FetchConfig()):
        if result.ok:
            keep(result.url, result.body)

At most ``window`` fetches are started and not yet consumed, so a slow consumer or an
endless iterator of URLs does not grow memory without bound. Stopping the loop early
(``break``) cancels what is in flight and closes the connections.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from typing import Callable, Iterable, Iterator

from flamboyance.shards.stats import Stats

from .config import FetchConfig, FetchResult
from .fetcher import Fetcher

_DONE = object()


class FetchSession:
    """One Fetcher on its own event loop thread, for many batches of URLs.

    A unit fetches its pages and images in batches; keeping one session for the whole
    unit keeps what the Fetcher learns between batches: robots.txt per site (fetched
    once, not once per batch), the DNS cache, per-host delays and open connections.

        with FetchSession(config, stats) as session:
            for result in session.fetch_all(urls, "page"):
                ...
    """

    def __init__(self, config: FetchConfig | None = None, stats: Stats | None = None) -> None:
        self.config = config or FetchConfig()
        self.stats = stats if stats is not None else Stats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fetch-session", daemon=True)
        self._fetcher = Fetcher(self.config, self.stats)

    def __enter__(self) -> "FetchSession":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._fetcher.__aenter__(), self._loop).result()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._fetcher.__aexit__(None, None, None), self._loop).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def fetch_all(self, urls: Iterable[str], kind: str, window: int | None = None) -> Iterator[FetchResult]:
        """Fetch each distinct URL once and yield its result as soon as it completes.

        Counters go to the session's ``stats`` (updated from the fetching thread while
        the loop runs). ``urls`` is iterated in that thread too. At most ``window``
        fetches are started and not yet consumed.
        """
        window = window or max(1024, 4 * self.config.max_concurrency)
        results: queue.Queue[object] = queue.Queue()
        credits: list[asyncio.Semaphore] = []

        async def produce() -> None:
            credits.append(asyncio.Semaphore(window))
            seen: set[str] = set()
            async with asyncio.TaskGroup() as tasks:

                async def fetch_one(url: str) -> None:
                    results.put(await self._fetcher.fetch(url, kind))

                for url in urls:
                    if url in seen:
                        continue
                    seen.add(url)
                    await credits[0].acquire()
                    tasks.create_task(fetch_one(url))

        def finished(future: concurrent.futures.Future) -> None:
            error = None if future.cancelled() else future.exception()
            results.put(error if error is not None else _DONE)

        main = asyncio.run_coroutine_threadsafe(produce(), self._loop)
        main.add_done_callback(finished)
        try:
            while True:
                item = results.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                _tell(self._loop, lambda: credits[0].release())
                yield item  # type: ignore[misc]
        finally:
            if not main.done():
                main.cancel()
                with contextlib.suppress(concurrent.futures.CancelledError):
                    main.result()


def fetch_all(
    urls: Iterable[str],
    kind: str,
    config: FetchConfig | None = None,
    stats: Stats | None = None,
    window: int | None = None,
) -> Iterator[FetchResult]:
    """One batch in a session of its own (``FetchSession`` keeps one across batches)."""
    with FetchSession(config, stats) as session:
        yield from session.fetch_all(urls, kind, window)


def _tell(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` on the fetching loop, unless that loop has already finished."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)
