"""``flamboyance build``: WARC files or a URL list to interleaved and pair shards."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flamboyance.shards.config import add_arguments as config_arguments
from flamboyance.shards.stats import Stats

if TYPE_CHECKING:
    from flamboyance.crawl.config import BuildConfig
    from flamboyance.shards.executor import StageResult

HELP = "build interleaved-document and image-text-pair shards from WARC files or URL lists"
IMAGE_STAGE = {"auto": None, "on": True, "off": False}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warc", nargs="+", default=[], metavar="PATH_OR_URL", help="WARC files: local paths, globs, s3:// or https:// URLs")
    parser.add_argument("--urls", nargs="+", default=[], metavar="FILE",
                        help="URL lists to crawl: .txt, .jsonl or .parquet, one URL per row, other columns kept as metadata")
    parser.add_argument("--save-warc", metavar="DIR",
                        help="keep every page and image response crawled from --urls in WARC files here (one per unit)")
    parser.add_argument("--allow-private", action="store_true",
                        help="let the crawler fetch from private and local addresses (tests, intranets); same as --set fetch.allow_private=true")
    parser.add_argument("--image-warc", nargs="+", default=[], metavar="PATH_OR_URL",
                        help="WARCs holding the images, to replay them instead of downloading (offline builds)")
    parser.add_argument("--image-stage", choices=sorted(IMAGE_STAGE), default="auto",
                        help="fetch the images of WARC pages in a stage of their own: each distinct URL once, one fetcher "
                             "per host for the whole cluster (auto: when the build has many WARC units)")
    parser.add_argument("--output", required=True, help="output folder (local or s3://...)")
    config_arguments(parser, "build settings (see configs/build.yaml)", "images.size=224")
    parser.add_argument("--ray-address", help="Ray cluster address (default: start a local Ray)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from flamboyance.crawl.summary import print_summary

    if not args.warc and not args.urls:
        print("flamboyance build: give --warc inputs or --urls lists", file=sys.stderr)
        return 2
    overrides = [*args.overrides, "fetch.allow_private=true"] if args.allow_private else args.overrides
    result = build(
        args.output,
        warc=args.warc,
        urls=args.urls,
        image_warc=args.image_warc,
        config=args.config,
        overrides=overrides,
        ray_address=args.ray_address,
        show_progress=not args.no_progress,
        save_warc=args.save_warc,
        image_stage=IMAGE_STAGE[args.image_stage],
    )
    print_summary(result)
    if args.urls:
        print_host_failures(result.stats)
    return 0 if result.ok else 1


def build(
    output: str,
    warc: Sequence[str] = (),
    urls: Sequence[str] = (),
    image_warc: Sequence[str] = (),
    config: str | BuildConfig | None = None,
    overrides: Sequence[str] = (),
    ray_address: str | None = None,
    show_progress: bool = True,
    save_warc: str | None = None,
    image_stage: bool | None = None,
) -> StageResult:
    """Build WARC files and/or URL lists (paths, globs or URLs) into interleaved and pair shards on Ray.

    What ``flamboyance build`` and ``flamboyance.build`` run. Resumable: called again with
    the same arguments, finished units are skipped. ``result.stats`` counts every page,
    record and image, kept or dropped by reason. ``image_stage``: fetch the images of
    WARC pages once per URL and host before the units run (None: when there are many WARC units).
    """
    from flamboyance.crawl.build import run_build
    from flamboyance.crawl.config import BuildConfig
    from flamboyance.crawl.fetch_cache import remove_caches
    from flamboyance.crawl.units import url_units, warc_units
    from flamboyance.crawl.url_list import count_rows
    from flamboyance.shards import config as config_io
    from flamboyance.shards import storage

    if not isinstance(config, BuildConfig):
        config = config_io.load(BuildConfig, config, overrides)
    warcs = storage.expand(list(warc)) if warc else []
    url_lists = storage.expand(list(urls)) if urls else []
    image_warcs = storage.expand(list(image_warc)) if image_warc else []
    units = warc_units(warcs, config.unit_bytes)
    for path in url_lists:
        units += url_units(path, count_rows(path), config.urls_per_unit)
    inputs: dict[str, Any] = {"warc": warcs, "image_warc": image_warcs}
    if url_lists:
        inputs.update(urls=url_lists, save_warc=save_warc)
    result = run_build(units, output, config, inputs=inputs, image_warcs=image_warcs, ray_address=ray_address,
                       show_progress=show_progress, save_warc=save_warc, image_stage=image_stage)
    remove_caches(output, result.markers)
    return result


def print_host_failures(stats: Stats, top: int = 10) -> None:
    """The hosts that failed most, with their reasons (``hosts/<host>/<reason>`` counters)."""
    failures: dict[str, dict[str, int]] = {}
    for name, count in stats.under("hosts").items():
        host, _, reason = name.rpartition("/")
        if reason != "ok":
            failures.setdefault(host, {})[reason] = count
    worst = sorted(failures.items(), key=lambda item: -sum(item[1].values()))[:top]
    for host, reasons in worst:
        print(f"  fetch failures at {host}: " + ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items())))
