"""Images downloaded over HTTP with the polite fetcher, as an ``ImageSource``.

Everything about how to fetch (robots.txt, opt-out headers, address safety, limits)
lives in ``crawl/fetch``; this adapter only turns its results into what the attach
step expects: bytes, or the failure reason that the fetcher counted.
"""

from __future__ import annotations

from flamboyance.crawl.attach import Fetched
from flamboyance.crawl.fetch import FetchSession


class HttpImageSource:
    """Downloads each batch of image URLs concurrently, in the unit's fetch session."""

    def __init__(self, session: FetchSession) -> None:
        self.session = session

    def get_many(self, urls: list[str]) -> dict[str, Fetched]:
        results: dict[str, Fetched] = {}
        for result in self.session.fetch_all(urls, "image"):
            results[result.url] = result.body if result.ok and result.body is not None else (result.error or "empty")
        return results
