"""``flamboyance dedup``: remove duplicates across a whole finished build."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from flamboyance.shards.config import add_arguments as config_arguments
from flamboyance.shards.executor import StageResult

HELP = "remove duplicate documents, paragraphs and images across a finished build"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="output folder of a finished `flamboyance build`")
    parser.add_argument("--output", required=True, help="new output folder (local or s3://...)")
    config_arguments(parser, "dedup settings (filter/dedup/config.py: DedupConfig)", "minhash.threshold=0.85")
    parser.add_argument("--ray-address", help="Ray cluster address (default: start a local Ray)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from flamboyance.filter.dedup.config import DedupConfig
    from flamboyance.filter.dedup.inputs import IncompleteBuild
    from flamboyance.filter.dedup.stage import run_dedup
    from flamboyance.shards import config as config_io
    from flamboyance.shards.executor import PlanMismatch

    try:
        config = config_io.load(DedupConfig, args.config, args.overrides)
        result = run_dedup(args.input, args.output, config, args.ray_address, show_progress=not args.no_progress)
    except (config_io.ConfigError, IncompleteBuild, PlanMismatch, ValueError) as error:
        print(f"flamboyance dedup: {error}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0 if result.ok else 1


def print_summary(result: StageResult, out: TextIO | None = None) -> None:
    """What went in, what came out, and what was dropped by which rule."""
    stats = result.stats
    lines = [
        f"dedup: {result.output}",
        f"  units: {result.units} ({result.skipped} already done, {len(result.failed)} failed)",
        f"  documents: {stats.get('documents/read')} read, {stats.get('documents/written')} written; "
        f"pairs: {stats.get('pairs/written')} written",
    ]
    for step in ("documents", "paragraphs", "images"):
        drops = stats.under(f"dedup/dedup_{step}/dropped")
        if drops:
            lines.append(f"  {step} dropped: " + ", ".join(f"{rule} {count}" for rule, count in drops.items()))
    for unit, error in result.failed.items():
        lines.append(f"  FAILED {unit}: {error}")
    if result.failed:
        lines.append("  run the same command again to retry the failed units")
    print("\n".join(lines), file=out or sys.stdout)
