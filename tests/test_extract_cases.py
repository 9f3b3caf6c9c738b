"""Small reproductions of the page shapes the extractor got wrong on pages it was never
tuned on: each one a principle (an article's own header is content, a class word counts
only where it names the block, ...), not a site."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from flamboyance.crawl.extract import ExtractedPage, extract_page
from flamboyance.crawl.extract_quality import image_score, load_readability_pages, page_score, set_score
from flamboyance.shards.document import ImageNode, TextNode

URL = "https://example.com/news/story.html"
PROSE = "The council met on Tuesday and argued about the budget for a long time. " * 3


def texts(page: ExtractedPage) -> list[str]:
    return [node.text for node in page.nodes if isinstance(node, TextNode)]


def image_urls(page: ExtractedPage) -> list[str]:
    return [node.url for node in page.nodes if isinstance(node, ImageNode)]


def site(main: str, head: str = "") -> str:
    """A page with real-looking furniture around ``main``."""
    return (
        f"<html><head><title>Story</title>{head}</head><body>"
        "<header class='site-header'><a href='/'><img src='/logo.png' alt='Daily'></a>"
        "<nav><a href='/a'>World</a> <a href='/b'>Sport</a></nav></header>"
        f"{main}"
        "<footer><p>Copyright Daily News, all rights reserved, do not copy.</p></footer></body></html>"
    )


# --- Shapes that raised (KeyError in the container search) ----------------------------


@pytest.mark.parametrize(
    "html, expected",
    [
        # A gallery: an <article> whose only text is short captions, so no text is weighed.
        ("<html><body><article><img src='/1.jpg'><span>Sunset</span><img src='/2.jpg'><span>Dawn</span></article></body></html>",
         ["Sunset", "Dawn"]),
        # Japanese ruby: the readings (<rt>) are not text of their own.
        ("<html><body><article><p><ruby>漢字<rt>かんじ</rt></ruby>を読む</p></article></body></html>", ["漢字を読む"]),
        # Text after </body> and </html>: browsers show it, libxml2 dropped it.
        (f"<html><body><div class='nav'>menu</div></body></html><p>{PROSE}</p>", [PROSE.strip()]),
        # Every block is boilerplate by its class.
        ("<html><body><div class='sidebar'>Links</div><article class='related'>More</article></body></html>", None),
        # A marked article and nothing else.
        ("<html><body><article></article></body></html>", []),
        # JSON-LD nested deeper than the JSON decoder goes.
        ("<html><head><script type='application/ld+json'>" + "[" * 100_000 + '{"articleBody": "x"}' + "]" * 100_000
         + "</script></head><body><p>Short.</p></body></html>", ["Short."]),
    ],
)  # fmt: skip
def test_shapes_that_raised_now_extract(html: str, expected: list[str] | None) -> None:
    page = extract_page(html, URL)
    if expected is not None:
        assert texts(page) == expected


# --- Headers, asides and class words ----------------------------------------------------


def test_the_article_header_is_kept_and_the_site_header_is_not() -> None:
    page = extract_page(
        site(f"<article><header><h1>Storm hits the coast</h1><p class='lead'>Thousands lost power overnight.</p>"
             f"</header><p>{PROSE}</p></article>"),
        URL,
    )  # fmt: skip
    assert texts(page)[:2] == ["Storm hits the coast", "Thousands lost power overnight."]
    assert "World Sport" not in page.text() and "/logo.png" not in " ".join(image_urls(page))


def test_a_header_that_holds_the_whole_article_is_kept() -> None:
    html = f"<html><body><header><h1>Notes</h1><p>{PROSE}</p><p>{PROSE}</p></header></body></html>"
    assert PROSE.strip() in extract_page(html, URL).text()


def test_an_aside_inside_the_article_is_a_fact_box_and_one_outside_is_furniture() -> None:
    page = extract_page(
        site(f"<aside><p>Most read: a long list of other stories you may like to read today.</p></aside>"
             f"<article><p>{PROSE}</p><aside><p>The council has 40 members elected every four years.</p></aside></article>"),
        URL,
    )  # fmt: skip
    assert "The council has 40 members elected every four years." in texts(page)
    assert "Most read" not in page.text()


def test_a_sidebar_aside_bigger_than_a_short_article_is_still_furniture() -> None:
    sidebar = "".join(f"<p>Most read story number {i} with a long summary of what happened there.</p>" for i in range(20))
    page = extract_page(site(f"<div class='main-content'><article><p>{PROSE}</p></article><aside>{sidebar}</aside></div>"), URL)
    assert texts(page) == [PROSE.strip()]


@pytest.mark.parametrize(
    "wrapper",
    [
        "div class='elementor-widget-container'",  # page builders wrap every block in a "widget"
        "section class='layout-section--ads'",  # a BEM modifier names a variant, not the thing
        "div class='post type-post tag-politics tag-budget'",  # WordPress post classes
        "div class='section-comment'",  # a newspaper's "Comment" (opinion) section
        "div class='readmore-content'",  # the collapsed rest of an article
        "div class='print-article'",
    ],
)
def test_class_words_that_name_content_do_not_drop_it(wrapper: str) -> None:
    tag = wrapper.split()[0]
    html = site(f"<main><p>{PROSE}</p><{wrapper}><p>The second half of the article continues with more reporting.</p></{tag}></main>")
    assert "The second half of the article continues with more reporting." in texts(extract_page(html, URL))


@pytest.mark.parametrize(
    "boilerplate",
    ["div class='share-buttons'", "div class='post-share'", "div id='comments-area'", "div class='ad-slot'",
     "div class='widget widget_recent_entries'", "div class='cookie-consent'", "ul class='tag-list'"],
)  # fmt: skip
def test_class_words_that_name_boilerplate_still_drop_it(boilerplate: str) -> None:
    tag = boilerplate.split()[0]
    html = site(f"<main><p>{PROSE}</p><{tag} {boilerplate.split(' ', 1)[1]}><p>Share this story with friends now.</p></{tag}></main>")
    assert "Share this story" not in extract_page(html, URL).text()


def test_a_linked_sentence_is_content_and_a_link_list_is_not() -> None:
    html = site(
        f"<article><p>{PROSE}</p>"
        "<p><a href='/r'>The full report by the national audit office was published on Monday and is worth reading.</a></p>"
        "<ul><li><a href='/x'>Other story</a></li><li><a href='/y'>Another story</a></li></ul></article>"
    )
    found = texts(extract_page(html, URL))
    assert "The full report by the national audit office was published on Monday and is worth reading." in found
    assert "Other story" not in found


def test_lead_and_teaser_beside_the_body_are_kept() -> None:
    """The container search does not leave a paragraph's worth of text behind."""
    body = "".join(f"<p>{PROSE} Paragraph {i}.</p>" for i in range(6))
    html = site(f"<div class='story'><p class='teaser'>{'A teaser sentence that sums up the story well. ' * 6}</p>"
                f"<div class='body'>{body}</div></div>")  # fmt: skip
    assert texts(extract_page(html, URL))[0].startswith("A teaser sentence")


