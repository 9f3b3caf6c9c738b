"""Image filter steps, on ``shards.document.ImageNode``.

They run at three moments of a build, cheapest first, so that bytes are not fetched for
images that can be rejected from their URL:

- before fetching, on the URL: ``UrlBanWords``, ``ImageFormat`` (by extension),
  ``FrequentImageUrls`` (with counts from ``count_image_urls`` over the whole dataset);
  ``ImageSize`` and ``AspectRatio`` use the size the page renders the image at when
  the HTML gives it;
- after fetching, on the decoded size and format: ``ImageSize``, ``AspectRatio``,
  ``ImageFormat``;
- on the pixels: ``LowInformation`` (spacers, blank and near single-colour images).
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
from PIL import Image

from flamboyance.filter.base import Filter, Rules, Verdict, threshold
from flamboyance.shards.document import Document, ImageNode

_FORMAT_ALIASES = {"jpg": "jpeg", "jpe": "jpeg", "tif": "tiff", "svgz": "svg"}


def _size(node: ImageNode) -> tuple[int, int] | None:
    """The decoded size when the image was fetched, else the size the page renders it at."""
    if node.original_width and node.original_height:
        return node.original_width, node.original_height
    if node.rendered_width and node.rendered_height:
        return node.rendered_width, node.rendered_height
    return None


def _url_path(url: str) -> str:
    return unquote(urlsplit(url).path).lower()


class ImageFormat(Filter):
    """Keep only formats a training loader can decode and that hold photos or drawings.

    Uses the decoded format when known, else the URL's extension; an image without
    either is kept (a later, post-fetch pass decides).
    """

    name = "image_format"
    takes = "image"

    def __init__(self, allowed: Sequence[str] = ("jpeg", "png", "webp", "gif", "bmp"), **options: Any) -> None:
        super().__init__(**options)
        self.allowed = frozenset(_FORMAT_ALIASES.get(f.lower(), f.lower()) for f in allowed)

    def check(self, node: ImageNode) -> Verdict:
        if node.original_format:
            found = node.original_format.lower()
        else:
            found = posixpath.splitext(_url_path(node.url))[1].lstrip(".")
            if not found:
                return Verdict(True)
        found = _FORMAT_ALIASES.get(found, found)
        if found in self.allowed:
            return Verdict(True)
        return Verdict(False, f"format_{found}")


class ImageSize(Filter):
    """Drop images whose smaller side is below ``min_side`` or larger side above ``max_side``.

    Small images are icons, flags, bullets and tracking pixels; huge ones are scans and
    maps that the encoder would shrink to nothing.
    """

    name = "image_size"
    takes = "image"

    def __init__(self, min_side: int | None = None, max_side: int | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.min_side, self.max_side = min_side, max_side

    def check(self, node: ImageNode) -> Verdict:
        size = _size(node)
        if size is None:
            return Verdict(True)
        rules = Rules()
        if drop := rules.check("small_side", min(size), low=self.min_side):
            return drop
        return rules.check("large_side", max(size), high=self.max_side) or rules.passed()


class AspectRatio(Filter):
    """Drop banners, dividers and skyscraper ads: width / height outside [min_ratio, max_ratio]."""

    name = "aspect_ratio"
    takes = "image"

    def __init__(self, min_ratio: float | None = None, max_ratio: float | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.min_ratio, self.max_ratio = min_ratio, max_ratio

    def check(self, node: ImageNode) -> Verdict:
        size = _size(node)
        if size is None:
            return Verdict(True)
        return threshold("aspect_ratio", size[0] / size[1], self.min_ratio, self.max_ratio)


# Words in an image's URL path that mark page furniture rather than content, chosen to be
# rare inside ordinary words. "star" is left out: it is in "start" and in photos of stars;
# "icon" also matches "favicon" (wanted) and "iconic" (a rare, accepted loss).
BAN_WORDS = ("logo", "button", "icon", "plugin", "widget", "spacer", "banner", "badge",
             "sprite", "avatar", "emoji", "emoticon", "placeholder", "loader", "spinner",
             "captcha")


class UrlBanWords(Filter):
    """Drop images whose URL path contains a ban word (``logo``, ``icon``, ``button``, ...)."""

    name = "url_ban_words"
    takes = "image"

    def __init__(self, words: Sequence[str] = BAN_WORDS, **options: Any) -> None:
        super().__init__(**options)
        self.words = tuple(word.lower() for word in words)

    def check(self, node: ImageNode) -> Verdict:
        path = _url_path(node.url)
        for word in self.words:
            if word in path:
                return Verdict(False, f"url_{word}")
        return Verdict(True)


class LowInformation(Filter):
    """Drop blank, single-colour and near single-colour images (spacers, lines, fills).

    Works on the pixels: give it a PIL image or a numpy array (H x W [x C]). Transparent
    parts are seen on white, as a page shows them. Two scores, on a copy shrunk to at
    most 64 x 64: the largest standard deviation of a colour channel (a flat image has
    ~0) and the entropy in bits of the luminance histogram (a two-colour line or
    checker pattern has at most 1 bit; photos, dark ones too, have 3 or more).
    """

    name = "low_information"
    takes = "pixels"

    def __init__(self, min_std: float = 3.0, min_entropy: float = 1.25, **options: Any) -> None:
        super().__init__(**options)
        self.min_std, self.min_entropy = min_std, min_entropy

    def check(self, image: Image.Image | np.ndarray) -> Verdict:
        pixels = _rgb_pixels(image)
        rules = Rules()
        if drop := rules.check("pixel_std", float(pixels.std(axis=0).max()), low=self.min_std):
            return drop
        return rules.check("luminance_entropy", _luminance_entropy(pixels), low=self.min_entropy) or rules.passed()


def _rgb_pixels(image: Image.Image | np.ndarray) -> np.ndarray:
    """The pixels as an (N, 3) float array, shrunk to at most 64 x 64, alpha over white."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image))
    image = image.copy()
    image.thumbnail((64, 64))
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(background, rgba).convert("RGB")
    return np.asarray(rgb, dtype=np.float32).reshape(-1, 3)


def _luminance_entropy(pixels: np.ndarray) -> float:
    """Entropy in bits of the 256-level luminance histogram (dark photos keep their detail)."""
    luminance = (pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.uint8)
    counts = np.bincount(luminance, minlength=256)
    probabilities = counts[counts > 0] / len(luminance)
    return float(-(probabilities * np.log2(probabilities)).sum())


def count_image_urls(documents: Iterable[Document]) -> Counter[str]:
    """In how many documents each image URL occurs (once per document however often used).

    Counters of separate units add up (``Counter.update``) to the dataset's counts,
    which ``FrequentImageUrls`` takes.
    """
    counts: Counter[str] = Counter()
    for document in documents:
        counts.update({node.url for node in document.images()})
    return counts


class FrequentImageUrls(Filter):
    """Drop images used by more than ``max_documents`` documents of the dataset.

    An image on many pages is a site logo, a share button or an ad, not content
    (OBELICS: more than 10). Needs the dataset-wide counts from ``count_image_urls``.
    """

    name = "frequent_image_urls"
    takes = "image"

    def __init__(self, counts: Counter[str] | dict[str, int], max_documents: int = 10, **options: Any) -> None:
        super().__init__(**options)
        self.counts, self.max_documents = counts, max_documents

    def check(self, node: ImageNode) -> Verdict:
        return threshold("url_documents", self.counts.get(node.url, 0), high=self.max_documents)

