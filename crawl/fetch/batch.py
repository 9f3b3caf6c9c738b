"""Fetching many URLs from plain synchronous code (a Ray task, a script).

``fetch_all`` runs a Fetcher on its own event loop in a background thread and hands
results over a queue as they complete, so the caller keeps writing ordinary loops:

    for result in fetch_all(urls, "image", FetchConfig()):
        if result.ok:
            keep(result.url, result.body)

At most ``window`` fetches are started and not yet consumed, so a slow consumer or an
endless iterator of URLs does not grow memory without bound. Stopping the loop early
(``break``) cancels what is in flight and closes the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import Callable, Iterable, Iterator

from shards.stats import Stats

from .config import FetchConfig, FetchResult
from .fetcher import Fetcher

_DONE = object()


def fetch_all(
    urls: Iterable[str],
    kind: str,
    config: FetchConfig | None = None,
    stats: Stats | None = None,
    window: int | None = None,
) -> Iterator[FetchResult]:
    """Fetch each distinct URL once and yield its result as soon as it completes.

    Counters go to ``stats`` (read it after the loop ends: it is updated from the
    fetching thread while the loop runs). ``urls`` is iterated in that thread too.
    """
    config = config or FetchConfig()
    stats = stats if stats is not None else Stats()
    window = window or max(1024, 4 * config.max_concurrency)
    results: queue.Queue[object] = queue.Queue()
    loop = asyncio.new_event_loop()
    credits = asyncio.Semaphore(window)

    async def produce() -> None:
        seen: set[str] = set()
        async with Fetcher(config, stats) as fetcher, asyncio.TaskGroup() as tasks:

            async def fetch_one(url: str) -> None:
                results.put(await fetcher.fetch(url, kind))

            for url in urls:
                if url in seen:
                    continue
                seen.add(url)
                await credits.acquire()
                tasks.create_task(fetch_one(url))

    def run() -> None:
        try:
            loop.run_until_complete(main)
            results.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            results.put(error)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    main = loop.create_task(produce())
    thread = threading.Thread(target=run, name="fetch_all", daemon=True)
    thread.start()
    try:
        while True:
            item = results.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            _tell(loop, credits.release)
            yield item  # type: ignore[misc]
    finally:
        _tell(loop, main.cancel)
        thread.join()


def _tell(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` on the fetching loop, unless that loop has already finished."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)
