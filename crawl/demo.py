"""``flamboyance demo``: the whole pipeline on a generated sample, offline, on a CPU.

Writes a small synthetic site (``crawl/sample.py``) as WARC files, builds shards from
them through the same code path as a real build (Ray, units, image replay from a WARC),
and shows what came out. Running it again resumes: finished steps are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HELP = "run the pipeline end to end on a generated sample (offline, CPU, minutes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default="flamboyance-demo", help="where the sample and outputs go")
    parser.add_argument("--pages", type=int, default=40, help="pages in the generated site")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from crawl.build import run_build
    from crawl.config import BuildConfig
    from crawl.sample import write_sample_warcs
    from crawl.summary import print_summary
    from crawl.units import warc_units
    from shards.inspect import iter_documents, print_document, resolve_shards

    started = time.monotonic()
    sample_dir = os.path.join(args.workdir, "sample")
    pages, images = (os.path.join(sample_dir, name) for name in ("pages.warc.gz", "images.warc.gz"))
    if os.path.exists(pages) and os.path.exists(images):
        print(f"[1/2] reusing the sample site in {sample_dir}")
    else:
        pages, images, site = write_sample_warcs(sample_dir, pages=args.pages)
        print(f"[1/2] generated a site of {len(site.pages)} pages and {len(site.images)} images as WARCs in {sample_dir}")

    output = os.path.join(args.workdir, "shards")
    # M3W's filters; units of a quarter of the WARC, so Ray runs several tasks; small
    # shards, so even a small sample spans several.
    config = BuildConfig(filters="m3w", unit_bytes=max(1, os.path.getsize(pages) // 4))
    config.shards.max_samples = 16
    result = run_build(
        warc_units([pages], config.unit_bytes),
        output,
        config,
        inputs={"warc": [pages], "image_warc": [images]},
        image_warcs=[images],
        show_progress=not args.no_progress,
    )
    print("[2/2] built shards")
    print_summary(result)
    if not result.ok:
        return 1
    print("\nfirst document (flamboyance inspect):")
    print_document(next(iter_documents(resolve_shards(output))), sys.stdout)
    print(f"demo finished in {time.monotonic() - started:.0f}s; outputs in {args.workdir}")
    return 0
