"""Polite, safe fetching of web pages and images (issue 3).

    from flamboyance.crawl.fetch import FetchConfig, fetch_all
    for result in fetch_all(urls, "image", FetchConfig(contact_url="https://example.org/bot")):
        ...

``Fetcher`` is the async interface, ``fetch_all`` the synchronous one; see fetcher.py
for the steps each URL goes through and the reasons a fetch can fail with.
"""

from .batch import FetchSession, fetch_all
from .config import FetchConfig, FetchResult, Kind
from .fetcher import Fetcher
from .optout import header_opts_out, page_opts_out_images
from .robots import Robots

__all__ = [
    "FetchConfig",
    "FetchResult",
    "FetchSession",
    "Fetcher",
    "Kind",
    "Robots",
    "fetch_all",
    "header_opts_out",
    "page_opts_out_images",
]
