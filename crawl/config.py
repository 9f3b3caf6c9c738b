"""Settings of a dataset build (``flamboyance build --config FILE``).

Each section belongs to the module that uses it (image normalisation, fetching); this
file only gathers them, with the defaults a user gets when no config file is given.
See ``configs/build.yaml`` for an annotated example.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flamboyance.crawl.fetch import FetchConfig
from flamboyance.crawl.images import ImageConfig
from flamboyance.filter.report.warnings import WARNING_SHARE
from flamboyance.shards.writer import ShardConfig


@dataclass
class BuildConfig:
    images: ImageConfig = field(default_factory=ImageConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    shards: ShardConfig = field(default_factory=ShardConfig)
    # WARC files larger than this are split into byte-range units, one Ray task each.
    unit_bytes: int = 1024 * 1024 * 1024
    # URL lists are cut into units of this many rows.
    urls_per_unit: int = 10_000
    # Pages whose images are fetched together: larger batches keep more downloads in
    # flight at once, smaller ones bound the memory a task holds.
    page_batch: int = 64
    # HTML beyond this size is truncated before parsing, so one huge page cannot stall a task.
    max_html_bytes: int = 5 * 1024 * 1024
    # A filter preset name ("m3w", "obelics") or a path to a filter config; None keeps all.
    # M3W by default, so that default shards are ready for Flamingo: no image below 64 px,
    # none with a URL ban word, text through the Gopher rules (filter/preset_configs/m3w.yaml).
    filters: str | None = "m3w"
    # The summary and the report warn about any filter step that drops more than this
    # share of what reaches it, naming the step and the scores behind its drops.
    filter_warning_share: float = WARNING_SHARE
