"""Settings of ``flamboyance dedup`` (``--config FILE``, ``--set key=value``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flamboyance.filter.dedup.minhash import MinHashConfig
from flamboyance.shards.writer import ShardConfig


@dataclass
class DedupConfig:
    """Which rules run, and their thresholds. Document rules run in the order listed."""

    # Same URL (fragment ignored): the most recently fetched page is kept.
    url: bool = True
    # Same text after lower-casing and collapsing white space.
    text: bool = True
    # Same set of images (by content) in documents with at least this many images;
    # 0 turns the rule off. One shared photo is common among distinct articles, so 2.
    image_set_min_images: int = 2
    # Word-shingle MinHash near-duplicates, verified on their exact Jaccard similarity.
    near: bool = True
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    # Paragraphs already seen in a kept document of the same domain are removed (OBELICS).
    paragraphs: bool = True
    # Images used by more documents than this are dropped (OBELICS: 10); None: off.
    max_image_url_documents: int | None = 10
    # An image within this Hamming distance (of 64 bits) of an earlier image of the same
    # document is dropped; None: off.
    phash_max_distance: int | None = 4
    shards: ShardConfig = field(default_factory=ShardConfig)
    # Documents sketched together in a task: larger batches vectorise better.
    batch_documents: int = 512
    # Hash partitions of the resolution phase (one reduce task each); 0: one per input
    # unit, at most 256. Decisions do not depend on it.
    partitions: int = 0
