"""Corrupt and hostile inputs are counted in stats and the build still finishes."""

from __future__ import annotations

import gzip
import os
import random
import struct
import zlib
from pathlib import Path

from flamboyance.crawl.build import run_build
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.units import warc_units
from flamboyance.crawl.warc_writer import WarcWriter
from flamboyance.shards.inspect import iter_documents, resolve_shards

HTML = "text/html; charset=utf-8"


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG file that declares 400 million pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * width) * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def page(title: str, body: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>".encode()


PARAGRAPH = "<p>" + "This paragraph of ordinary prose is long enough to count as article text. " * 4 + "</p>"


def write_inputs(folder: Path) -> tuple[list[str], str]:
    images = folder / "images.warc.gz"
    with WarcWriter(str(images)) as writer:
        writer.write_response("https://bad.example/bomb.png", 200, [("Content-Type", "image/png")], png_bomb())
        writer.write_response("https://bad.example/broken.jpg", 200, [("Content-Type", "image/jpeg")], b"\xff\xd8\xff\xe0 not really")

    good = folder / "good.warc.gz"
    with WarcWriter(str(good)) as writer:
        writer.write_response("https://bad.example/bomb.html", 200, [("Content-Type", HTML)],
                              page("Bomb", PARAGRAPH + '<img src="bomb.png" alt="a bomb"><img src="broken.jpg" alt="broken">' + PARAGRAPH))
        writer.write_response("https://bad.example/latin.html", 200, [("Content-Type", HTML)],
                              page("Invalid UTF-8", PARAGRAPH + "<p>INVALID</p>").replace(
                                  b"INVALID", b"caf\xe9 \xff\xfe na\xefve text that is not UTF-8 at all, but must not crash."))
        writer.write_response("https://bad.example/huge.html", 200, [("Content-Type", HTML)],
                              page("Huge", PARAGRAPH + "<p>" + "word " * (50 * 1024 * 1024 // 5) + "</p>"))

    data = good.read_bytes()
    truncated = folder / "truncated.warc.gz"
    truncated.write_bytes(data[: len(data) - 5000])

    # A corrupt member between two good ones: the records after it must still be read.
    spliced = folder / "spliced.warc.gz"
    first = folder / "first.warc.gz"
    with WarcWriter(str(first)) as writer:
        writer.write_response("https://bad.example/before.html", 200, [("Content-Type", HTML)], page("Before", PARAGRAPH))
    second = folder / "second.warc.gz"
    with WarcWriter(str(second)) as writer:
        writer.write_response("https://bad.example/after.html", 200, [("Content-Type", HTML)], page("After", PARAGRAPH))
    broken_member = gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\n" + os.urandom(2000))[:-40]
    spliced.write_bytes(first.read_bytes() + broken_member + second.read_bytes())
    first.unlink()
    second.unlink()

    garbage = folder / "garbage.warc.gz"
    garbage.write_bytes(random.Random(0).randbytes(100_000))

    non_html = folder / "nonhtml.warc.gz"
    with WarcWriter(str(non_html)) as writer:
        for n in range(5):
            writer.write_response(f"https://bad.example/{n}.json", 200, [("Content-Type", "application/json")], b"{}")

    return [str(p) for p in (good, truncated, spliced, garbage, non_html)], str(images)


def test_bad_inputs_are_counted_and_the_build_finishes(tmp_path, ray_local):
    warcs, images = write_inputs(tmp_path)
    config = BuildConfig(filters=None)  # every bad input must reach the step that counts it
    output = str(tmp_path / "out")
    result = run_build(warc_units(warcs, config.unit_bytes), output, config,
                       inputs={"warc": warcs}, image_warcs=[images], show_progress=False)
    assert result.ok, result.failed
    stats = result.stats
    # The bomb page is in good.warc.gz and in its truncated copy: two pages, two drops each.
    assert stats.get("images/failed/decompression_bomb") == 2
    assert stats.get("images/failed/decode_error") + stats.get("images/failed/truncated") + stats.get("images/failed/not_an_image") == 2
    assert stats.get("pages/truncated/bytes") >= 1
    assert stats.get("pages/skipped/not_html") == 5
    assert sum(stats.under("warc/corrupt").values()) >= 2  # the truncated file, the spliced member, the garbage

    titles = sorted(doc.title for doc in iter_documents(resolve_shards(output)))
    # good.warc.gz's three pages, the truncated copy's readable ones, and both sides of the splice.
    assert {"Bomb", "Invalid UTF-8", "Huge", "Before", "After"} <= set(titles)
    latin = next(doc for doc in iter_documents(resolve_shards(output)) if doc.title == "Invalid UTF-8")
    assert "must not crash" in latin.text()
