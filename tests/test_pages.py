"""From page bytes to a Document: opt-outs, language, counted limits, and the build
summary that shows every counter family."""

from __future__ import annotations

import io

import pytest

from flamboyance.crawl.pages import page_to_document
from flamboyance.crawl.summary import print_summary
from flamboyance.shards.document import ImageNode
from flamboyance.shards.executor import StageResult
from flamboyance.shards.stats import Stats

PROSE = "The council met on Tuesday and argued about the budget for a long time. " * 3
GERMAN = "Der Stadtrat hat am Dienstag lange über den Haushalt für das nächste Jahr gestritten. " * 3


def page(text: str = PROSE, head: str = "", lang: str = "en") -> bytes:
    return (f"<html lang='{lang}'><head>{head}</head><body><article><p>{text}</p>"
            "<img src='/photo.jpg'><p>More words here.</p></article></body></html>").encode()  # fmt: skip


def convert(body: bytes, **kwargs) -> tuple[object, Stats]:
    stats = Stats()
    document = page_to_document("https://example.com/a", body, source={"test": 1}, stats=stats, **kwargs)
    return document, stats


@pytest.mark.parametrize("content", ["noai", "NoIndex, nofollow", "noai,noimageai"])
def test_meta_robots_opt_out_drops_the_page(content: str) -> None:
    document, stats = convert(page(head=f"<meta name='robots' content='{content}'>"))
    assert document is None and stats.get("pages/skipped/optout") == 1 and stats.get("pages/parsed") == 0


@pytest.mark.parametrize("tags, dropped", [(["noai"], True), (["noindex, nofollow"], True), (["flamboyancebot: noai"], True),
                                           (["otherbot: noai"], False), (["nofollow"], False)])  # fmt: skip
def test_x_robots_tag_opt_out_drops_the_page(tags: list[str], dropped: bool) -> None:
    document, stats = convert(page(), robots_tags=tags)
    assert (document is None) is dropped and stats.get("pages/skipped/optout") == int(dropped)


def test_a_meta_tag_for_another_crawler_does_not_opt_out() -> None:
    document, _ = convert(page(head="<meta name='googlebot' content='noindex'>"))
    assert document is not None


def test_noimageai_keeps_the_page_without_its_images() -> None:
    document, stats = convert(page(head="<meta name='robots' content='noimageai'>"))
    assert document is not None and not any(isinstance(node, ImageNode) for node in document.nodes)
    assert stats.get("images/failed/optout_meta") == 1


def test_language_is_detected_from_the_text_not_the_markup() -> None:
    german, _ = convert(page(GERMAN, lang="en"))  # a template's lang attribute is often wrong
    english, _ = convert(page(PROSE, lang="de"))
    assert (german.language, english.language) == ("de", "en")


def test_every_cut_is_counted() -> None:
    body = page().replace(b"</p>", b"</p>" + b"<div>" * 3000, 1)  # text after the cut is lost, and counted
    document, stats = convert(body + b" " * 100, max_html_bytes=len(body))
    assert document is not None
    assert stats.under("pages/truncated") == {"bytes": 1, "depth": 1}


def test_summary_shows_every_counter_family() -> None:
    stats = Stats({"pages/failed/ValueError": 2, "pages/truncated/bytes": 3, "urls/skipped/bad_json": 4,
                   "image_index/skipped/no_target_uri": 5, "pages/skipped/optout": 6, "warc/skipped/request": 7})  # fmt: skip
    out = io.StringIO()
    print_summary(StageResult(output="out", units=1, skipped=0, stats=stats), out)
    text = out.getvalue()
    for line in ("pages failed: ValueError 2", "pages truncated (kept): bytes 3", "URL rows skipped: bad_json 4",
                 "image index problems: no_target_uri 5", "pages skipped: optout 6", "records skipped: request 7"):  # fmt: skip
        assert line in text
