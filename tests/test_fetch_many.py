"""Thousands of image downloads in one batch, with robots.txt and every safety check on.

The wiki site's 211 real images are served from another process on 127.0.0.1, each
under 20 distinct URLs: every one must arrive, intact, counted once. How fast this goes
is measured by ``benchmarks/images.py`` against img2dataset, not here.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fetch_servers import file_server_process

from flamboyance.crawl.fetch import FetchConfig, fetch_all
from flamboyance.shards.stats import Stats


@pytest.mark.slow
def test_thousands_of_images_arrive_intact_and_counted_once(wiki_site):
    images = sorted(path for path in (wiki_site / "site" / "I").rglob("*") if path.is_file())
    sizes = {quote(str(path.relative_to(wiki_site / "site"))): path.stat().st_size for path in images}
    with file_server_process(wiki_site / "site") as base:
        urls = [f"{base}/{name}?copy={copy}" for copy in range(20) for name in sizes]
        config = FetchConfig(allowed_networks=("127.0.0.0/8",), max_per_host=64, max_concurrency=64)
        stats = Stats()
        results = list(fetch_all(urls + urls[:50], "image", config, stats))  # repeats are fetched once
    assert stats.get("fetch/image/ok") == len(urls) == len(results), stats.under("fetch/image/failed")
    for result in results:
        name = result.url.split("/", 3)[3].split("?")[0]
        assert len(result.body) == sizes[name], result.url
