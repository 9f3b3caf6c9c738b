"""``flamboyance stats OUTPUT``: how much each filter step removed, and an HTML report to judge it.

Reads the build's merged ``stats.json`` and ``filters.json`` (nothing is recomputed, so
it is instant on any build size, local or remote), prints the funnel and writes
``OUTPUT/report.html`` (see ``filter/report/``).
"""

from __future__ import annotations

import argparse
import sys

HELP = "print a build's funnel (documents, images, words per filter step) and write an HTML report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", help="the output folder of a build (local or s3://...)")
    parser.add_argument("--html", help="where to write the HTML report (default: OUTPUT/report.html)")
    parser.add_argument("--no-html", action="store_true", help="only print the funnel")


def run(args: argparse.Namespace) -> int:
    from flamboyance.filter.report.funnel import format_funnel, funnel, load_build
    from flamboyance.filter.report.html import write_report
    from flamboyance.filter.report.warnings import heavy_drops, stored_share

    try:
        stats, report = load_build(args.output)
    except FileNotFoundError as error:
        print(f"flamboyance stats: {error}", file=sys.stderr)
        return 2
    print(format_funnel(funnel(stats, report)))
    for line in heavy_drops(report, stored_share(args.output)):
        print(line)
    if report is None:
        print("(this build ran without filters: no per-step numbers)")
    if not args.no_html:
        print(f"report: {write_report(args.output, stats, report, args.html)}")
    return 0
