"""The fetcher against real HTTP servers on 127.0.0.1: limits, retries, redirects,
content types, opt-out, and the synchronous ``fetch_all`` over a real web site."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import unquote

from fetch_servers import LocalServer, endless, files, redirect, sequence, slow, text

from flamboyance.crawl.fetch import FetchConfig, Fetcher, fetch_all
from flamboyance.shards.stats import Stats

PAGE = "<html><body><p>Hello</p></body></html>"


def _config(**overrides) -> FetchConfig:
    """Local servers are private addresses, so tests allow them; retries are quick."""
    settings = dict(allow_private=True, respect_robots=False, retries=0, backoff_base=0.05)
    settings.update(overrides)
    return FetchConfig(**settings)


def _one(url: str, kind: str = "page", config: FetchConfig | None = None, stats: Stats | None = None):
    [result] = fetch_all([url], kind, config or _config(), stats)
    return result


def test_a_page_is_fetched_with_its_metadata():
    with LocalServer({"/p": text(PAGE, **{"X-Custom": "yes"})}) as server:
        stats = Stats()
        result = _one(server.url("/p"), stats=stats)
    assert result.ok and result.status == 200 and result.body == PAGE.encode()
    assert result.headers["content-type"] == "text/html" and result.headers["x-custom"] == "yes"
    assert result.ip == "127.0.0.1" and result.final_url == server.url("/p")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", result.fetched_at) and result.elapsed > 0
    assert stats.to_json() == {"fetch/page/ok": 1, "hosts/127.0.0.1/ok": 1}


def test_the_user_agent_names_us_and_a_contact_url():
    seen = []

    async def echo(request):
        seen.append(request.headers["User-Agent"])
        return await text(PAGE)(request)

    with LocalServer({"/": echo}) as server:
        _one(server.url("/"), config=_config(contact_url="https://example.org/bot"))
    assert seen == ["FlamboyanceBot/0.1 (+https://example.org/bot)"]


def test_only_accepted_content_types_are_kept():
    routes = {"/page": text(PAGE), "/image": text("GIF89a", content_type="image/gif")}
    with LocalServer(routes) as server:
        assert _one(server.url("/page"), "image").error == "content_type"
        assert _one(server.url("/image"), "page").error == "content_type"
        assert _one(server.url("/image"), "image").body == b"GIF89a"


def test_a_slow_server_times_out_and_timeouts_are_retried():
    with LocalServer({"/slow": slow(5)}) as server:
        stats = Stats()
        result = _one(server.url("/slow"), config=_config(read_timeout=0.3, retries=1), stats=stats)
    assert result.error == "timeout" and result.body is None
    assert server.hits("/slow") == 2 and stats.get("fetch/page/retries") == 1


def test_an_endless_body_is_cut_off_while_streaming():
    with LocalServer({"/endless": endless()}) as server:
        started = time.monotonic()
        result = _one(server.url("/endless"), "image", _config(max_bytes={"page": 1, "image": 1 << 20}))
    assert result.error == "too_large" and result.body is None
    assert time.monotonic() - started < 5


def test_an_announced_oversized_body_is_not_read():
    with LocalServer({"/big": text("x" * 5000)}) as server:
        assert (
            _one(server.url("/big"), config=_config(max_bytes={"page": 1000, "image": 1000})).error
            == "too_large"
        )


def test_redirects_are_followed_by_hand_and_bounded():
    routes = {
        "/old": redirect("/new", status=301),
        "/new": text(PAGE),
        "/loop-a": redirect("/loop-b"),
        "/loop-b": redirect("/loop-a"),
        "/1": redirect("/2"),
        "/2": redirect("/3"),
        "/3": redirect("/new"),
        "/nowhere": redirect("gopher://example.com/"),
    }
    with LocalServer(routes) as server:
        moved = _one(server.url("/old"))
        assert moved.ok and moved.final_url == server.url("/new") and moved.url == server.url("/old")
        assert _one(server.url("/loop-a")).error == "redirect_loop"
        assert _one(server.url("/1"), config=_config(max_redirects=2)).error == "too_many_redirects"
        assert _one(server.url("/1"), config=_config(max_redirects=3)).ok
        assert _one(server.url("/nowhere")).error == "bad_scheme"


def test_429_with_retry_after_is_retried_after_the_wait():
    busy = text("slow down", status=429, **{"Retry-After": "1"})
    with LocalServer({"/": sequence(busy, text(PAGE))}) as server:
        stats = Stats()
        started = time.monotonic()
        result = _one(server.url("/"), config=_config(retries=2), stats=stats)
    assert result.ok and result.body == PAGE.encode()
    assert time.monotonic() - started >= 1.0
    assert server.hits("/") == 2 and stats.get("fetch/page/retries") == 1


def test_a_retry_after_beyond_the_cap_gives_up_at_once():
    with LocalServer({"/": text("later", status=429, **{"Retry-After": "3600"})}) as server:
        result = _one(server.url("/"), config=_config(retries=3))
    assert result.error == "http_429" and server.hits("/") == 1


def test_503_is_retried_with_backoff_and_404_is_not():
    with LocalServer(
        {"/flaky": sequence(text("down", status=503), text(PAGE)), "/gone": text("no", status=404)}
    ) as server:
        assert _one(server.url("/flaky"), config=_config(retries=2)).ok
        gone = _one(server.url("/gone"), config=_config(retries=2))
    assert gone.error == "http_404" and gone.status == 404
    assert server.hits("/flaky") == 2 and server.hits("/gone") == 1


def test_an_image_with_x_robots_tag_noai_is_dropped():
    routes = {
        "/opted-out.png": text("PNG", content_type="image/png", **{"X-Robots-Tag": "noai"}),
        "/other-bot.png": text("PNG", content_type="image/png", **{"X-Robots-Tag": "otherbot: noimageai"}),
    }
    with LocalServer(routes) as server:
        stats = Stats()
        results = {r.url: r for r in fetch_all([server.url(p) for p in routes], "image", _config(), stats)}
    assert results[server.url("/opted-out.png")].error == "optout"
    assert results[server.url("/opted-out.png")].body is None
    assert results[server.url("/other-bot.png")].ok
    assert stats.get("fetch/image/failed/optout") == 1 and stats.get("hosts/127.0.0.1/optout") == 1


def test_per_host_and_global_concurrency_limits_hold():
    with LocalServer({"/": slow(0.2)}) as server:
        urls = [server.url(f"/{i}") for i in range(12)]
        assert all(r.ok for r in fetch_all(urls, "page", _config(max_per_host=3)))
        assert server.max_active == 3
        server.max_active = 0
        assert all(r.ok for r in fetch_all(urls, "page", _config(max_per_host=8, max_concurrency=2)))
        assert server.max_active == 2


def test_fetch_all_fetches_each_url_once_and_can_stop_early():
    with LocalServer({"/": text(PAGE), "/slow/": slow(10)}) as server:
        urls = [server.url("/a"), server.url("/b"), server.url("/a"), server.url("/b")]
        assert sorted(r.url for r in fetch_all(urls, "page", _config())) == sorted(set(urls))
        assert server.hits("/a") == 1 and server.hits("/b") == 1
        started = time.monotonic()
        results = fetch_all(
            [server.url("/c")] + [server.url(f"/slow/{i}") for i in range(5)], "page", _config()
        )
        first = next(results)
        results.close()  # what a `break` out of the loop does: cancel the rest, close connections
        assert first.url == server.url("/c") and time.monotonic() - started < 5


def test_the_async_fetcher_directly():
    async def fetch_both(page_url: str, image_url: str):
        async with Fetcher(_config()) as fetcher:
            return await asyncio.gather(fetcher.fetch(page_url, "page"), fetcher.fetch(image_url, "image"))

    with LocalServer({"/p": text(PAGE), "/i.gif": text("GIF", content_type="image/gif")}) as server:
        page, image = asyncio.run(fetch_both(server.url("/p"), server.url("/i.gif")))
    assert page.body == PAGE.encode() and image.body == b"GIF"


def test_a_real_site_page_and_its_images(wiki_site):
    site = wiki_site / "site"
    with LocalServer({"/": files(site)}) as server:
        [page] = fetch_all([server.url("/A/Ray_Charles.html")], "page", _config(respect_robots=True))
        assert page.ok
        sources = re.findall(r'<img[^>]+src="([^"]+)"', page.body.decode("utf-8"))
        urls = [server.url("/A/Ray_Charles.html").rsplit("/", 1)[0] + "/" + src for src in sources]
        stats = Stats()
        images = list(fetch_all(urls, "image", _config(respect_robots=True), stats))
    assert len(images) == len(set(urls)) >= 5
    for image in images:
        assert image.ok, (image.url, image.error)
        relative = unquote(image.final_url.split(f":{server.port}/", 1)[1])
        assert image.body == (site / relative).read_bytes()
    assert stats.get("fetch/image/ok") == len(images)
