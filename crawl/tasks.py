"""The Ray task that runs one unit, and how it finds its image source.

Kept apart from ``crawl/unit.py`` so the unit logic stays plain Python that tests call
without Ray, while this module holds only what depends on running inside a task.
"""

from __future__ import annotations

from typing import Any

import ray

from crawl.attach import ImageSource
from crawl.config import BuildConfig
from crawl.unit import run_unit
from crawl.units import Unit
from shards.stats import Stats


def image_source(config: BuildConfig, image_index: Any | None, stats: Stats) -> ImageSource:
    """Replay from the image WARC index when one was given, else download over HTTP."""
    if image_index is not None:
        return image_index
    from crawl.image_http import HttpImageSource

    return HttpImageSource(config.fetch, stats)


@ray.remote(num_cpus=1, max_retries=2)
def unit_task(unit: Unit, config: BuildConfig, output: str, image_index: Any | None, progress: Any) -> dict:
    """Run one unit in a Ray worker; documents written are reported to ``progress``."""
    stats = Stats()
    return run_unit(
        unit,
        config,
        output,
        image_source(config, image_index, stats),
        stats=stats,
        progress=lambda documents: progress.add.remote(documents),
    )
