"""``flamboyance export``: a build's interleaved documents as OBELICS parquet or MMC4 tars."""

from __future__ import annotations

import argparse

from flamboyance.shards.interop import FORMATS

HELP = "export interleaved documents as OBELICS parquet or MMC4 (OpenFlamingo) tars"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=FORMATS, help="layout to write")
    parser.add_argument("input", help="a build output, an interleaved shard set folder, or a .tar shard")
    parser.add_argument("output", help="folder for the exported files (local or s3://...)")
    parser.add_argument("--per-file", type=int, default=1000, help="documents per parquet file or tar")


def run(args: argparse.Namespace) -> int:
    from flamboyance.shards.interop import format_module
    from flamboyance.shards.interop.documents import read_built, write_stats
    from flamboyance.shards.stats import Stats

    stats = Stats()
    files = format_module(args.format).export(read_built(args.input, stats), args.output, stats, args.per_file)
    write_stats(args.output, stats)
    print(f"{stats.get('export/documents/written')} documents in {len(files)} {args.format} files under {args.output}")
    for name, count in stats.under("export/documents/dropped").items():
        print(f"  dropped/{name}: {count}")
    return 0 if stats.get("export/documents/written") else 1
