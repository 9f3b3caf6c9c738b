"""robots.txt: the RFC 9309 rules, and how the fetcher obeys them on a real server."""

from __future__ import annotations

import time

from fetch_servers import LocalServer, redirect, text

from flamboyance.crawl.fetch import FetchConfig, Robots, fetch_all
from flamboyance.shards.stats import Stats

BOT = "FlamboyanceBot"


def test_the_longest_matching_rule_wins_whatever_its_place_in_the_file():
    robots = Robots.parse("User-agent: *\nAllow: /shop/public/\nDisallow: /shop/\n", BOT)
    assert robots.allows("/shop/public/item")
    assert not robots.allows("/shop/private")
    # urllib.robotparser takes the first match in file order and gets this one wrong.
    robots = Robots.parse("User-agent: *\nDisallow: /shop/\nAllow: /shop/public/\n", BOT)
    assert robots.allows("/shop/public/item")


def test_allow_wins_a_tie_of_equally_long_rules():
    robots = Robots.parse("User-agent: *\nDisallow: /page\nAllow: /page\n", BOT)
    assert robots.allows("/page")


def test_wildcards_star_and_dollar():
    robots = Robots.parse(
        "User-agent: *\nDisallow: /*.gif$\nDisallow: /private*/data\nAllow: /*?public=1\n", BOT
    )
    assert not robots.allows("/images/a.gif")
    assert robots.allows("/images/a.gif?v=2")  # $ anchors at the end of the path
    assert not robots.allows("/private-area/data/x")
    assert robots.allows("/privat/data")
    assert robots.allows("/search?public=1")


def test_our_group_is_chosen_by_product_token_case_insensitively_and_merged():
    text_ = (
        "User-agent: *\nDisallow: /\n\n"
        "User-agent: flamboyancebot/2.0\nDisallow: /a\n\n"
        "User-agent: OtherBot\nUser-agent: FLAMBOYANCEBOT\nDisallow: /b\nCrawl-delay: 2.5\n"
    )
    robots = Robots.parse(text_, BOT)
    assert not robots.allows("/a/1") and not robots.allows("/b/1")
    assert robots.allows("/c")  # the * group does not apply once ours exists
    assert robots.crawl_delay == 2.5


def test_without_our_group_the_star_group_applies_and_without_any_everything_is_allowed():
    assert not Robots.parse("User-agent: SomeBot\nAllow: /\n\nUser-agent: *\nDisallow: /x", BOT).allows("/x")
    assert Robots.parse("Disallow: /\n# rules before any user-agent line belong to no group", BOT).allows("/")
    assert Robots.parse("", BOT).allows("/anything")


def test_details_of_the_format():
    robots = Robots.parse(
        "\ufeffUSER-AGENT: * # everyone\ndisallow: /caf%C3%A9 \nDisallow:\nsitemap: /s.xml\n", BOT
    )
    assert not robots.allows("/café")  # the pattern is compared percent-encoded
    assert not robots.allows("/caf%c3%a9")  # escapes compare case-insensitively
    assert robots.allows("/robots.txt")
    assert Robots.disallow_all().allows("/robots.txt")
    assert not Robots.disallow_all().allows("/")


def _config(**overrides) -> FetchConfig:
    return FetchConfig(allow_private=True, retries=0, **overrides)


def test_a_disallowed_page_is_never_requested_and_robots_txt_is_fetched_once():
    robots = "User-agent: *\nDisallow: /private/\n"
    routes = {"/robots.txt": text(robots, content_type="text/plain"), "/": text("<p>page</p>")}
    with LocalServer(routes) as server:
        stats = Stats()
        urls = [server.url(f"/public/{i}") for i in range(5)] + [server.url("/private/secret")]
        results = {r.url: r for r in fetch_all(urls, "page", _config(), stats)}
    assert results[server.url("/private/secret")].error == "robots"
    assert all(results[server.url(f"/public/{i}")].ok for i in range(5))
    assert "/private/secret" not in server.log
    assert server.hits("/robots.txt") == 1
    assert stats.get("fetch/page/failed/robots") == 1 and stats.get("robots/parsed") == 1


def test_robots_404_allows_everything_and_500_disallows_everything():
    with LocalServer({"/": text("<p>ok</p>")}) as missing:
        assert [r.error for r in fetch_all([missing.url("/a")], "page", _config())] == [None]
    broken = {"/robots.txt": text("oops", status=500), "/": text("<p>ok</p>")}
    with LocalServer(broken) as server:
        stats = Stats()
        assert [
            r.error for r in fetch_all([server.url("/a"), server.url("/b")], "page", _config(), stats)
        ] == [
            "robots",
            "robots",
        ]
    assert server.log == ["/robots.txt"]
    assert stats.get("robots/disallow_all/http_500") == 1


def test_robots_redirects_are_followed():
    routes = {
        "/robots.txt": redirect("/moved/robots.txt", status=301),
        "/moved/robots.txt": text("User-agent: *\nDisallow: /no\n", content_type="text/plain"),
        "/": text("<p>ok</p>"),
    }
    with LocalServer(routes) as server:
        errors = sorted(
            str(r.error) for r in fetch_all([server.url("/no"), server.url("/yes")], "page", _config())
        )
    assert errors == ["None", "robots"]


def test_crawl_delay_spaces_requests_to_the_host():
    routes = {
        "/robots.txt": text("User-agent: *\nCrawl-delay: 0.3\n", content_type="text/plain"),
        "/": text("<p>ok</p>"),
    }
    with LocalServer(routes) as server:
        started = time.monotonic()
        results = list(fetch_all([server.url(f"/{i}") for i in range(4)], "page", _config()))
        elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert elapsed >= 0.3 * 3  # four requests, three gaps


def test_robots_can_be_ignored_when_configured():
    routes = {
        "/robots.txt": text("User-agent: *\nDisallow: /\n", content_type="text/plain"),
        "/": text("<p>ok</p>"),
    }
    with LocalServer(routes) as server:
        assert [r.error for r in fetch_all([server.url("/a")], "page", _config(respect_robots=False))] == [
            None
        ]
    assert server.log == ["/a"]


def test_images_obey_robots_txt_too():
    routes = {
        "/robots.txt": text("User-agent: FlamboyanceBot\nDisallow: /photos/\n", content_type="text/plain"),
        "/": text("GIF89a", content_type="image/gif"),
    }
    with LocalServer(routes) as server:
        results = {
            r.url: r.error
            for r in fetch_all([server.url("/photos/a.gif"), server.url("/icons/b.gif")], "image", _config())
        }
    assert results == {server.url("/photos/a.gif"): "robots", server.url("/icons/b.gif"): None}
    assert "/photos/a.gif" not in server.log
