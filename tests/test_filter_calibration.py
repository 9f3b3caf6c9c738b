"""Calibration of the presets' text rules on real pages: good pages stay, bad pages go.

Known-good pages are the real sets in ../shared/data, extracted by our extractor as a
build would: the 85 Wikipedia articles, the English articles of the article-extraction
benchmark, and the English, real-content pages of Readability's test suite (its
"lorem ipsum" parser fixtures are not web content). The presets are English filters,
so a page counts as English when py3langid says so of its hand-made reference text
(not of our extraction). Known-bad pages are real error pages, placeholders and
directory listings in tests/data/known-bad-pages (provenance in its README).

The thresholds of the presets come from their papers; nothing here was tuned on these
pages. Each set is reported on its own (``pytest -s`` prints the table), so a rule that
holds on one set and fails on another shows.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from lxml import html as lxml_html

from flamboyance.crawl.pages import page_to_document
from flamboyance.crawl.warc import iter_records
from flamboyance.filter.presets import build_pipeline, load_config
from flamboyance.filter.text import identify_language
from flamboyance.shards.document import Document
from flamboyance.shards.stats import Stats

KNOWN_BAD = Path(__file__).resolve().parent / "data" / "known-bad-pages"
PRESETS = ("m3w", "obelics")


def _document(url: str, body: bytes) -> Document | None:
    return page_to_document(url, body, source={"url": url}, stats=Stats())


def wiki_pages(wiki_site: Path) -> list[Document | None]:
    return [_document(record.target_uri, record.body)
            for record in iter_records(str(wiki_site / "pages.warc.gz"), 0, None, stats=Stats())]


def english_benchmark_pages(article_benchmark: Path) -> list[Document | None]:
    truth = json.loads((article_benchmark / "ground-truth.json").read_text(encoding="utf-8"))
    return [_document(f"https://benchmark.example/{key}.html", gzip.decompress((article_benchmark / "html" / f"{key}.html.gz").read_bytes()))
            for key, article in sorted(truth.items()) if identify_language(article["articleBody"])[0] == "en"]


def english_readability_pages(readability: Path) -> list[Document | None]:
    pages = []
    for folder in sorted((readability / "pages").iterdir()):
        reference = lxml_html.fromstring(gzip.decompress((folder / "expected.html.gz").read_bytes())).text_content()
        if "lorem ipsum" in reference.lower() or identify_language(reference)[0] != "en":
            continue
        pages.append(_document(f"http://fakehost/test/{folder.name}.html", gzip.decompress((folder / "source.html.gz").read_bytes())))
    return pages


def known_bad_pages() -> list[Document | None]:
    return [_document(f"https://bad.example/{path.name}", path.read_bytes()) for path in sorted(KNOWN_BAD.glob("*.html"))]


def kept_by_text_rules(preset: str, documents: list[Document | None]) -> int:
    """Documents that survive the preset's paragraph and document steps (an empty extraction is dropped)."""
    config = load_config(preset)
    pipeline = build_pipeline({stage: config.get(stage) for stage in ("paragraphs", "documents")})
    return sum(document is not None and pipeline.filter_text(document) is not None for document in documents)


@pytest.fixture(scope="module")
def known_good(wiki_site: Path, article_benchmark: Path) -> dict[str, list[Document | None]]:
    readability = wiki_site.parent / "readability-test-pages"
    if not readability.exists():
        pytest.skip(f"real data not found at {readability}")
    return {"wiki": wiki_pages(wiki_site), "article-benchmark (en)": english_benchmark_pages(article_benchmark),
            "readability (en, real)": english_readability_pages(readability)}


@pytest.mark.parametrize("preset", PRESETS)
def test_text_rules_keep_known_good_pages(preset: str, known_good: dict[str, list[Document | None]]) -> None:
    shares = {}
    for name, documents in known_good.items():
        kept = kept_by_text_rules(preset, documents)
        shares[name] = kept / len(documents)
        print(f"{preset:8} {name:24} kept {kept:3}/{len(documents)} = {shares[name]:.1%}")
    assert [len(documents) for documents in known_good.values()] == [85, 161, 80]
    total = sum(shares[name] * len(documents) for name, documents in known_good.items())
    pooled = total / sum(map(len, known_good.values()))
    print(f"{preset:8} {'all known-good':24} kept {pooled:.1%}")
    assert pooled >= 0.9, shares
    assert min(shares.values()) >= 0.85, shares


def kept_by_preset(preset: str, documents: list[Document | None]) -> int:
    """Documents that survive every step of the preset that needs no image bytes."""
    pipeline = build_pipeline(load_config(preset))
    return sum(document is not None and pipeline(document) is not None for document in documents)


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_drop_known_bad_pages(preset: str) -> None:
    """The whole preset drops them; the text rules alone are reported beside it.

    OBELICS' text rules keep short, well-formed error messages (10 words are enough for
    a document); its rule of at least one image per document is what removes them.
    """
    documents = known_bad_pages()
    assert len(documents) >= 50
    dropped = len(documents) - kept_by_preset(preset, documents)
    by_text = len(documents) - kept_by_text_rules(preset, documents)
    print(f"{preset:8} {'known-bad':24} dropped {dropped}/{len(documents)} = {dropped / len(documents):.1%}"
          f" (text rules alone: {by_text}/{len(documents)})")
    assert dropped / len(documents) >= 0.8
