"""``flamboyance inspect``: read shards as a person would, documents as text with images marked.

Accepts a shard (``.tar``), a shard set folder, or a whole build output, local or remote.
With ``--dropped-by STEP`` it shows instead what a filter step dropped, from the sample of
drops the build keeps in ``OUTPUT/filters.json``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from flamboyance.filter.report.drops import drops, format_drop, matching_steps
from flamboyance.filter.report.funnel import load_build
from flamboyance.shards.inspect import iter_documents, print_document, resolve_shards

HELP = "print documents from shards as text with <image> markers, image sizes and URLs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a .tar shard, a shard set folder, or a build output folder")
    parser.add_argument("--limit", type=int, default=5, help="documents (or drops per step) to show (0: all)")
    parser.add_argument("--key", help="show only the document with this key")
    parser.add_argument("--width", type=int, default=100, help="wrap text at this width (0: no wrapping)")
    parser.add_argument("--dropped-by", metavar="STEP",
                        help="show sampled drops of a filter step of a build output (e.g. url/image_size, or image_size for all stages)")


def run(args: argparse.Namespace) -> int:
    if args.dropped_by:
        return print_dropped(args.path, args.dropped_by, sys.stdout, args.limit, args.width)
    shown = 0
    for document in iter_documents(resolve_shards(args.path)):
        if args.key and document.key != args.key:
            continue
        print_document(document, sys.stdout, args.width)
        shown += 1
        if args.limit and shown >= args.limit:
            break
    if not shown:
        print("no matching documents", file=sys.stderr)
        return 1
    return 0


def print_dropped(output: str, step_name: str, out: TextIO, limit: int = 5, width: int = 100) -> int:
    """Print the sampled drops of the steps matching ``step_name``; 1 when there are none."""
    try:
        _, report = load_build(output)
    except FileNotFoundError as error:
        print(f"flamboyance inspect: {error}", file=sys.stderr)
        return 1
    steps = matching_steps(report, step_name) if report is not None else []
    if not steps:
        known = ", ".join(report.steps) if report is not None else "none (the build ran without filters)"
        print(f"no filter step {step_name!r} in {output}; steps: {known}", file=sys.stderr)
        return 1
    for name in steps:
        stats = report[name]
        reasons = ", ".join(f"{reason} {count}" for reason, count in stats.dropped.most_common())
        sample = drops(report, name)[: limit or None]
        print(f"=== {name}: dropped {stats.inputs - stats.kept} of {stats.inputs} ({reasons or 'nothing'}); "
              f"{len(sample)} sampled drops", file=out)
        for drop in sample:
            print(format_drop(drop, width), file=out)
        print(file=out)
    return 0
