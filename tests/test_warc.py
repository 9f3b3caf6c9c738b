"""Reading and writing WARCs: real archives, byte ranges, and damaged files."""

from __future__ import annotations

import gzip
import itertools
import os
import random
import zlib
from datetime import datetime, timezone
from pathlib import Path

import brotli
import pytest
from fastwarc.warc import ArchiveIterator

from flamboyance.crawl.warc import iter_records, plan_ranges
from flamboyance.crawl.warc_writer import WarcWriter
from flamboyance.shards.stats import Stats


def page(index: int) -> bytes:
    words = " ".join(f"word{index}_{n}" for n in range(300 + index % 7 * 50))
    return f"<html><head><title>Page {index}</title></head><body><p>{words}</p></body></html>".encode()


def write_pages(path: Path, count: int, gzip_records: bool = True) -> list[int]:
    """A WARC of ``count`` HTML responses; returns their offsets."""
    with WarcWriter(str(path), gzip=gzip_records) as warc:
        return [
            warc.write_response(f"https://example.org/{i}", 200, [("Content-Type", "text/html")], page(i))
            for i in range(count)
        ]


def read_all(path: Path | str, **kwargs) -> tuple[list, Stats]:
    stats = Stats()
    return list(iter_records(str(path), stats=stats, **kwargs)), stats


def by_ranges(path: Path, unit_bytes: int) -> tuple[list, Stats]:
    records, stats = [], Stats()
    for start, end in plan_ranges(str(path), unit_bytes):
        records += iter_records(str(path), start, end, stats=stats)
    return records, stats


def identities(records: list) -> list[tuple[int, str, bytes]]:
    return [(record.offset, record.target_uri, record.body) for record in records]


# Real archives ------------------------------------------------------------------------


def test_shared_pages_are_read_whole_and_match_the_site(wiki_site: Path) -> None:
    records, stats = read_all(wiki_site / "pages.warc.gz")
    assert len(records) == 85 and stats.get("warc/records") == 85
    assert stats.get("warc/bytes") == os.path.getsize(wiki_site / "pages.warc.gz")
    assert {r.content_type for r in records} == {"text/html"}
    assert {r.http_status for r in records} == {200}
    first = records[0]
    assert first.target_uri == "https://en.wikipedia.org/A/A_Fool_for_You.html"
    assert first.date == "2015-06-01T00:00:00Z" and first.record_id.startswith("<urn:uuid:")
    assert first.charset == "utf-8" and first.http_headers["content-type"] == "text/html; charset=utf-8"
    assert first.body == (wiki_site / "site" / "A" / "A_Fool_for_You.html").read_bytes()


def test_shared_images_are_read_whole(wiki_site: Path) -> None:
    records, _ = read_all(wiki_site / "images.warc.gz")
    assert len(records) == 211
    assert all(r.content_type.startswith("image/") for r in records)
    assert all(r.target_uri.startswith("https://en.wikipedia.org/I/") for r in records)


def test_uncompressed_copy_of_a_real_archive_reads_the_same(wiki_site: Path, tmp_path: Path) -> None:
    plain = tmp_path / "pages.warc"
    plain.write_bytes(gzip.decompress((wiki_site / "pages.warc.gz").read_bytes()))
    gz_records, _ = read_all(wiki_site / "pages.warc.gz")
    plain_records, _ = read_all(plain)
    assert [(r.target_uri, r.body) for r in plain_records] == [(r.target_uri, r.body) for r in gz_records]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="WARC file not found"):
        list(iter_records(str(tmp_path / "nope.warc.gz")))


# Byte ranges --------------------------------------------------------------------------


@pytest.mark.parametrize("unit_bytes", [1000, 5152, 40_000])
def test_ranges_of_a_real_archive_give_each_record_once(wiki_site: Path, unit_bytes: int) -> None:
    whole, _ = read_all(wiki_site / "pages.warc.gz")
    parts, stats = by_ranges(wiki_site / "pages.warc.gz", unit_bytes)
    assert identities(parts) == identities(whole)
    assert stats.get("warc/bytes") == os.path.getsize(wiki_site / "pages.warc.gz")


@pytest.mark.parametrize("unit_bytes", [700, 3001, 50_000])
def test_ranges_of_a_plain_archive_give_each_record_once(tmp_path: Path, unit_bytes: int) -> None:
    path = tmp_path / "plain.warc"
    offsets = write_pages(path, 40, gzip_records=False)
    parts, _ = by_ranges(path, unit_bytes)
    assert [r.offset for r in parts] == offsets
    assert [r.body for r in parts] == [page(i) for i in range(40)]


