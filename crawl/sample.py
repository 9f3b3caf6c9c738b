"""A small synthetic web site, generated on the spot, for the demo and for tests.

The site is ours (nothing is copied from elsewhere) and is built to exercise the whole
path: pages with navigation and footer boilerplate around an article, figures with
captions, lazy-loaded and ``srcset`` images, and a share icon, a blank banner and a
spacer that filters should reject. Each content image shows a shape of some colour on a textured
background, and its caption and the text around it name them, so the encoder and
Flamingo stages have something learnable: the text depends on the image.

A few pages also appear at a second address (mirrors), for deduplication to find.

``write_sample_warcs`` writes the site as two WARC files (pages and images), the same
form as a Common Crawl download, so the demo runs offline through the real build.
"""

from __future__ import annotations

import datetime
import io
import os
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from flamboyance.shards.synthetic import BACKGROUNDS, COLOURS, SHAPES, Drawing, draw

HOST = "https://demo.flamboyance.invalid"

_OPENERS = (
    "This page belongs to our gallery of simple shapes, drawn by hand for people who like geometry.",
    "Every week we publish a few new drawings and describe how each one was made.",
    "Our readers asked for more colourful shapes, so this collection brings several of them together.",
    "Welcome back to the gallery, where we keep adding small pictures made with a ruler and a compass.",
    "Some of our oldest drawings are collected below, together with notes on how they came about.",
)
_FILLERS = (
    "The drawing took about an hour, most of it spent getting the edges clean and the colour even.",
    "We keep the background simple so that the shape stays the centre of attention.",
    "Several readers wrote to us about this one, and we are grateful for every letter.",
    "If you want to draw it yourself, start with a light pencil outline and fill it in slowly.",
    "A friend of the gallery suggested the composition during a long train journey last spring.",
    "Mixing the paint for this piece was harder than expected, since the first batch dried too fast.",
    "Children who visit our workshop often choose this motif for their first attempts.",
    "The original hangs in the hallway of our small office, next to a window facing the river.",
    "Printing it on thick paper gives the texture a pleasant feel under the fingers.",
    "Nobody remembers who first proposed this pairing, but it has stayed popular ever since.",
    "Scanning the sheet at a high resolution kept every little imperfection of the brush.",
    "Our teacher used to say that simple forms are the hardest ones to get exactly right.",
)
_DESCRIPTIONS = (
    "Here the {shape} is painted {colour}, set against a {background} background.",
    "In this picture the {colour} {shape} sits in the middle of a {background} field.",
    "The {background} backdrop makes the {colour} of the {shape} stand out clearly.",
    "We drew a {shape} in {colour} and placed it over a {background} pattern.",
    "You can see the {colour} {shape}, with a {background} texture behind it.",
)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


@dataclass
class SampleSite:
    """The generated site: page HTML and image bytes by URL, and what each image shows."""

    pages: dict[str, str]
    images: dict[str, tuple[str, bytes]]  # url -> (content type, bytes)
    drawings: dict[str, Drawing]  # content image url -> what it shows


