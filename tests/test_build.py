"""End-to-end builds on the real wiki site: from WARCs, from a local HTTP server, and both agree."""

from __future__ import annotations

import json
from urllib.parse import unquote, urljoin

import pytest
import webdataset
from build_checks import assert_same_documents, documents

from flamboyance.crawl.build import run_build
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.fetch import FetchConfig
from flamboyance.crawl.units import warc_units
from flamboyance.crawl.warc_writer import WarcWriter
from flamboyance.shards.executor import PlanMismatch
from flamboyance.shards.manifest import read_manifest, shard_paths


def build(warcs, output, image_warcs=(), config=None, **inputs):
    """A build without filters unless a config is given: these tests check extraction and images."""
    config = config or BuildConfig(filters=None)
    return run_build(
        warc_units([str(w) for w in warcs], config.unit_bytes),
        str(output),
        config,
        inputs={"warc": [str(w) for w in warcs], **inputs},
        image_warcs=[str(w) for w in image_warcs],
        show_progress=False,
    )


@pytest.fixture(scope="module")
def wiki_build(wiki_site, tmp_path_factory, ray_local):
    output = tmp_path_factory.mktemp("wiki") / "out"
    result = build([wiki_site / "pages.warc.gz"], output, [wiki_site / "images.warc.gz"])
    return result, output


def test_every_article_becomes_a_document_with_its_text(wiki_build, wiki_site):
    result, output = wiki_build
    assert result.ok
    found = documents(output, decode=True)
    pages = sorted(p.name for p in (wiki_site / "site" / "A").iterdir())
    assert sorted(found) == pages and len(pages) == 85
    ray_charles = found["Ray_Charles.html"][0]
    assert ray_charles.title.startswith("Ray Charles")
    assert "Ray Charles Robinson" in ray_charles.text()
    # Every article has its body text (index.htm is only a stub linking to the articles).
    assert all(len(doc.text()) > 200 for name, (doc, _) in found.items() if name != "index.htm")


def test_images_come_in_page_order_and_none_is_lost_to_quoting(wiki_build, wiki_site):
    from bs4 import BeautifulSoup

    result, output = wiki_build
    # Every image URL the extractor produced was found in the image WARC.
    assert result.stats.get("images/failed/not_in_warc") == 0
    assert result.stats.get("images/attached") > 100
    for name, (document, images) in documents(output, decode=True).items():
        html = (wiki_site / "site" / "A" / name).read_text(encoding="utf-8")
        in_page = [urljoin(document.url, img["src"]) for img in BeautifulSoup(html, "html.parser").find_all("img") if img.get("src")]
        ours = [node.url for node in document.images()]
        # Our images are the page's images, in the page's order (a subsequence of them).
        position = 0
        for url in ours:
            normalised = [unquote(u) for u in in_page[position:]]
            assert unquote(url) in normalised, f"{name}: {url} out of order"
            position += normalised.index(unquote(url)) + 1
        assert [node.index for node in document.images()] == list(range(len(images)))
        for node, image in zip(document.images(), images):
            assert image.size == (node.width, node.height)
            assert max(node.width, node.height) <= max(node.original_width, node.original_height)


def test_pairs_are_readable_by_webdataset_with_captions(wiki_build):
    _, output = wiki_build
    manifest = read_manifest(str(output / "pairs"))
    assert manifest["samples"] > 0
    sizes = json.loads((output / "pairs" / "sizes.json").read_text())
    assert sum(sizes.values()) == manifest["samples"]
    pairs = list(webdataset.WebDataset(shard_paths(str(output / "pairs")), shardshuffle=False).decode("pil"))
    assert len(pairs) == manifest["samples"]
    for pair in pairs:
        assert "." not in pair["__key__"]
        assert pair["txt"].strip() and pair["jpg"].mode == "RGB"
        assert pair["json"]["page_url"].startswith("https://en.wikipedia.org/A/")


def test_rerun_skips_finished_units_and_other_inputs_are_refused(wiki_build, wiki_site):
    result, output = wiki_build
    again = build([wiki_site / "pages.warc.gz"], output, [wiki_site / "images.warc.gz"])
    assert again.skipped == again.units == result.units
    assert again.stats.to_json() == result.stats.to_json()
    with pytest.raises(PlanMismatch):
        build([wiki_site / "images.warc.gz"], output)


def test_local_http_server_gives_the_same_documents(wiki_build, wiki_site, static_site, tmp_path):
    """Pages archived from a server on 127.0.0.1, images downloaded from it: same documents."""
    _, wiki_output = wiki_build
    site = static_site(wiki_site / "site")
    warc = tmp_path / "local.warc.gz"
    with WarcWriter(str(warc)) as writer:
        for page in sorted((wiki_site / "site" / "A").iterdir()):
            url = f"{site.url}/A/{page.name}"
            headers = [("Content-Type", "text/html; charset=utf-8")]
            writer.write_response(url.replace(" ", "%20"), 200, headers, page.read_bytes())
    config = BuildConfig(fetch=FetchConfig(allow_private=True), filters=None)
    result = build([warc], tmp_path / "out", config=config)
    assert result.ok, result.failed

    assert_same_documents(documents(wiki_output), documents(tmp_path / "out"))
