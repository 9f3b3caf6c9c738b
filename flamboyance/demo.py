"""``flamboyance demo``: the whole pipeline on a generated sample, offline, on a CPU.

Each step is the real stage a user runs on real data, on a small synthetic site
(``crawl/sample.py``) written as WARC files: build (Ray, units, M3W filters, images
replayed from a WARC), dedup, the audit report, CLIP-style encoder pretraining, and
Flamingo training on top of that encoder. It ends with a few-shot test on drawings the
model never saw (``few-shot: accuracy A on N held-out queries (chance C)``), printed after
the same test with every image blanked, the control. Every step writes to its own folder
under ``--workdir`` and prints a line at least every 10 seconds; running the demo again
resumes, skipping finished work. What it trains is saved there for ``train``, ``eval``
and ``serve``.
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
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated site and of training")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from flamboyance.flamingo_model.demo import few_shot_line

    started = time.monotonic()
    steps = (sample_site, build_shards, deduplicate, audit_report, pretrain_encoder, train_flamingo)
    context: dict = {"args": args, "workdir": args.workdir}
    for number, step in enumerate(steps, 1):
        print(f"\n[{number}/{len(steps)}] {step.__doc__} ({time.monotonic() - started:.0f}s so far)", flush=True)
        if not step(context):
            return 1
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s; outputs in {args.workdir}")
    print(few_shot_line(context["flamingo"]))
    return 0


def sample_site(context: dict) -> bool:
    """Generate a small web site as WARC files (pages and images)."""
    from flamboyance.crawl.sample import write_sample_warcs

    folder = os.path.join(context["workdir"], "sample")
    pages, images = (os.path.join(folder, name) for name in ("pages.warc.gz", "images.warc.gz"))
    if os.path.exists(pages) and os.path.exists(images):
        print(f"reusing the sample in {folder}")
    else:
        pages, images, site = write_sample_warcs(folder, pages=context["args"].pages, seed=context["args"].seed)
        print(f"{len(site.pages)} pages and {len(site.images)} images in {folder}")
    context.update(pages=pages, images=images)
    return True


def build_shards(context: dict) -> bool:
    """Build interleaved and pair shards with M3W's filters (flamboyance build)."""
    from flamboyance.crawl.build import run_build
    from flamboyance.crawl.config import BuildConfig
    from flamboyance.crawl.summary import print_summary
    from flamboyance.crawl.units import warc_units
    from flamboyance.shards.inspect import iter_documents, print_document, resolve_shards

    pages, images = context["pages"], context["images"]
    # Units of a quarter of the WARC each, so Ray runs several tasks; small shards, so
    # even a small sample spans several.
    config = BuildConfig(filters="m3w", unit_bytes=max(1, os.path.getsize(pages) // 4))
    config.shards.max_samples = 16
    output = os.path.join(context["workdir"], "build")
    result = run_build(
        warc_units([pages], config.unit_bytes),
        output,
        config,
        inputs={"warc": [pages], "image_warc": [images]},
        image_warcs=[images],
        show_progress=not context["args"].no_progress,
    )
    print_summary(result)
    print("\nthe first document (flamboyance inspect):")
    print_document(next(iter_documents(resolve_shards(output))), sys.stdout)
    context["build"] = output
    return result.ok


def deduplicate(context: dict) -> bool:
    """Remove duplicates across the whole build (flamboyance dedup)."""
    from flamboyance.filter.dedup.command import print_summary
    from flamboyance.filter.dedup.config import DedupConfig
    from flamboyance.filter.dedup.stage import run_dedup

    output = os.path.join(context["workdir"], "dedup")
    result = run_dedup(context["build"], output, DedupConfig(), show_progress=not context["args"].no_progress)
    print_summary(result)
    context["data"] = output
    return result.ok


def audit_report(context: dict) -> bool:
    """Print the filter funnel and write the HTML audit report (flamboyance stats)."""
    from flamboyance.filter.report.funnel import format_funnel, funnel, load_build
    from flamboyance.filter.report.html import write_report

    stats, report = load_build(context["build"])
    print(format_funnel(funnel(stats, report)))
    print(f"report: {write_report(context['build'], stats, report)}")
    return True


def pretrain_encoder(context: dict) -> bool:
    """Pretrain a tiny CLIP-style encoder on the pairs (flamboyance pretrain-encoder)."""
    from flamboyance.pretrain_encoder.demo import run_demo_encoder

    metrics = run_demo_encoder(os.path.join(context["data"], "pairs"), context["workdir"], overrides=(f"seed={context['args'].seed}",))
    if "zero_shot/top1_ensemble" in metrics:
        accuracy, chance = metrics["zero_shot/top1_ensemble"], metrics["zero_shot/chance"]
        print(f"zero-shot accuracy on held-out drawings of 4 shapes: {accuracy:.1%} (chance {chance:.0%})")
    else:
        print("the encoder had finished training in an earlier run")
    context["encoder"] = os.path.join(context["workdir"], "encoder")
    return True


def train_flamingo(context: dict) -> bool:
    """Train Flamingo on the pair shards with the encoder frozen, then test it few-shot (flamboyance train, eval)."""
    from flamboyance.flamingo_model.demo import run_demo_flamingo

    data, tower = context["data"], os.path.join(context["encoder"], "export", "image_tower")
    context["flamingo"] = run_demo_flamingo(
        os.path.join(data, "interleaved"), os.path.join(data, "pairs"), tower, context["workdir"], seed=context["args"].seed
    )
    return True
