"""The extractor never raises: property-based tests over generated and mutated HTML.

Generated pages nest random tags (block, inline, void, furniture, ruby, tables, images)
with random classes, text in several scripts, soft hyphens and decomposed accents; mutated
pages are real benchmark pages cut, spliced and byte-flipped. Whatever comes in, the
result is a well-formed ExtractedPage with NFC text and no soft hyphens.
"""

from __future__ import annotations

import gzip
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flamboyance.crawl.extract import ExtractedPage, extract_page
from flamboyance.shards.document import ImageNode, TextNode

TAGS = ["div", "p", "span", "a", "b", "article", "header", "aside", "footer", "nav", "section", "main", "ul", "li",
        "table", "tr", "td", "figure", "figcaption", "ruby", "rt", "h1", "h2", "script", "style", "picture", "body", "html"]  # fmt: skip
CLASSES = ["", "content", "entry-content", "widget", "elementor-widget-container", "ads", "section--ads", "tag-news",
           "comment", "comments", "share", "legend", "media__caption", "caption", "sidebar", "hidden", "readmore"]  # fmt: skip
WORDS = st.sampled_from(["Straße", "cafe\u0301", "Bundes\u00adtag", "漢字", "かんじ", "слово", "word", "&amp;", "&nbsp;",
                         "<", ">", "\x00", "\ufffd", " ", "\n", "</body>", "</html>", "<!--", "-->", "]]>"])  # fmt: skip


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS + ["img"]))
    klass = draw(st.sampled_from(CLASSES))
    attributes = f' class="{klass}"' if klass else ""
    if tag == "img":
        src = draw(st.sampled_from(["/a.jpg", "//cdn.example.com/b.png", "data:image/gif;base64,R0", "", "javascript:x", "http://[::1"]))
        return f'<img src="{src}" width="{draw(st.integers(-5, 3000))}"{attributes}>'
    text = " ".join(draw(st.lists(WORDS, max_size=12)))
    children = "" if depth >= 3 else "".join(draw(st.lists(elements(depth + 1), max_size=4)))
    closing = draw(st.sampled_from([f"</{tag}>", "", "</div>"]))  # unclosed and misclosed tags too
    return f"<{tag}{attributes}>{text}{children}{closing}"


def check(page: ExtractedPage) -> None:
    assert isinstance(page, ExtractedPage)
    for node in page.nodes:
        assert isinstance(node, (TextNode, ImageNode))
    text = page.text()
    assert "\u00ad" not in text and unicodedata.is_normalized("NFC", text)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(elements(), max_size=6), st.text(max_size=40))
@example(['<div class="sidebar"></div>'], "\x08")  # a control character after </html>, moved by the pruning
@example(["<p>a\x0cb</p>"], "\x0b\x00")
def test_generated_html_never_raises(body: list[str], noise: str) -> None:
    html = f"<html><head><meta property='og:image' content='/a.jpg'><title>{noise}</title></head><body>{''.join(body)}</body></html>{noise}"
    check(extract_page(html, "https://example.com/page"))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_decoded_never_raise(raw: bytes) -> None:
    check(extract_page(raw.decode("latin-1"), "https://example.com/"))


@pytest.fixture(scope="module")
def real_pages(article_benchmark: Path) -> list[str]:
    paths = sorted((article_benchmark / "html").glob("*.html.gz"))[:8]
    return [gzip.decompress(path.read_bytes()).decode("utf-8", "replace") for path in paths]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_real_pages_never_raise(real_pages: list[str], data: st.DataObject) -> None:
    html = data.draw(st.sampled_from(real_pages))
    cut = data.draw(st.integers(0, len(html)))
    splice = data.draw(st.integers(0, len(html)))
    mutated = list(html[:cut] + html[splice:])
    for _ in range(data.draw(st.integers(0, 20))):
        if mutated:
            mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.sampled_from(["<", ">", "\x00", "/", '"', "\u00ad", "é"]))
    check(extract_page("".join(mutated), "https://example.com/"))
