"""From a fetched or archived HTML page to an interleaved Document.

Both ways in, WARC records and live crawling, end here, so a page read from a WARC and
the same page fetched over HTTP become the same document (up to its provenance fields).
"""

from __future__ import annotations

from typing import Any

from flamboyance.crawl.charset import decode_html
from flamboyance.crawl.extract import extract_page
from flamboyance.crawl.fetch import page_opts_out_images
from flamboyance.shards.document import Document, ImageNode
from flamboyance.shards.layout import document_key
from flamboyance.shards.stats import Stats

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


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
) -> Document | None:
    """Extract one page; count and return None for pages that yield nothing."""
    if len(body) > max_html_bytes:
        stats.add("pages/truncated")
        body = body[:max_html_bytes]
    html, _encoding = decode_html(body, http_charset)
    try:
        page = extract_page(html, url)
    except Exception as error:  # noqa: BLE001 - one unparseable page must not stop a unit
        stats.add(f"pages/failed/{type(error).__name__}")
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
        language=page.language,
        fetch_date=fetch_date,
        source=source,
        meta=dict(meta or {}),
    )
