"""The default build filters: the wiki site with default settings keeps its articles and no page furniture.

The default build runs the m3w preset (``BuildConfig.filters``), so ``--set filters=m3w``
is the same build; the test checks both settings give the same config and runs it once.
Images are labelled by what they are, from the site's own files: junk is page furniture
(flags, icons, logos, rating stars, bullets, spacers: any image with a side under 100 px
or "logo"/"icon" in its name); content is every other image (album covers and photos).
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import unquote

import pytest
from build_checks import documents
from PIL import Image

from flamboyance.crawl.build_command import build
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.summary import print_summary
from flamboyance.shards.config import load


def image_labels(wiki_site: Path) -> dict[str, str]:
    """'junk' or 'content' for every image file the site serves, by file name."""
    labels = {}
    for path in sorted((wiki_site / "site" / "I").glob("*/*")):
        try:
            with Image.open(path) as image:
                small = min(image.size) < 100
        except OSError:  # SVG sources: furniture drawn by the skin
            small = True
        furniture = small or any(word in path.name.lower() for word in ("logo", "icon"))
        labels[path.name] = "junk" if furniture else "content"
    return labels


@pytest.fixture(scope="module")
def default_build(wiki_site, tmp_path_factory, ray_local):
    output = tmp_path_factory.mktemp("wiki-default") / "out"
    result = build(str(output), warc=[str(wiki_site / "pages.warc.gz")], image_warc=[str(wiki_site / "images.warc.gz")],
                   show_progress=False)
    assert result.ok, result.failed
    return result, output


def test_default_build_runs_m3w_the_same_as_set_filters_m3w():
    assert BuildConfig().filters == "m3w"
    assert load(BuildConfig, None, ["filters=m3w"]) == BuildConfig()
    assert load(BuildConfig, None, ["filters=null"]).filters is None


def test_default_build_keeps_the_articles_and_no_junk_image(default_build, wiki_site):
    result, output = default_build
    found = documents(output)
    assert len(found) >= 75, sorted(found)
    assert "Ray_Charles.html" in found
    labels = image_labels(wiki_site)
    kept = {unquote(node.url.rsplit("/", 1)[-1]) for document, _ in found.values() for node in document.images()}
    assert {name for name in kept if labels[name] == "junk"} == set()
    # Content images of the kept articles that the image filters removed (the pages the
    # text rules dropped take theirs with them: 3 covers, on the two album pages of tables).
    in_kept_pages = set()
    for name in found:
        html = unquote((wiki_site / "site" / "A" / name).read_text(encoding="utf-8"))
        in_kept_pages |= {image for image, label in labels.items() if label == "content" and f"/{image}\"" in html}
    assert len(in_kept_pages) > 80
    lost = in_kept_pages - kept
    assert len(lost) <= 2, sorted(lost)


def test_summary_names_the_filter_steps_and_warns_about_heavy_ones(default_build):
    result, _ = default_build
    out = io.StringIO()
    print_summary(result, out)
    summary = out.getvalue()
    assert "documents/gopher_quality: gopher_alpha_words_ratio_below" in summary
    assert "url/url_ban_words: url_icon" in summary
    # Most of the wiki's images are furniture: the size rule drops more than half of what it sees.
    assert "WARNING url/image_size dropped" in summary and "small_side < 64" in summary