def test_plan_ranges_covers_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.warc.gz"
    write_pages(path, 10)
    size = os.path.getsize(path)
    ranges = plan_ranges(str(path), 4096)
    assert ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(end == next_start for (_, end), (next_start, _) in itertools.pairwise(ranges))
    assert len(ranges) == -(-size // 4096)
    with pytest.raises(ValueError):
        plan_ranges(str(path), 0)


# The writer ---------------------------------------------------------------------------


def test_writer_records_verify_with_fastwarc_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "out.warc.gz"
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    with WarcWriter(str(path)) as warc:
        warc.write_warcinfo({"software": "flamboyance"})
        warc.write_request("https://example.org/a?b=1", [("Host", "example.org")])
        offset = warc.write_response("https://example.org/a?b=1", 404, [("Content-Type", "text/plain")], b"gone", when)
    assert path.read_bytes()[offset : offset + 2] == b"\x1f\x8b"
    # FastWARC checks our digests: block digests on raw blocks, payload digests on payloads.
    assert [r.verify_block_digest() for r in ArchiveIterator(str(path), parse_http=False)] == [True] * 3
    assert [r.verify_payload_digest() for r in ArchiveIterator(str(path))][1:] == [True, True]
    (record,), stats = read_all(path)
    assert (record.offset, record.http_status, record.body, record.date) == (offset, 404, b"gone", "2024-05-06T07:08:09Z")
    assert stats.get("warc/skipped/warcinfo") == 1 and stats.get("warc/skipped/request") == 1
    requests, _ = read_all(path, record_types=("request",))
    assert [r.target_uri for r in requests] == ["https://example.org/a?b=1"]


def test_writer_leaves_no_file_when_the_block_fails(tmp_path: Path) -> None:
    path = tmp_path / "failed.warc.gz"
    with pytest.raises(ValueError):
        with WarcWriter(str(path)) as warc:
            warc.write_response("https://example.org/", 200, [("X-Bad", "a\r\nInjected: 1")], b"")
    assert list(tmp_path.iterdir()) == []


# Payload encodings --------------------------------------------------------------------


def chunked(data: bytes, size: int = 100) -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def test_chunked_and_compressed_payloads_are_decoded(tmp_path: Path) -> None:
    html = page(1)
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    cases = [
        ([("Transfer-Encoding", "chunked")], chunked(html)),
        ([("Content-Encoding", "gzip")], gzip.compress(html)),
        ([("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], chunked(gzip.compress(html))),
        ([("Content-Encoding", "deflate")], zlib.compress(html)),
        ([("Content-Encoding", "deflate")], deflate.compress(html) + deflate.flush()),
        ([("Content-Encoding", "br")], brotli.compress(html)),
        # Archivers often store the body de-chunked but keep the header: kept as it is.
        ([("Transfer-Encoding", "chunked")], html),
    ]
    path = tmp_path / "encoded.warc.gz"
    with WarcWriter(str(path)) as warc:
        for headers, body in cases:
            warc.write_response("https://example.org/", 200, [("Content-Type", "text/html"), *headers], body)
    records, stats = read_all(path)
    assert [r.body for r in records] == [html] * len(cases)
    assert stats.get("warc/lenient/not_chunked") == 1


def test_undecodable_payloads_are_dropped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "bad.warc.gz"
    with WarcWriter(str(path)) as warc:
        warc.write_response("https://example.org/1", 200, [("Content-Encoding", "br")], b"not brotli at all")
        warc.write_response("https://example.org/2", 200, [("Content-Encoding", "zstd-unknown")], b"x")
        warc.write_response("https://example.org/3", 200, [], b"fine")
    records, stats = read_all(path)
    assert [r.body for r in records] == [b"fine"]
    assert stats.get("warc/corrupt/content_encoding") == 1 and stats.get("warc/skipped/content_encoding") == 1


def test_a_warc_of_only_non_html_records(tmp_path: Path) -> None:
    path = tmp_path / "images.warc.gz"
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    with WarcWriter(str(path)) as warc:
        warc.write_warcinfo({"software": "test"})
        for i in range(5):
            warc.write_request(f"https://example.org/{i}.png", [])
            warc.write_response(f"https://example.org/{i}.png", 200, [("Content-Type", "image/png")], png)
    records, stats = read_all(path)
    assert [r.content_type for r in records] == ["image/png"] * 5 and records[0].charset is None
    assert stats.to_json() == {
        "warc/bytes": os.path.getsize(path),
        "warc/read": 11,
        "warc/records": 5,
        "warc/skipped/request": 5,
        "warc/skipped/warcinfo": 1,
    }


# Damaged archives ---------------------------------------------------------------------


@pytest.fixture
def gz_archive(tmp_path: Path) -> tuple[Path, list[int], bytes]:
    path = tmp_path / "pages.warc.gz"
    offsets = write_pages(path, 20)
    return path, offsets, path.read_bytes()


def damaged(tmp_path: Path, data: bytes, name: str = "damaged.warc.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("gzip_records", [True, False])
@pytest.mark.parametrize("kept", [5, 60, 150, 400, 1000])
def test_truncated_final_record(tmp_path: Path, gzip_records: bool, kept: int) -> None:
    source = tmp_path / "source.warc"
    offsets = write_pages(source, 6, gzip_records)
    path = damaged(tmp_path, source.read_bytes()[: offsets[-1] + kept])
    records, stats = read_all(path)
    assert [r.body for r in records] == [page(i) for i in range(5)]
    assert sum(stats.under("warc/corrupt").values()) == 1


def test_garbage_between_gzip_members(tmp_path: Path, gz_archive) -> None:
    _, offsets, data = gz_archive
    junk = b"\x1f\x8b\x08 not really gzip " * 10
    path = damaged(tmp_path, data[: offsets[7]] + junk + data[offsets[7] :])
    records, stats = read_all(path)
    assert [r.body for r in records] == [page(i) for i in range(20)]
    assert stats.get("warc/bytes_skipped") == len(junk)
    assert identities(by_ranges(path, 3000)[0]) == identities(records)


def test_corrupt_gzip_member_in_the_middle(tmp_path: Path, gz_archive) -> None:
    _, offsets, data = gz_archive
    broken = bytearray(data)
    for i in range(offsets[5] + 60, offsets[6] - 40):
        broken[i] ^= 0x5A
    path = damaged(tmp_path, bytes(broken))
    records, stats = read_all(path)
    assert [r.target_uri for r in records] == [f"https://example.org/{i}" for i in range(20) if i != 5]
    assert stats.get("warc/corrupt/gzip") == 1
    assert identities(by_ranges(path, 2000)[0]) == identities(records)


def test_gzip_member_cut_short_in_the_middle(tmp_path: Path, gz_archive) -> None:
    _, offsets, data = gz_archive
    path = damaged(tmp_path, data[: offsets[3] + 500] + data[offsets[4] :])
    records, _ = read_all(path)
    assert [r.target_uri for r in records] == [f"https://example.org/{i}" for i in range(20) if i != 3]


def test_plain_archive_with_garbage_and_a_cut_record(tmp_path: Path) -> None:
    source = tmp_path / "clean.warc"
    offsets = write_pages(source, 12, gzip_records=False)
    data = source.read_bytes()
    mangled = data[: offsets[4]] + b"garbage\r\n" * 50 + data[offsets[4] : offsets[8] + 900] + data[offsets[9] :]
    path = damaged(tmp_path, mangled, "damaged.warc")
    records, stats = read_all(path)
    assert [r.body for r in records] == [page(i) for i in range(12) if i != 8]
    assert stats.get("warc/corrupt/truncated") == 1
    assert identities(by_ranges(path, 2500)[0]) == identities(records)


def test_random_bytes_are_no_warc(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(200_000)
    for name, data in (("noise.warc", noise), ("noise.warc.gz", b"\x1f\x8b" + noise)):
        records, stats = read_all(damaged(tmp_path, data, name))
        assert records == [] and sum(stats.under("warc/corrupt").values()) >= 1
        assert stats.get("warc/bytes_skipped") == len(data)


# Files read whole: single-stream gzip, ClueWeb-style, ARC ------------------------------


def test_single_stream_gzip_warc_gives_every_page(wiki_site: Path, tmp_path: Path) -> None:
    path = tmp_path / "one-stream.warc.gz"
    path.write_bytes(gzip.compress(gzip.decompress((wiki_site / "pages.warc.gz").read_bytes())))
    records, stats = read_all(path)
    whole, _ = read_all(wiki_site / "pages.warc.gz")
    assert [(r.target_uri, r.body) for r in records] == [(r.target_uri, r.body) for r in whole] and len(records) == 85
    assert stats.get("warc/read") == stats.get("warc/records") == 85
    assert plan_ranges(str(path), 10_000) == [(0, None)]  # no byte ranges for it
    with pytest.raises(ValueError, match="one stream"):
        list(iter_records(str(path), start=5000))


def clueweb_record(i: int, line_end: bytes, http_line_end: bytes = b"\n") -> bytes:
    nl, hnl = line_end, http_line_end
    http = b"HTTP/1.1 200 OK" + hnl + b"Content-Type: text/html" + hnl + hnl + page(i)
    header = [b"WARC/0.18", b"WARC-Type: response", b"WARC-Target-URI: http://example.org/%d" % i,
              b"WARC-Date: 2009-03-65T08:43:19-0800", b"Content-Type: application/http;msgtype=response",
              b"WARC-TREC-ID: clueweb09-en0000-00-%05d" % i, b"Content-Length: %d" % len(http)]  # fmt: skip
    return nl.join(header) + nl + nl + http + nl + nl


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
@pytest.mark.parametrize("gzip_records", [True, False])
def test_clueweb_style_records_are_all_read_as_html(tmp_path: Path, line_end: bytes, gzip_records: bool) -> None:
    records = [clueweb_record(i, line_end) for i in range(20)]
    path = tmp_path / ("clueweb.warc.gz" if gzip_records else "clueweb.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if gzip_records else b"".join(records))
    read, stats = read_all(path)
    assert [(r.http_status, r.content_type, r.body) for r in read] == [(200, "text/html", page(i)) for i in range(20)]
    assert not stats.under("warc/corrupt")
    assert identities(by_ranges(path, 1500)[0]) == identities(read)


def arc_file(count: int) -> list[bytes]:
    """An ARC (version 1) file's parts: the file header, then one record per page."""
    description = b"1 0 Flamboyance\nURL IP-address Archive-date Content-type Archive-length\n"
    parts = [b"filedesc://test.arc 0.0.0.0 20090101000000 text/plain %d\n" % len(description) + description + b"\n"]
    for i in range(count):
        http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + page(i)
        parts.append(b"http://example.org/%d 127.0.0.1 20090101000000 text/html %d\n" % (i, len(http)) + http + b"\n")
    return parts


@pytest.mark.parametrize("gzip_records", [True, False])
def test_arc_files_are_read(tmp_path: Path, gzip_records: bool) -> None:
    parts = arc_file(6)
    path = tmp_path / ("old.arc.gz" if gzip_records else "old.arc")
    path.write_bytes(b"".join(gzip.compress(p) for p in parts) if gzip_records else b"".join(parts))
    records, stats = read_all(path)
    assert [(r.target_uri, r.http_status, r.content_type, r.charset, r.body) for r in records] == [
        (f"http://example.org/{i}", 200, "text/html", "utf-8", page(i)) for i in range(6)
    ]
    assert stats.to_json() == {"warc/bytes": path.stat().st_size, "warc/read": 7, "warc/records": 6, "warc/skipped/warcinfo": 1}
    assert plan_ranges(str(path), 100) == [(0, None)]


def test_every_record_is_accounted_for(tmp_path: Path) -> None:
    """Records read = yielded + skipped by type or payload; pages read = documents + dropped by reason."""
    from flamboyance.crawl.config import BuildConfig
    from flamboyance.crawl.unit import warc_documents
    from flamboyance.crawl.units import Unit

    path = tmp_path / "mixed.warc.gz"
    html = [("Content-Type", "text/html")]
    with WarcWriter(str(path)) as warc:
        warc.write_warcinfo({"software": "test"})
        for i in range(3):
            warc.write_request(f"https://example.org/{i}", [])
            warc.write_response(f"https://example.org/{i}", 200, html, page(i))
        warc.write_response("https://example.org/gone", 404, html, b"<p>Not found</p>")
        warc.write_response("https://example.org/x.png", 200, [("Content-Type", "image/png")], b"\x89PNG")
        warc.write_response("https://example.org/optout", 200, [*html, ("X-Robots-Tag", "noai")], page(9))
        warc.write_response("https://example.org/empty", 200, html, b"<html><body></body></html>")
        warc.write_response("https://example.org/bad", 200, [*html, ("Content-Encoding", "gzip")], b"not gzip")
    stats = Stats()
    documents = list(warc_documents(Unit("u", "warc", str(path)), BuildConfig(), stats))
    assert len(documents) == 3
    dropped_records = sum(stats.under("warc/skipped").values()) + stats.get("warc/corrupt/content_encoding")
    assert stats.get("warc/read") == 12 == stats.get("warc/records") + dropped_records
    dropped_pages = sum(stats.under("pages/skipped").values()) + sum(stats.under("pages/failed").values()) + stats.get("pages/empty")
    assert stats.get("pages/read") == stats.get("warc/records") == len(documents) + dropped_pages
    assert stats.under("pages/skipped") == {"http_404": 1, "not_html": 1, "optout": 1}