def generate_site(pages: int = 40, images_per_page: int = 4, seed: int = 0) -> SampleSite:
    """A deterministic site of ``pages`` articles with ``images_per_page`` drawings each."""
    rng = random.Random(seed)
    site = SampleSite(pages={}, images={}, drawings={})
    icon = Image.new("RGB", (16, 16), (90, 90, 90))
    site.images[f"{HOST}/static/icon-home.png"] = ("image/png", _encode(icon, "PNG"))
    site.images[f"{HOST}/static/spacer.gif"] = ("image/gif", _encode(Image.new("P", (1, 1)), "GIF"))
    share = Image.new("RGB", (24, 24), (255, 255, 255))
    ImageDraw.Draw(share).ellipse([4, 4, 20, 20], fill=(30, 120, 220))
    site.images[f"{HOST}/static/share-icon.png"] = ("image/png", _encode(share, "PNG"))
    banner = Image.new("RGB", (728, 90), (250, 250, 250))
    site.images[f"{HOST}/static/banner.png"] = ("image/png", _encode(banner, "PNG"))
    for page in range(pages):
        fillers = rng.sample(_FILLERS, len(_FILLERS))
        blocks = [f"<p>{rng.choice(_OPENERS)} {fillers.pop()}</p>"]
        for slot in range(images_per_page):
            drawing = Drawing(rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(BACKGROUNDS))
            size = (rng.choice((320, 400, 480)), rng.choice((240, 320, 360)))
            fmt, mime, ext = rng.choice((("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png")))
            url = f"{HOST}/img/page-{page:03d}/drawing {slot}.{ext}"
            quoted = url.replace(" ", "%20")
            site.images[quoted] = (mime, _encode(draw(drawing, size, rng), fmt))
            site.drawings[quoted] = drawing
            relative = f"../img/page-{page:03d}/drawing%20{slot}.{ext}"
            style = slot % 3
            if style == 0:
                tag = f'<img src="{relative}" alt="{drawing.colour} {drawing.shape}" width="{size[0]}" height="{size[1]}">'
            elif style == 1:
                tag = f'<img src="/static/spacer.gif" data-src="{relative}" alt="{drawing.colour} {drawing.shape}">'
            else:
                tag = f'<img srcset="{relative} 2x" src="{relative}" alt="">'
            blocks.append(f"<figure>{tag}<figcaption>{drawing.caption}</figcaption></figure>")
            description = rng.choice(_DESCRIPTIONS).format(**vars(drawing))
            blocks.append(f"<p>{description} {fillers.pop() if fillers else ''}</p>")
        # Page furniture inside the article, for the filters to reject: a share button
        # (too small, "icon" in its URL) and a blank banner (low information, too wide).
        blocks.append('<p><img src="/static/share-icon.png" alt="share"> Share this gallery with a friend.</p>')
        if page % 4 == 0:
            blocks.insert(1, '<p><img src="/static/banner.png" alt=""></p>')
        title = f"Shape gallery, part {page + 1}"
        site.pages[f"{HOST}/pages/{page:03d}.html"] = _page_html(title, "\n".join(blocks))
    # Mirrors: the same article at a second address, as the web is full of them; the
    # dedup pass should keep one copy of each.
    for page in range(0, pages, 10):
        site.pages[f"{HOST}/mirror/{page:03d}.html"] = site.pages[f"{HOST}/pages/{page:03d}.html"]
    return site


def _page_html(title: str, article: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<header><nav><a href="/"><img src="/static/icon-home.png" alt="home" width="16" height="16"></a>
<a href="/pages/">All galleries</a> | <a href="/about.html">About us</a> | <a href="/contact.html">Contact</a></nav></header>
<main><article><h1>{title}</h1>
{article}
</article></main>
<footer><p>Copyright the shape gallery. All rights reserved. <a href="/privacy.html">Privacy</a></p></footer>
</body></html>"""


def write_sample_warcs(folder: str, pages: int = 40, images_per_page: int = 4, seed: int = 0) -> tuple[str, str, SampleSite]:
    """Write the site as ``pages.warc.gz`` and ``images.warc.gz`` in ``folder``."""
    from flamboyance.crawl.warc_writer import WarcWriter

    site = generate_site(pages, images_per_page, seed)
    os.makedirs(folder, exist_ok=True)
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    pages_path = os.path.join(folder, "pages.warc.gz")
    images_path = os.path.join(folder, "images.warc.gz")
    with WarcWriter(pages_path) as writer:
        for url, html in site.pages.items():
            headers = [("Content-Type", "text/html; charset=utf-8")]
            writer.write_response(url, 200, headers, html.encode("utf-8"), date=when)
    with WarcWriter(images_path) as writer:
        for url, (mime, payload) in site.images.items():
            writer.write_response(url, 200, [("Content-Type", mime)], payload, date=when)
    return pages_path, images_path, site