def test_text_only_in_a_json_ld_script_is_used() -> None:
    article = {"@context": "https://schema.org", "@type": "NewsArticle", "articleBody": f"{PROSE}\n{PROSE}"}
    html = f"<html><head><script type='application/ld+json'>{json.dumps(article)}</script></head><body><div id='app'></div></body></html>"
    assert texts(extract_page(html, URL)) == [PROSE.strip(), PROSE.strip()]


# --- Text normalisation and captions ------------------------------------------------------


def test_text_is_nfc_without_soft_hyphens() -> None:
    decomposed = unicodedata.normalize("NFD", "Café Zürich")
    page = extract_page(f"<html><body><article><p>{decomposed} Bundes\u00adverfassungs\u00adgericht. {PROSE}</p></article></body></html>", URL)
    text = page.text()
    assert "Café Zürich Bundesverfassungsgericht." in text and unicodedata.is_normalized("NFC", text) and "\u00ad" not in text


@pytest.mark.parametrize(
    "caption",
    ["<div class='legend'>The harbour at dawn.</div>", "<p class='media__caption'>The harbour at dawn.</p>",
     "<span class='wp-caption-text'>The harbour at dawn.</span>"],
)  # fmt: skip
def test_caption_containers_become_the_image_caption(caption: str) -> None:
    page = extract_page(f"<html><body><article><p>{PROSE}</p><div class='media'><img src='/h.jpg'>{caption}</div><p>{PROSE}</p></article></body></html>", URL)
    image = next(node for node in page.nodes if isinstance(node, ImageNode))
    assert image.caption == "The harbour at dawn." and "The harbour at dawn." not in page.text()


# --- Lead images ---------------------------------------------------------------------------


def test_lead_image_above_the_text_block_comes_first() -> None:
    page = extract_page(
        site(f"<div class='story'><h1>Storm</h1><figure><img src='/storm.jpg' width='800' height='450'></figure>"
             f"<div class='story-text'><p>{PROSE}</p><p>{PROSE}</p></div></div>"),
        URL,
    )  # fmt: skip
    assert isinstance(page.nodes[0], ImageNode) and page.nodes[0].url == "https://example.com/storm.jpg"


def test_lead_image_named_by_og_image_comes_first_when_the_page_shows_it() -> None:
    head = "<meta property='og:image' content='https://example.com/lead.jpg'>"
    shown = site(f"<div class='hero'><img src='/lead.jpg'></div><p>{'Some words between. ' * 40}</p><article><p>{PROSE}</p></article>", head)
    page = extract_page(shown, URL)
    assert page.lead_image == "https://example.com/lead.jpg" and image_urls(page)[:1] == ["https://example.com/lead.jpg"]
    hidden = extract_page(site(f"<article><p>{PROSE}</p></article>", head), URL)
    assert hidden.lead_image is None and image_urls(hidden) == []  # never shown: not part of the page


def test_logos_and_icons_are_not_lead_images() -> None:
    page = extract_page(
        site(f"<div><img src='/brand-logo.png'><img src='/i.png' width='16' height='16'>"
             f"<div class='story-text'><p>{PROSE}</p><p>{PROSE}</p></div></div>"),
        URL,
    )  # fmt: skip
    assert image_urls(page) == []


# --- Limits --------------------------------------------------------------------------------


def test_nesting_deeper_than_the_parser_follows_is_reported() -> None:
    html = "<html><body>" + "<div>" * 3000 + "deep" + "</div>" * 3000 + f"<p>{PROSE}</p></body></html>"
    assert extract_page(html, URL).truncated == ["depth"]


# --- The second development set ----------------------------------------------------------


def test_readability_pages_quality_floor(readability_pages: Path) -> None:
    """Measured 0.948 F1, image recall 0.96 and the lead image first on 19 of 24 pages for
    these 40 pages (0.936 F1 on all 130: benchmarks/extract.py)."""
    pages = load_readability_pages(readability_pages, limit=40)
    outputs = [extract_page(p.html, p.url) for p in pages]
    score = set_score(page_score(o.text(), p.truth) for o, p in zip(outputs, pages))
    images = [image_score(image_urls(o), list(p.images)) for o, p in zip(outputs, pages)]
    leads = [s.lead_kept for s in images if s.lead_kept is not None]
    assert score.f1 >= 0.93, score
    assert sum(s.matched for s in images) >= 0.9 * sum(s.expected for s in images)
    assert sum(leads) >= 0.7 * len(leads)
