"""Image rules that need the whole dataset or the whole document in view.

* **Identical image sets**: two documents showing exactly the same pictures (by content
  hash) are usually the same gallery or product page under two URLs.
* **Frequent image URLs** (OBELICS): an image URL used by more than N documents is a logo,
  a button or an ad, not content. Counted once per document, over the documents that
  survive the document rules, so copies of one page do not inflate the count.
* **Perceptual duplicates within a document** (MMC4 removes them too): a thumbnail and
  its full-size version, or the same picture twice, add nothing; the later one goes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

from flamboyance.shards.phash import phash_distance


def image_set_digest(sha256s: Sequence[str | None], min_images: int) -> str | None:
    """A digest of the set of a document's image contents; None below ``min_images`` images."""
    distinct = sorted({digest for digest in sha256s if digest})
    if min_images < 1 or len(distinct) < min_images:
        return None
    return hashlib.sha256("\n".join(distinct).encode("ascii")).hexdigest()


def url_document_counts(image_urls: Sequence[Sequence[str]], records: Iterable[int]) -> Counter[str]:
    """In how many of ``records`` each image URL occurs (once per document)."""
    counts: Counter[str] = Counter()
    for record in records:
        counts.update(set(image_urls[record]))
    return counts


def phash_duplicates(phashes: Sequence[str | None], skip: set[int], max_distance: int) -> dict[int, int]:
    """``{image index: earlier index it repeats}`` within one document.

    An image is compared with the earlier images that are kept (not in ``skip`` and not
    themselves duplicates); images without a perceptual hash are never duplicates.
    """
    kept: list[int] = []
    duplicates: dict[int, int] = {}
    for index, value in enumerate(phashes):
        if index in skip or not value:
            continue
        match = next((earlier for earlier in kept if phash_distance(value, phashes[earlier]) <= max_distance), None)
        if match is None:
            kept.append(index)
        else:
            duplicates[index] = match
    return duplicates
