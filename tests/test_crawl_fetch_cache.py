"""The fetch cache of a URL unit: what it fetched once is answered from disk when the unit runs again."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fetch_servers import LocalServer, files, redirect

from flamboyance.crawl.fetch import FetchConfig, FetchSession
from flamboyance.crawl.fetch_cache import FetchCache
from flamboyance.crawl.warc import iter_records
from flamboyance.shards.stats import Stats

CONFIG = FetchConfig(allow_private=True, retries=0)


@pytest.fixture
def server(wiki_site):
    routes = {"/": files(wiki_site / "site"), "/moved": redirect("/A/Ray_Charles.html")}
    with LocalServer(routes) as running:
        yield running


@contextlib.contextmanager
def open_cache(folder: Path, stats: Stats, saved: Path | None = None):
    """A unit's cache in front of its fetch session, as a URL unit opens them."""
    with FetchSession(CONFIG, stats) as session, FetchCache(str(folder), "unit", session, saved and str(saved)) as cache:
        yield cache


def crawl(cache: FetchCache, server: LocalServer) -> dict:
    """Fetch three pages (one missing, one redirected) and two images; results by URL."""
    pages = [server.url(p) for p in ("/A/Baby_Grand.html", "/A/Nowhere.html", "/moved")]
    images = [server.url("/I/m/Baby_Grand_Billy_Joel.jpg"), server.url("/I/m/Americathebeautiful.jpg")]
    results = {r.url: (r.final_url, r.error, r.body) for r in cache.fetch(pages, "page")}
    results.update({url: body for url, body in cache.get_many(images).items()})
    return results


def requests(server: LocalServer) -> list[str]:
    return [path for path in server.log if path != "/robots.txt"]


def test_a_unit_run_again_replays_everything_and_counts_the_same_reasons(server, tmp_path: Path):
    first_stats, second_stats = Stats(), Stats()
    with open_cache(tmp_path, first_stats) as cache:
        first = crawl(cache, server)
    assert first[server.url("/moved")][0] == server.url("/A/Ray_Charles.html")
    assert first[server.url("/A/Nowhere.html")][1] == "http_404"
    seen = requests(server)
    assert len(seen) == len(set(seen)) == 6  # 3 pages, the redirect's target, 2 images

    with open_cache(tmp_path, second_stats) as cache:
        second = crawl(cache, server)
    assert second == first
    assert requests(server) == seen  # nothing was asked again
    assert second_stats.get("cache/page/replayed") == 3 and second_stats.get("cache/image/replayed") == 2
    for name in ("fetch/page/ok", "fetch/page/failed/http_404", "fetch/image/ok", "hosts/127.0.0.1/ok"):
        assert second_stats.get(name) == first_stats.get(name) > 0, name


def test_a_record_cut_short_by_a_kill_is_dropped_and_only_it_is_fetched_again(server, tmp_path: Path):
    with open_cache(tmp_path, Stats()) as cache:
        crawl(cache, server)
    warc = tmp_path / "unit.warc.gz"
    last = list(iter_records(str(warc)))[-1]
    os.truncate(warc, last.offset + 100)  # the process died while writing the last record
    failed = tmp_path / "unit.failed.jsonl"
    failed.write_bytes(failed.read_bytes() + b'{"kind": "page", "url": "http://')
    before = requests(server)

    stats = Stats()
    with open_cache(tmp_path, stats) as cache:
        crawl(cache, server)
    assert stats.get("cache/truncated") == 2
    again = requests(server)[len(before) :]
    assert again == [urlsplit(last.target_uri).path]
    check = Stats()
    assert len(list(iter_records(str(warc), stats=check))) == 5  # 4 responses and the redirect
    assert not check.under("warc/corrupt")


def test_the_saved_warc_stands_in_for_a_cache_deleted_before_the_marker(server, tmp_path: Path):
    saved = tmp_path / "saved" / "unit.warc.gz"
    with open_cache(tmp_path / "cache", Stats(), saved) as cache:
        crawl(cache, server)
        cache.save()
    cache.remove()  # as if the task died after saving, before its marker
    assert saved.exists() and not (tmp_path / "cache" / "unit.warc.gz").exists()
    before = len(server.log)
    with open_cache(tmp_path / "cache", Stats(), saved) as cache:
        results = {r.url: r for r in cache.fetch([server.url("/A/Baby_Grand.html")], "page")}
    assert len(server.log) == before
    assert b"Billy Joel" in results[server.url("/A/Baby_Grand.html")].body
