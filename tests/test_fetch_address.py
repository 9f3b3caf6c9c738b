"""Which URLs and addresses the fetcher accepts, and the small rules around a fetch:
opt-out directives and Retry-After. Pure functions: no network."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone

import pytest

from flamboyance.crawl.fetch.address import AddressPolicy, UnsafeURL, check_url, is_public, parse_ipv4
from flamboyance.crawl.fetch.optout import header_opts_out, page_opts_out_images
from flamboyance.crawl.fetch.retry import parse_retry_after


@pytest.mark.parametrize(
    "written",
    ["127.0.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "127.1", "0x7f.1", "127.0.0.1."],
)
def test_every_spelling_of_loopback_is_read_as_127_0_0_1(written):
    assert parse_ipv4(written) == ipaddress.IPv4Address("127.0.0.1")
    assert check_url(f"http://{written}/x").host == "127.0.0.1"


def test_host_names_are_not_addresses():
    assert parse_ipv4("example.com") is None
    assert parse_ipv4("1.example") is None


@pytest.mark.parametrize(
    "url, reason",
    [
        ("ftp://example.com/a.jpg", "bad_scheme"),
        ("file:///etc/passwd", "bad_scheme"),
        ("javascript:alert(1)", "bad_scheme"),
        ("data:image/png;base64,AAAA", "bad_scheme"),
        ("/relative/path.jpg", "bad_url"),
        ("http://user:secret@example.com/", "bad_url"),
        ("http://example.com:99999/", "bad_url"),
        ("http://example.com:0/", "bad_url"),
        ("http://example.com:8o/", "bad_url"),
        ("http://xn--a.com/", "bad_url"),
        ("http://exa mple.com/", "bad_url"),
        ("http://a..b/", "bad_url"),
        ("http://-bad-.com/", "bad_url"),
        ("http://1.2.3.999/", "bad_url"),
        ("http://1.2.3.4.5/", "bad_url"),
        ("http://[::1/", "bad_url"),
        ("http://[fe80::1%25eth0]/", "bad_url"),
        ("http://example.com/a\r\nX-Injected: 1", "bad_url"),
        ("http://example.com\\@127.0.0.1/", "bad_url"),
        ("http:///no-host", "bad_url"),
        ("http://example.com/" + "a" * 10_000, "bad_url"),
    ],
)
def test_hostile_urls_are_refused_with_a_reason(url, reason):
    with pytest.raises(UnsafeURL) as refused:
        check_url(url)
    assert refused.value.reason == reason


def test_urls_are_normalised_the_way_a_browser_sends_them():
    url = check_url("HTTP://Example.COM:80/I/m/Ray Charles's pic.jpg?size=large#top")
    assert str(url) == "http://example.com/I/m/Ray%20Charles's%20pic.jpg?size=large"
    assert check_url("https://☃.net/").raw_host == "xn--n3h.net"
    assert str(check_url("http://[::FFFF:127.0.0.1]:8080/")) == "http://[::ffff:7f00:1]:8080/"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "::127.0.0.1",
    ],
)
def test_local_and_special_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "2002:808:808::1"])
def test_public_addresses_are_public(address):
    assert is_public(ipaddress.ip_address(address))


def test_allowed_networks_let_through_exactly_what_they_name():
    policy = AddressPolicy.from_strings(False, ["127.0.0.1:8080", "10.1.0.0/16", "[::1]:443"])
    loopback = ipaddress.ip_address("127.0.0.1")
    assert policy.permits(loopback, 8080)
    assert not policy.permits(loopback, 8081)
    assert policy.permits(ipaddress.ip_address("10.1.200.3"), 80)
    assert not policy.permits(ipaddress.ip_address("10.2.0.1"), 80)
    assert policy.permits(ipaddress.ip_address("::1"), 443)
    assert policy.permits(ipaddress.ip_address("8.8.8.8"), 80)
    assert AddressPolicy.from_strings(True, []).permits(loopback, 1)
    with pytest.raises(ValueError):
        AddressPolicy.from_strings(False, ["127.0.0.1:70000"])


def test_x_robots_tag_opt_out_with_and_without_a_bot_scope():
    assert header_opts_out(["noai"], "FlamboyanceBot")
    assert header_opts_out(["nofollow, NoImageAI"], "FlamboyanceBot")
    assert header_opts_out(["noindex"], "FlamboyanceBot")
    assert header_opts_out(["flamboyancebot: noai"], "FlamboyanceBot")
    assert not header_opts_out(["otherbot: noai"], "FlamboyanceBot")
    assert not header_opts_out(["nofollow", "unavailable_after: 25 Jun 2030 15:00:00 PST"], "FlamboyanceBot")
    assert not header_opts_out([], "FlamboyanceBot")
    assert not header_opts_out(["noindex"], "FlamboyanceBot", directives={"noai"})


def test_meta_robots_opt_out_of_a_pages_images():
    assert page_opts_out_images({"noai"})
    assert page_opts_out_images({"index, NoImageAI"})
    assert page_opts_out_images({"noimageindex"})
    assert not page_opts_out_images({"index", "follow"})
    assert not page_opts_out_images(set())


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
