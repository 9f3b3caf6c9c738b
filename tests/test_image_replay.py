"""Replaying image bytes from WARC files: the real image WARC, and archives with redirects,
errors and duplicates written by our own WarcWriter."""

from __future__ import annotations

import html
import pickle
import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import numpy as np
import pytest

from flamboyance.crawl.image_replay import ImageIndex, build_index, normalize_url, url_key
from flamboyance.crawl.images import ImageError, process_image
from flamboyance.crawl.warc import iter_records
from flamboyance.crawl.warc_writer import WarcWriter
from flamboyance.shards.stats import Stats

PNG = [("Content-Type", "image/png")]


@pytest.fixture(scope="module")
def wiki_index(wiki_site: Path) -> ImageIndex:
    return build_index([str(wiki_site / "images.warc.gz")])


def test_all_211_real_images_are_indexed_and_replayed_byte_for_byte(wiki_site, wiki_index):
    warc = str(wiki_site / "images.warc.gz")
    urls = [record.target_uri for record in iter_records(warc)]
    assert len(urls) == len(wiki_index) == 211

    replayed = wiki_index.get_many(urls)
    assert len(replayed) == 211
    reasons = {}
    for url, payload in replayed.items():
        served = wiki_site / "site" / unquote(urlsplit(url).path).lstrip("/")
        assert payload == served.read_bytes(), url
        try:
            process_image(payload)
        except ImageError as error:
            reasons[url] = error.reason
    assert set(reasons.values()) <= {"svg"}
    assert all(url.endswith(".svg") for url in reasons)


def test_image_urls_as_pages_write_them_are_found(wiki_site, wiki_index):
    """Pages use relative, percent-encoded sources (../I/m/Sweet_%26_Sour_Tears.jpg)."""
    urls = set()
    for page in (wiki_site / "site" / "A").glob("*.html"):
        base = f"https://en.wikipedia.org/A/{page.name}"
        for src in re.findall(r'<img[^>]*\ssrc="([^"]+)"', page.read_text(encoding="utf-8")):
            urls.add(urljoin(base, html.unescape(src)))
    replayed = wiki_index.get_many(sorted(urls))
    missing = {url: result for url, result in replayed.items() if not isinstance(result, bytes)}
    assert len(urls) > 100
    # The one <img> the archive does not hold is an audio file, not an image.
    assert missing == {"https://en.wikipedia.org/I/m/Beatles_eleanor_rigby.ogg": "not_in_warc"}


def test_lookups_normalise_urls_the_same_way_on_both_sides(wiki_index):
    stored = "https://en.wikipedia.org/I/m/5_America%2C_the_Beautiful.png"
    payload = wiki_index.get(stored)
    assert payload and payload.startswith(b"\x89PNG")
    for variant in (
        "https://en.wikipedia.org/I/m/5_America%2c_the_Beautiful.png",  # escape case
        "HTTPS://EN.Wikipedia.ORG:443/I/m/5_America%2C_the_Beautiful.png",  # scheme, host, port
        "https://en.wikipedia.org/I/m/5_America%2C_the_Beautiful.png#section",  # fragment
        "https://en.wikipedia.org/I/m/%35_America%2C_the_Beautiful.png",  # escaped unreserved
    ):
        assert wiki_index.get(variant) == payload, variant
    # A comma and an escaped comma are different URLs (RFC 3986), and path case matters.
    assert wiki_index.get_many(["https://en.wikipedia.org/I/m/5_America,_the_Beautiful.png"]) == {
        "https://en.wikipedia.org/I/m/5_America,_the_Beautiful.png": "not_in_warc"
    }
    assert wiki_index.get("https://en.wikipedia.org/i/m/5_America%2C_the_Beautiful.png") is None


def test_normalize_url():
    assert normalize_url("HTTP://Example.COM:80") == "http://example.com/"
    assert normalize_url("http://example.com:8080/a b/é.png?q=%7e&x=%2f#top") == (
        "http://example.com:8080/a%20b/%C3%A9.png?q=~&x=%2F"
    )
    assert normalize_url("https://example.com/a%2Fb") != normalize_url("https://example.com/a/b")
    assert url_key("https://example.com/x.png#a") == url_key("https://EXAMPLE.com/x.png")
    assert normalize_url("http://[::1/x.png#a") == "http://[::1/x.png"  # malformed, yet no crash


def test_errors_redirects_and_duplicates(tmp_path):
    first, second = str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")
    with WarcWriter(first) as warc:
        warc.write_response("https://img.example/gone.png", 404, PNG, b"not found")
        warc.write_response("https://img.example/later.png", 503, PNG, b"busy")
        warc.write_response("https://img.example/old.png", 301, [("Location", "/new.png")], b"")
        warc.write_response("https://img.example/away.png", 302, [("Location", "https://other.example/x")], b"")
        warc.write_response("https://img.example/loop.png", 302, [("Location", "/loop.png")], b"")
    with WarcWriter(second) as warc:
        warc.write_response("https://img.example/new.png", 200, PNG, b"new bytes")
        warc.write_response("https://img.example/later.png", 200, PNG, b"fetched on retry")
        warc.write_response("https://img.example/later.png", 200, PNG, b"fetched again")

    stats = Stats()
    index = build_index([first, second], stats)
    assert len(index) == stats.get("image_index/records") == 8
    results = index.get_many(
        [f"https://img.example/{name}.png" for name in ("gone", "later", "old", "away", "loop", "never")]
    )
    assert results == {
        "https://img.example/gone.png": "http_404",
        "https://img.example/later.png": b"fetched on retry",  # a 200 beats an earlier 503
        "https://img.example/old.png": b"new bytes",  # archived redirect followed
        "https://img.example/away.png": "http_302",  # its target was never archived
        "https://img.example/loop.png": "http_302",
        "https://img.example/never.png": "not_in_warc",
    }
    assert index.get("https://img.example/gone.png") is None


def test_a_warc_that_disappears_after_indexing_is_a_read_error(tmp_path):
    path = tmp_path / "images.warc.gz"
    with WarcWriter(str(path)) as warc:
        warc.write_response("https://img.example/a.png", 200, PNG, b"a")
    index = build_index([str(path)])
    path.write_bytes(b"")
    assert index.get_many(["https://img.example/a.png"]) == {"https://img.example/a.png": "read_error"}
    path.unlink()
    assert index.get_many(["https://img.example/a.png"]) == {"https://img.example/a.png": "read_error"}


def test_a_hash_collision_is_caught_by_the_record_url(tmp_path):
    path = str(tmp_path / "images.warc.gz")
    with WarcWriter(path) as warc:
        offset = warc.write_response("https://img.example/real.png", 200, PNG, b"real")
    # An index whose key for another URL points at this record, as a collision would.
    index = ImageIndex(
        [path],
        keys=np.array([url_key("https://img.example/other.png")], dtype=np.uint64),
        files=np.array([0]),
        offsets=np.array([offset]),
    )
    assert index.get_many(["https://img.example/other.png"]) == {"https://img.example/other.png": "not_in_warc"}


def test_the_index_is_compact_and_travels_to_tasks(wiki_index):
    assert wiki_index.keys.dtype == np.uint64 and wiki_index.offsets.dtype == np.uint64
    shipped = pickle.dumps(wiki_index)
    assert len(shipped) < 211 * 20 + 1000
    copy = pickle.loads(shipped)
    url = "https://en.wikipedia.org/I/m/Sweet_%26_Sour_Tears.jpg"
    assert copy.get(url) == wiki_index.get(url) is not None


def test_missing_warc_is_reported_when_building(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_index([str(tmp_path / "absent.warc.gz")])
