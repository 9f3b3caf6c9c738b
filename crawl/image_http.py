"""Images downloaded over HTTP with the polite fetcher, as an ``ImageSource``.

Everything about how to fetch (robots.txt, opt-out headers, address safety, limits)
lives in ``crawl/fetch``; this adapter only turns its results into what the attach
step expects: bytes, or the failure reason that the fetcher counted.
"""

from __future__ import annotations

from crawl.attach import Fetched
from crawl.fetch import FetchConfig, fetch_all
from shards.stats import Stats


class HttpImageSource:
    """Downloads a batch of image URLs concurrently; fetch counters go to ``stats``."""

    def __init__(self, config: FetchConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats

    def get_many(self, urls: list[str]) -> dict[str, Fetched]:
        results: dict[str, Fetched] = {}
        for result in fetch_all(urls, "image", self.config, self.stats):
            results[result.url] = result.body if result.ok and result.body is not None else (result.error or "empty")
        return results
