"""From a fetched or archived HTML page to an interleaved Document.

Both ways in, WARC records and live crawling, end here, so a page read from a WARC and
the same page fetched over HTTP become the same document (up to its provenance fields).
Every page that does not become a document is counted by reason: ``pages/failed/<error>``,
``pages/skipped/optout``, ``pages/empty``; every limit that cut a page's text is counted
as ``pages/truncated/<limit>`` (the page is still kept).
"""

from __future__ import annotations

from typing import Any, Iterable

import py3langid

from flamboyance.crawl.charset import decode_html
from flamboyance.crawl.extract import extract_page
from flamboyance.crawl.fetch import FetchConfig, header_opts_out, page_opts_out_images
from flamboyance.shards.document import Document, ImageNode
from flamboyance.shards.layout import document_key
from flamboyance.shards.stats import Stats

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Directives that opt a whole page out of training (``noimageai`` drops its images only),
# in X-Robots-Tag or <meta name="robots">, as the README promises.
PAGE_OPTOUT_DIRECTIVES = frozenset({"noai", "noindex"})
# The language detector reads this much text: more costs time and changes no answer.
_LANGUAGE_SAMPLE = 3000
_DEFAULT_AGENT = FetchConfig().agent_token


def page_to_document(
    url: str,
    body: bytes,
    *,
    source: dict[str, Any],
    stats: Stats,
    http_charset: str | None = None,
    fetch_date: str | None = None,
    max_html_bytes: int = 5 * 1024 * 1024,
    meta: dict[str, Any] | None = None,
    robots_tags: Iterable[str] = (),
    agent_token: str = _DEFAULT_AGENT,
) -> Document | None:
    """Extract one page; count and return None for pages that yield nothing or opt out.

    ``robots_tags`` are the page's ``X-Robots-Tag`` header values (one per header line).
    """
    if header_opts_out(robots_tags, agent_token, PAGE_OPTOUT_DIRECTIVES):
        stats.add("pages/skipped/optout")
        return None
    if len(body) > max_html_bytes:
        stats.add("pages/truncated/bytes")
        body = body[:max_html_bytes]
    html, _encoding = decode_html(body, http_charset)
    try:
        page = extract_page(html, url)
    except Exception as error:  # noqa: BLE001 - one unparseable page must not stop a unit
        stats.add(f"pages/failed/{type(error).__name__}")
        return None
    for limit in page.truncated:
        stats.add(f"pages/truncated/{limit}")
    if header_opts_out(page.robots, agent_token, PAGE_OPTOUT_DIRECTIVES):
        stats.add("pages/skipped/optout")
        return None
    stats.add("pages/parsed")
    nodes = page.nodes
    images = sum(isinstance(node, ImageNode) for node in nodes)
    stats.add("images/found", images)
    if images and page_opts_out_images(page.robots):
        stats.add("images/failed/optout_meta", images)
        nodes = [node for node in nodes if not isinstance(node, ImageNode)]
    if not nodes:
        stats.add("pages/empty")
        return None
    source_id = ":".join(str(value) for value in source.values())
    return Document(
        key=document_key(url, source_id),
        url=url,
        nodes=nodes,
        title=page.title,
        language=detect_language(page.text(" ")[:_LANGUAGE_SAMPLE], page.language),
        fetch_date=fetch_date,
        source=source,
        meta=dict(meta or {}),
    )


def detect_language(text: str, declared: str | None = None) -> str | None:
    """The ISO 639-1 code of ``text``'s language (py3langid), or the page's declared one
    (its primary subtag, ``de`` for ``de-DE``) when there is no text to read."""
    if text.strip():
        return py3langid.classify(text)[0]
    if declared:
        return declared.replace("_", "-").split("-")[0].lower() or None
    return None
