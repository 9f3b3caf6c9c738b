"""Image filters on the real Wikipedia site: page furniture goes, album covers and photos stay."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pytest
from PIL import Image

from flamboyance.filter.images import (
    FrequentImageUrls,
    ImageFormat,
    ImageSize,
    LowInformation,
    count_image_urls,
)
from flamboyance.filter.presets import load_pipeline
from flamboyance.shards.document import Document, ImageNode, TextNode


def fetched_node(path: Path) -> tuple[ImageNode, Image.Image]:
    """The ImageNode a crawl would produce for a served image file, and its pixels."""
    image = Image.open(path)
    image.load()
    url = "https://en.wikipedia.org/I/" + quote(f"{path.parent.name}/{path.name}")
    node = ImageNode(url=url, original_width=image.width, original_height=image.height,
                     original_format=image.format.lower())
    return node, image


def first_drop(pipeline, node: ImageNode, image: Image.Image) -> str | None:
    """'step kind: reason' of the first image step that drops the image, or None if kept."""
    for steps, item in ((pipeline.url, node), (pipeline.fetched, node), (pipeline.pixels, image)):
        for step in steps:
            verdict = step.check(item)
            if not verdict.keep:
                return f"{type(step).__name__}: {verdict.reason}"
    return None


def test_m3w_drops_flags_icons_logos_stars_and_spacers_keeps_covers_and_photos(wiki_site: Path) -> None:
    pipeline = load_pipeline("m3w")
    images = wiki_site / "site" / "I"
    decisions = {path.name: first_drop(pipeline, *fetched_node(path)) for path in sorted((images / "m").iterdir())}
    for spacer in ("tab-current-fade.png", "Treeview-grey-line.png", "portal-break.png", "Checker-16x16.png"):
        decisions[spacer] = first_drop(pipeline, *fetched_node(images / "s" / spacer))

    flags = [name for name in decisions if name.startswith("Flag_of_")]
    assert len(flags) == 31
    assert {decisions[name] for name in flags} == {"ImageSize: small_side_below"}
    for star in ("Star_full.svg.png", "Star_half.svg.png", "Star_empty.svg.png"):
        assert decisions[star] == "ImageSize: small_side_below"
    for logo in ("Commons-logo.svg.png", "Wikiquote-logo.svg.png", "Wikisource-logo.svg.png",
                 "Nannylogo.PNG", "Muppets_-_first_Disney_logo.jpg"):
        assert decisions[logo] == "UrlBanWords: url_logo"
    for icon in ("People_icon.svg.png", "Folder_Hexagonal_Icon.svg.png", "fileicon-ogg.png"):
        assert decisions[icon] == "UrlBanWords: url_icon"
    assert decisions["tab-current-fade.png"] == "ImageSize: small_side_below"
    assert decisions["portal-break.png"] == "ImageSize: small_side_below"
    assert decisions["Treeview-grey-line.png"] == "ImageSize: small_side_below"
    # Small, two-colour: the size rule fires first, and the pixel rule agrees on its own.
    assert decisions["Checker-16x16.png"] == "ImageSize: small_side_below"
    assert not LowInformation().check(Image.open(images / "s" / "Checker-16x16.png")).keep

    photos_and_covers = [name for name in decisions if name.lower().endswith((".jpg", ".jpeg"))
                         and "logo" not in name.lower()] + ["RaCharles_HTRJ.png", "5_America,_the_Beautiful.png"]
    assert len(photos_and_covers) == 95
    assert {name: decisions[name] for name in photos_and_covers if decisions[name]} == {}
    assert decisions["Ray_Charles_star_on_HWF.JPG"] is None  # a photo, though its name says "star"


def test_pixel_filter_takes_arrays_and_keeps_dark_photos(wiki_site: Path) -> None:
    step = LowInformation()
    assert step.check(np.full((40, 40, 3), 200, dtype=np.uint8)).reason == "pixel_std_below"
    stripes = np.zeros((40, 40), dtype=np.uint8)
    stripes[::2] = 255
    assert step.check(stripes).reason == "luminance_entropy_below"
    dark_photo = Image.open(wiki_site / "site" / "I" / "m" / "David_Fathead_Newman.jpg")
    assert step(dark_photo, label="David_Fathead_Newman.jpg")
    assert step.stats.histograms["luminance_entropy"].total() == 1


def test_format_whitelist_uses_decoded_format_then_url_extension() -> None:
    step = ImageFormat()
    assert step.check(ImageNode(url="https://x.org/a/Gear_icon.svg")).reason == "format_svg"
    assert step.check(ImageNode(url="https://x.org/photo.JPG")).keep
    assert step.check(ImageNode(url="https://x.org/image?id=3")).keep  # unknown until fetched
    assert step.check(ImageNode(url="https://x.org/p.jpg", original_format="TIFF")).reason == "format_tiff"


def test_size_uses_rendered_size_before_fetching() -> None:
    obelics_size = ImageSize(min_side=150, max_side=20000)
    assert obelics_size.check(ImageNode(url="u", rendered_width=16, rendered_height=12)).reason == "small_side_below"
    assert obelics_size.check(ImageNode(url="u", original_width=30000, original_height=800)).reason == "large_side_above"
    assert obelics_size.check(ImageNode(url="u")).keep  # no size known yet


def page_document(path: Path) -> Document:
    """A document with the images of a real page (order of <img> tags), for URL counting."""
    html = path.read_text(encoding="utf-8")
    urls = ["https://en.wikipedia.org/I/m/" + unquote(src)
            for src in re.findall(r'<img[^>]*\bsrc="\.\./I/m/([^"]+)"', html)]
    return Document(key=path.stem, url=f"https://en.wikipedia.org/A/{path.name}",
                    nodes=[TextNode(path.stem)] + [ImageNode(url=url) for url in urls])


def test_images_on_many_pages_are_dropped_with_dataset_wide_counts(wiki_site: Path) -> None:
    documents = [page_document(path) for path in sorted((wiki_site / "site" / "A").glob("*.html"))]
    half = len(documents) // 2
    counts = count_image_urls(documents[:half])
    counts.update(count_image_urls(documents[half:]))  # units' counts add up
    assert counts == count_image_urls(documents)
    step = FrequentImageUrls(counts, max_documents=10)
    kept = {node.url.rsplit("/", 1)[1] for doc in documents for node in doc.images() if step(node, label=doc.key)}
    dropped = {node.url.rsplit("/", 1)[1] for doc in documents for node in doc.images()} - kept
    assert {"Commons-logo.svg.png", "Wikiquote-logo.svg.png", "Star_full.svg.png"} <= dropped
    assert "Ray_Charles_(cropped).jpg" in kept
    assert step.stats.dropped["url_documents_above"] > 0
    assert step.stats.sample.records()[0]["reason"] == "url_documents_above"


@pytest.mark.parametrize("preset", ["m3w", "obelics"])
def test_select_images_removes_failing_nodes_and_counts_them(preset: str) -> None:
    pipeline = load_pipeline(preset)
    document = Document(key="k", url="https://x.org/", nodes=[
        TextNode("Some words about the photo below."),
        ImageNode(url="https://x.org/site-logo.png"),
        ImageNode(url="https://x.org/photo.jpg", original_width=400, original_height=300, original_format="jpeg"),
    ])
    selected = pipeline.select_images(pipeline.select_images(document, "url"), "fetched")
    assert [node.url for node in selected.images()] == ["https://x.org/photo.jpg"]
    assert len(document.images()) == 2  # the input is not changed
    assert pipeline.report()["url/url_ban_words"].dropped == {"url_logo": 1}
    assert not pipeline.keep_pixels(np.zeros((80, 80, 3), dtype=np.uint8), label="blank.jpg")
    assert pipeline.report()["pixels/low_information"].dropped == {"pixel_std_below": 1}
