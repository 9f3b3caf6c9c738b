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
def unit_task(
    unit: Unit, config: BuildConfig, output: str, image_index: Any | None, progress: Any, save_warc: str | None = None
) -> dict:
    """Run one unit in a Ray worker; documents written are reported to ``progress``.

    A WARC unit reads its byte range; a URL unit crawls its rows (``crawl/url_unit.py``),
    keeping what it fetched in ``save_warc`` if given.
    """
    stats = Stats()
    report = lambda documents: progress.add.remote(documents)  # noqa: E731
    if unit.kind == "urls":
        from crawl.url_unit import run_url_unit

        return run_url_unit(unit, config, output, stats, report, save_warc, image_index)
    return run_unit(unit, config, output, image_source(config, image_index, stats), stats=stats, progress=report)
