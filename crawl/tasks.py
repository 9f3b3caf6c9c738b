"""The Ray task that runs one unit, with its page and image sources.

Kept apart from ``crawl/unit.py`` so the unit logic stays plain Python that tests call
without Ray, while this module holds only what depends on running inside a task.
"""

from __future__ import annotations

from typing import Any

import ray

from flamboyance.crawl.collected_pages import load_pages, remove_pages
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.unit import run_unit
from flamboyance.crawl.units import Unit
from flamboyance.shards.stats import Stats


@ray.remote(num_cpus=1, max_retries=2)
def unit_task(
    unit: Unit, config: BuildConfig, output: str, image_index: Any | None, progress: Any, save_warc: str | None = None
) -> dict:
    """Run one unit in a Ray worker; documents written are reported to ``progress``.

    A WARC unit reads its byte range; a URL unit crawls its rows (``crawl/url_unit.py``),
    keeping what it fetched in ``save_warc`` if given.
    """
    stats = Stats()

    def report(documents: int) -> None:
        progress.add.remote(documents)

    if unit.kind == "urls":
        from flamboyance.crawl.url_unit import run_url_unit

        return run_url_unit(unit, config, output, stats, report, save_warc, image_index)
    if image_index is not None:  # replayed from --image-warc, or fetched by the image stage
        collected = load_pages(output, unit.id)  # the image stage's extraction, if it ran
        marker = run_unit(unit, config, output, image_index, stats=stats, progress=report, collected=collected)
        remove_pages(output, unit.id)
        return marker
    from flamboyance.crawl.fetch import FetchSession
    from flamboyance.crawl.image_http import HttpImageSource

    with FetchSession(config.fetch, stats) as session:
        return run_unit(unit, config, output, HttpImageSource(session), stats=stats, progress=report)
