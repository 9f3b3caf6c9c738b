"""Concurrent requests gathered into one forward pass: a short queue with a maximum wait.

Each model call has a ``Batcher`` with one worker thread. A request thread puts its
item on the queue and waits; the worker takes the first item, waits at most
``max_wait`` seconds for up to ``max_batch - 1`` more, and runs them together; it
waits only while requests arrive together (the last batch held several), so a lone
client pays no wait, and items that queued up during a batch run together anyway. With
``max_batch=1`` requests still go one at a time through the worker (no batching, the
benchmark's baseline). A full queue answers at once (``Overloaded``, a 503 with
Retry-After) instead of letting waits grow without bound.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

BATCH_TIMEOUT = 120.0  # seconds a request waits for its batch before answering 503
Item = TypeVar("Item")
Result = TypeVar("Result")


class Overloaded(Exception):
    """The queue is full: the caller should retry later."""


class Batcher(Generic[Item, Result]):
    """Runs ``work(items) -> results`` (same order) on batches of items from concurrent callers."""

    def __init__(
        self, work: Callable[[list[Item]], list[Result]], max_batch: int = 8, max_wait: float = 0.005, max_queue: int = 256, name: str = "batch"
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait < 0:
            raise ValueError("max_batch and max_queue must be at least 1, max_wait not negative")
        self.work, self.max_batch, self.max_wait = work, max_batch, max_wait
        self.sizes: Counter[int] = Counter()  # batch size -> how many batches ran with it
        self._queue: queue.Queue[tuple[Item, Future] | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def enqueue(self, item: Item) -> Future:
        """Queue ``item``; its future holds the result (or what ``work`` raised for it)."""
        future: Future = Future()
        try:
            self._queue.put_nowait((item, future))
        except queue.Full:
            raise Overloaded(f"{self._thread.name}: queue full") from None
        return future

    def submit(self, item: Item, timeout: float = BATCH_TIMEOUT) -> Result:
        """The result for ``item``, computed in some batch; raises what ``work`` raised for it."""
        return self.enqueue(item).result(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        concurrent = False  # did the last batch hold several items?
        while (first := self._queue.get()) is not None:
            batch = [first]
            # The wait is paid only under concurrency: a lone client's request runs at once.
            deadline = time.monotonic() + (self.max_wait if concurrent else 0.0)
            while len(batch) < self.max_batch:
                try:
                    entry = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if entry is None:
                    self._queue.put(None)  # close after this batch
                    break
                batch.append(entry)
            concurrent = len(batch) > 1
            self._run(batch)

    def _run(self, batch: list[tuple[Item, Future]]) -> None:
        self.sizes[len(batch)] += 1
        try:
            results = self.work([item for item, _ in batch])
        except Exception as error:  # noqa: BLE001 - handed to the caller
            if len(batch) == 1:
                batch[0][1].set_exception(error)
                return
            for entry in batch:  # one item's failure must not fail the others
                self._run([entry])
            return
        for (_, future), result in zip(batch, results):
            future.set_result(result)

    def stats(self) -> dict[str, Any]:
        batches = sum(self.sizes.values())
        items = sum(size * count for size, count in self.sizes.items())
        return {"batches": batches, "items": items, "largest": max(self.sizes, default=0), "queued": self._queue.qsize()}
