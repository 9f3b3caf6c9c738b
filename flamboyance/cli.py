"""The ``flamboyance`` command: one subcommand per job, each defined next to its code.

A subcommand module provides ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status). Modules keep heavy imports (Ray, torch) inside
``run`` so that ``flamboyance --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

COMMANDS = {
    "build": "flamboyance.crawl.build_command",
    "dedup": "flamboyance.filter.dedup.command",
    "stats": "flamboyance.filter.stats_command",
    "inspect": "flamboyance.filter.inspect_command",
    "export": "flamboyance.shards.interop.export_command",
    "import": "flamboyance.crawl.import_command",
    "export-video-frames": "flamboyance.crawl.video",
    "pretrain-encoder": "flamboyance.pretrain_encoder.command",
    "train": "flamboyance.flamingo_model.train_command",
    "eval": "flamboyance.flamingo_model.eval_command",
    "demo": "flamboyance.demo",
    "serve": "flamboyance.serve.command",
    "index": "flamboyance.serve.index_command",
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="flamboyance", description="Web pages to Flamingo training data, and Flamingo training on it.")
    root.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return root


def quiet_third_parties(verbose: bool) -> None:
    """Keep normal runs' output to our own lines: libraries' deprecation notes and info logs only with -v."""
    if verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bars
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|transformers|open_clip|timm|webdataset)\b")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_third_parties(args.verbose)
    from flamboyance.shards.config import ConfigError
    from flamboyance.shards.executor import PlanMismatch, RayUnavailable

    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``flamboyance inspect ... | head``): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (FileNotFoundError, ConfigError, PlanMismatch) as error:
        # Mistakes in what the user asked for: say what is wrong, without a traceback.
        print(f"flamboyance {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RayUnavailable as error:
        print(f"flamboyance {args.command}: Ray: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
