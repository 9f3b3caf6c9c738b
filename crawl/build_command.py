"""``flamboyance build``: WARC files or a URL list to interleaved and pair shards."""

from __future__ import annotations

import argparse
import sys

HELP = "build interleaved-document and image-text-pair shards from WARC files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warc", nargs="+", default=[], metavar="PATH_OR_URL", help="WARC files: local paths, globs, s3:// or https:// URLs")
    parser.add_argument("--image-warc", nargs="+", default=[], metavar="PATH_OR_URL", help="WARCs holding the images, to replay them instead of downloading (offline builds)")
    parser.add_argument("--output", required=True, help="output folder (local or s3://...)")
    parser.add_argument("--config", help="YAML build config (see configs/build.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. images.size=224")
    parser.add_argument("--ray-address", help="Ray cluster address (default: start a local Ray)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from crawl.build import run_build
    from crawl.config import BuildConfig
    from crawl.summary import print_summary
    from crawl.units import warc_units
    from shards import config as config_io
    from shards import storage

    if not args.warc:
        print("flamboyance build: give --warc inputs", file=sys.stderr)
        return 2
    config = config_io.load(BuildConfig, args.config, args.set)
    warcs = storage.expand(args.warc)
    image_warcs = storage.expand(args.image_warc) if args.image_warc else []
    units = warc_units(warcs, config.unit_bytes)
    result = run_build(
        units,
        args.output,
        config,
        inputs={"warc": warcs, "image_warc": image_warcs},
        image_warcs=image_warcs,
        ray_address=args.ray_address,
        show_progress=not args.no_progress,
    )
    print_summary(result)
    return 0 if result.ok else 1
