"""``flamboyance export``: a build's interleaved documents as OBELICS parquet or MMC4 tars."""

from __future__ import annotations

import argparse
from typing import Any

from flamboyance.shards.interop import FORMATS
from flamboyance.shards.interop.mmc4 import OPENFLAMINGO_MIN_BYTES

HELP = "export interleaved documents as OBELICS parquet or MMC4 (OpenFlamingo) tars"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=FORMATS, help="layout to write")
    parser.add_argument("input", help="a build output, an interleaved shard set folder, or a .tar shard")
    parser.add_argument("output", help="folder for the exported files (local or s3://...)")
    parser.add_argument("--per-file", type=int, default=1000, help="documents per parquet file or tar")
    parser.add_argument("--image-bytes", action="store_true", help="obelics: add an image_bytes column (OBELICS itself has URLs only)")
    parser.add_argument("--encoder", help="mmc4: an open_clip model folder (pretrain_encoder's export) for real image-sentence similarities")
    parser.add_argument(
        "--min-image-bytes",
        type=int,
        default=None,
        help=f"mmc4: drop documents with no image this large (default {OPENFLAMINGO_MIN_BYTES}, OpenFlamingo's floor; 0 keeps all)",
    )
    parser.add_argument(
        "--min-similarity",
        type=float,
        default=None,
        help="mmc4: also drop documents with no such image matched at this similarity (the --mmc4_textsim_threshold you train with)",
    )


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The format's own keyword arguments; a user error when an option does not belong to the format."""
    if args.format == "obelics":
        if args.encoder or args.min_image_bytes is not None or args.min_similarity is not None:
            raise ValueError("--encoder, --min-image-bytes and --min-similarity apply to --format mmc4")
        return {"image_bytes": args.image_bytes}
    if args.image_bytes:
        raise ValueError("--image-bytes applies to --format obelics")
    options: dict[str, Any] = {}
    if args.encoder:
        from flamboyance.shards.interop.similarity import clip_similarity

        options["similarity"] = clip_similarity(args.encoder)
    if args.min_image_bytes is not None:
        options["min_image_bytes"] = args.min_image_bytes
    if args.min_similarity is not None:
        options["min_similarity"] = args.min_similarity
    return options


def run(args: argparse.Namespace) -> int:
    from flamboyance.shards.interop import format_module
    from flamboyance.shards.interop.documents import read_built, write_stats
    from flamboyance.shards.stats import Stats

    try:
        options = _options(args)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}")
        return 2
    stats = Stats()
    files = format_module(args.format).export(read_built(args.input, stats), args.output, stats, args.per_file, **options)
    write_stats(args.output, stats)
    print(f"{stats.get('export/documents/written')} documents in {len(files)} {args.format} files under {args.output}")
    for name, count in stats.under("export/documents/dropped").items():
        print(f"  dropped/{name}: {count}")
    if stats.get("export/images/under_floor"):
        floor = options.get("min_image_bytes", OPENFLAMINGO_MIN_BYTES)
        print(f"  {stats.get('export/images/under_floor')} of {stats.get('export/images/written')} images under the {floor}-byte floor"
              f" (OpenFlamingo's: {OPENFLAMINGO_MIN_BYTES})")
    return 0 if stats.get("export/documents/written") else 1
