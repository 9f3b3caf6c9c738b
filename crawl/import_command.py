"""``flamboyance import``: OBELICS parquet or MMC4 data as our interleaved and pair shard sets."""

from __future__ import annotations

import argparse

from flamboyance.shards.interop import FORMATS

HELP = "import OBELICS parquet or MMC4 data as interleaved and pair shards (like a build's output)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=FORMATS, help="layout of the input")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="parquet files (obelics), .tar or .jsonl files (mmc4); globs and URLs")
    parser.add_argument("output", help="output folder: interleaved/ and pairs/ go under it")
    parser.add_argument("--fetch-images", action="store_true", help="download images given only as URLs (OBELICS publishes no bytes)")
    parser.add_argument("--image-size", type=int, default=320, help="shorter side of foreign images after normalisation")
    parser.add_argument("--shard-samples", type=int, default=1000, help="documents per shard")


def run(args: argparse.Namespace) -> int:
    from flamboyance.crawl.fetch import FetchConfig
    from flamboyance.crawl.images import ImageConfig
    from flamboyance.crawl.imports import write_imported
    from flamboyance.shards import storage
    from flamboyance.shards.interop import format_module
    from flamboyance.shards.stats import Stats

    stats = Stats()
    documents = format_module(args.format).read(storage.expand(args.inputs), stats)
    manifests = write_imported(
        documents,
        args.output,
        stats,
        images=ImageConfig(size=args.image_size),
        fetch=FetchConfig() if args.fetch_images else None,
        max_samples=args.shard_samples,
    )
    written = {name: manifest["samples"] for name, manifest in manifests.items()}
    print(f"imported into {args.output}: " + ", ".join(f"{count} {name}" for name, count in written.items()))
    for prefix in ("import/documents/dropped", "images/failed"):
        for name, count in stats.under(prefix).items():
            print(f"  {prefix}/{name}: {count}")
    return 0 if written["interleaved"] else 1
