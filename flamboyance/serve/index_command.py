"""``flamboyance index SHARDS --output DIR``: embed the images of pair shards for ``/v1/search``.

Each pair sample (``KEY.jpg`` + ``KEY.txt``) becomes one row: the encoder's image
embedding, with the key, caption and shard as what a search returns. Samples that
cannot be read are counted by reason and skipped.
"""

from __future__ import annotations

import argparse
import os

from flamboyance.serve.paths import DEMO_ENCODER
from flamboyance.serve.search import EXACT_LIMIT

HELP = "embed the images of pair shards into a search index for flamboyance serve"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", help="pair shard files, globs, or folders of a build's pairs")
    parser.add_argument("--output", required=True, help="the index folder to write")
    parser.add_argument("--encoder", default=DEMO_ENCODER, help=f"an open_clip export folder (default: the demo's, {DEMO_ENCODER})")
    parser.add_argument("--exact-limit", type=int, default=EXACT_LIMIT, help="up to this many images, search is exact; above, HNSW (FAISS)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    parser.add_argument("--limit", type=int, default=None, help="index at most this many images")


def shard_urls(patterns: list[str]) -> list[str]:
    """Shards of the given files, globs and folders (a folder with a manifest in its order, else its *.tar)."""
    from flamboyance.shards import storage
    from flamboyance.shards.manifest import shard_paths

    urls: list[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            urls += shard_paths(pattern) if os.path.exists(os.path.join(pattern, "manifest.json")) else storage.expand([os.path.join(pattern, "*.tar")])
        else:
            urls += storage.expand([pattern])
    return urls


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from flamboyance.pretrain_encoder.export import load_open_clip
    from flamboyance.serve.models import embed_jpegs
    from flamboyance.serve.search import write_index
    from flamboyance.shards.loader.examples import pair_caption
    from flamboyance.shards.loader.reader import DropSample
    from flamboyance.shards.stats import Stats
    from flamboyance.shards.tar_samples import iter_samples

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, _, preprocess = load_open_clip(args.encoder, device)
    stats, items, parts, pending = Stats(), [], [], []

    def flush() -> None:
        try:
            parts.append(embed_jpegs(model, preprocess, [jpeg for jpeg, _ in pending], device).numpy())
            items.extend(item for _, item in pending)
        except OSError:  # an unreadable image in the batch: embed one by one, counting the bad ones
            for jpeg, item in pending:
                try:
                    parts.append(embed_jpegs(model, preprocess, [jpeg], device).numpy())
                    items.append(item)
                except OSError:
                    stats.add("index/dropped/bad_image")
        pending.clear()

    for url in shard_urls(args.shards):
        for sample in iter_samples(url, 0, stats):
            if args.limit is not None and len(items) + len(pending) >= args.limit:
                break
            try:
                pending.append((sample["jpg"], {"key": sample["__key__"], "caption": pair_caption(sample), "shard": os.path.basename(url)}))
            except (KeyError, DropSample, UnicodeDecodeError) as error:
                stats.add(f"index/dropped/{getattr(error, 'reason', type(error).__name__)}")
            if len(pending) == args.batch_size:
                flush()
    if pending:
        flush()
    if not items:
        raise FileNotFoundError("no pair samples (KEY.jpg + KEY.txt) to index in the given shards")
    description = write_index(args.output, np.concatenate(parts), items, args.exact_limit, os.path.abspath(args.encoder))
    dropped = stats.under("index/dropped")
    print(f"indexed {description['count']} images ({description['search']} search) in {args.output}; dropped: {dropped or 'none'}")
    return 0
