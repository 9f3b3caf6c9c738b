"""Without ``allow_private`` the fetcher must never connect to this machine or the
networks behind it, however the address is written or reached.

A local server listens on 127.0.0.1; each test proves both that the server saw no
request and that no socket connect was even attempted (a spy on the event loop's
``sock_connect``, through which aiohttp opens every connection). Addresses that are not
loopback (10.0.0.1, 169.254.169.254) must be refused before any connect, so these
tests never send a packet off this machine.
"""

from __future__ import annotations

import asyncio.selector_events

import pytest
from fetch_servers import LocalServer, redirect, text

from flamboyance.crawl.fetch import FetchConfig, fetch_all
from flamboyance.shards.stats import Stats


@pytest.fixture
def connects(monkeypatch):
    """Every address the fetcher's event loop tries to connect a socket to."""
    attempts: list[object] = []
    original = asyncio.selector_events.BaseSelectorEventLoop.sock_connect

    async def spy(self, sock, address):
        attempts.append(address)
        return await original(self, sock, address)

    monkeypatch.setattr(asyncio.selector_events.BaseSelectorEventLoop, "sock_connect", spy)
    return attempts


@pytest.fixture
def server():
    with LocalServer({"/": text("<p>secret admin page</p>")}) as running:
        yield running


def test_private_and_special_addresses_are_refused_before_connecting(server, connects):
    port = server.port
    urls = [
        f"http://127.0.0.1:{port}/",
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://127.1:{port}/",
        f"http://localhost:{port}/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://0.0.0.0/",
    ]
    stats = Stats()
    results = list(fetch_all(urls, "page", FetchConfig(), stats))
    assert sorted(r.url for r in results) == sorted(urls)
    assert {r.error for r in results} == {"refused_address"}
    assert all(r.body is None and r.ip is None for r in results)
    assert server.log == [] and connects == []
    assert stats.get("fetch/page/failed/refused_address") == len(urls)
    assert stats.get("hosts/localhost/refused_address") == 1


def test_allow_private_is_the_switch_for_local_crawls(server, connects):
    [result] = fetch_all([server.url("/")], "page", FetchConfig(allow_private=True, respect_robots=False))
    assert result.ok and server.log == ["/"] and len(connects) == 1


def test_a_redirect_to_a_private_address_is_refused_at_the_hop(server, connects):
    # The first server is let through by name (address and port); the one it redirects
    # to is the same machine on another port, and must stay out of reach.
    with LocalServer({}) as front:
        front.routes = {
            "/to-ip": redirect(server.url("/")),
            "/to-name": redirect(server.url("/", host="localhost")),
            "/to-decimal": redirect(f"http://2130706433:{server.port}/"),
        }
        config = FetchConfig(allowed_networks=(f"127.0.0.1:{front.port}",))
        stats = Stats()
        results = list(fetch_all([front.url(path) for path in front.routes], "page", config, stats))
    assert {r.error for r in results} == {"refused_address"}
    assert all(r.status == 302 for r in results)  # the last answer seen was the redirect
    assert sorted(front.log) == ["/robots.txt", "/to-decimal", "/to-ip", "/to-name"]
    assert server.log == []
    assert {address[1] for address in connects} == {front.port}


@pytest.mark.parametrize(
    "url, reason",
    [
        ("ftp://example.com/file", "bad_scheme"),
        ("http://user:pass@example.com/", "bad_url"),
        ("http://example.com:70000/", "bad_url"),
        ("http://xn--a.example/", "bad_url"),
        ("http://" + "a" * 100_000 + ".com/", "bad_url"),
        ("not a url at all", "bad_url"),
        ("", "bad_url"),
    ],
)
def test_hostile_urls_become_counted_failures_not_exceptions(url, reason, connects):
    stats = Stats()
    [result] = fetch_all([url], "image", FetchConfig(), stats)
    assert result.error == reason and result.url == url
    assert stats.get(f"fetch/image/failed/{reason}") == 1
    assert connects == []
