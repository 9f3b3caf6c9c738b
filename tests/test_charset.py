"""Decoding HTML bytes: declarations, their mistakes, and bytes that fit no encoding."""

from __future__ import annotations

import codecs
import gzip
import random
from pathlib import Path

import pytest

from flamboyance.crawl.charset import codec_for, decode_html

FRENCH = "Le café « crème » coûte 3 € — très bon."
RUSSIAN = "Привет, мир! Это проверка кодировки страницы."
JAPANESE = "日本語のページです。文字コードの確認をしています。"


def html(text: str, meta: str = "") -> str:
    return f"<html><head>{meta}<title>t</title></head><body><p>{text}</p></body></html>"


def test_http_charset_is_used() -> None:
    text, encoding = decode_html(html(RUSSIAN).encode("cp1251"), "windows-1251")
    assert RUSSIAN in text and encoding == "cp1251"


@pytest.mark.parametrize(
    "meta",
    ['<meta charset="shift_jis">', "<META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=Shift_JIS'>"],
)
def test_meta_charset_both_forms(meta: str) -> None:
    text, encoding = decode_html(html(JAPANESE, meta).encode("cp932"))
    assert JAPANESE in text and encoding == "cp932"


def test_byte_order_mark_wins_over_declarations() -> None:
    body = codecs.BOM_UTF16_LE + html(FRENCH, '<meta charset="iso-8859-1">').encode("utf-16-le")
    assert decode_html(body, "iso-8859-1") == (html(FRENCH, '<meta charset="iso-8859-1">'), "utf-16-le")
    assert decode_html(codecs.BOM_UTF8 + b"caf\xc3\xa9", "koi8-r") == ("café", "utf-8")


def test_latin1_label_means_windows_1252() -> None:
    # 0x80 is the euro sign in windows-1252 and a control character in real ISO-8859-1.
    text, encoding = decode_html(html(FRENCH).encode("cp1252"), "ISO-8859-1")
    assert FRENCH in text and encoding == "cp1252"
    assert codec_for("latin1") == codec_for("us-ascii") == "cp1252"
    assert codec_for("utf8") == "utf-8" and codec_for("gb2312") == "gb18030"


def test_unknown_label_falls_through_to_meta() -> None:
    body = html(RUSSIAN, '<meta charset="koi8-r">').encode("koi8_r")
    text, encoding = decode_html(body, "no-such-charset")
    assert RUSSIAN in text and encoding == "koi8-r"
    assert codec_for("rot13") is None and codec_for("base64") is None


def test_http_charset_wins_over_meta() -> None:
    body = html(RUSSIAN, '<meta charset="koi8-r">').encode("cp1251")
    assert decode_html(body, "windows-1251")[1] == "cp1251"


def test_utf8_declared_but_bytes_are_legacy() -> None:
    text, encoding = decode_html(html(FRENCH * 5).encode("cp1252"), "utf-8")
    assert FRENCH in text and encoding == "cp1252"


def test_legacy_declared_but_bytes_are_utf8() -> None:
    text, encoding = decode_html(html(FRENCH).encode("utf-8"), "iso-8859-1")
    assert FRENCH in text and encoding == "utf-8"


def test_detection_without_any_declaration() -> None:
    text, encoding = decode_html(html(RUSSIAN * 5).encode("cp1251"))
    assert RUSSIAN in text and encoding == "cp1251"


def test_invalid_bytes_never_raise() -> None:
    noise = random.Random(3).randbytes(5000)
    for declared in (None, "utf-8", "shift_jis", "utf-16", "x-user-defined", ""):
        text, encoding = decode_html(noise, declared)
        assert isinstance(text, str) and codecs.lookup(encoding)
    text, _ = decode_html(b"<p>ok \xff\xfe\xc3 broken</p>", "utf-8")
    assert text.startswith("<p>ok ") and text.endswith(" broken</p>")


def test_real_pages_decode_as_utf8(article_benchmark: Path, wiki_site: Path) -> None:
    for path in sorted((article_benchmark / "html").glob("*.html.gz"))[:20]:
        text, encoding = decode_html(gzip.decompress(path.read_bytes()))
        # A few real pages hold a stray invalid byte: it is replaced, not fatal.
        assert encoding == "utf-8" and text.count("\ufffd") <= 2
    page = (wiki_site / "site" / "A" / "Ray_Charles.html").read_bytes()
    text, encoding = decode_html(page, "utf-8")
    assert encoding == "utf-8" and text == page.decode("utf-8")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("text", [FRENCH, RUSSIAN, JAPANESE])
def test_wide_encodings_without_a_byte_order_mark(encoding: str, text: str) -> None:
    page = html(text, '<meta charset="utf-8">')  # a meta tag a wide page cannot truly mean
    assert decode_html(page.encode(encoding)) == (page, encoding)


def test_utf32_byte_order_mark_is_not_taken_for_utf16() -> None:
    assert decode_html(codecs.BOM_UTF32_LE + html(FRENCH).encode("utf-32-le")) == (html(FRENCH), "utf-32-le")


def test_a_few_nul_bytes_do_not_make_a_page_wide() -> None:
    body = html(FRENCH).encode("utf-8").replace(b"<p>", b"<p>\x00")
    assert decode_html(body)[1] == "utf-8"
