"""Loader speed: Flamingo examples per second per worker vs bare tar iteration, and where time goes.

Shards are built the way the build writes them (``shards.layout.interleaved_sample``)
from real data: the 181 article texts of ../shared/data/article-extraction-benchmark,
split into paragraphs with a real wiki-ray-charles JPEG after every second paragraph
(up to 6 per document). One process, no DataLoader workers, so the numbers are per
worker; a run with N workers scales up to N cores.

    python benchmarks/loader.py [--repeat 3] [--tokens 256] [--images 5] [--size 224]
"""

from __future__ import annotations

import argparse
import json
import random
import tarfile
import tempfile
import time
from pathlib import Path

import torch
import webdataset

from flamboyance.flamingo_model.examples import FlamingoExamples
from flamboyance.flamingo_model.tokens import FlamingoTokenizer, TokenConfig, train_tokenizer
from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.layout import interleaved_sample, read_interleaved
from flamboyance.shards.loader.examples import collate
from flamboyance.shards.loader.reader import LoaderConfig, ShardLoader
from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig
from flamboyance.shards.tar_samples import iter_samples

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def build_shards(folder: Path, shards: int = 4) -> tuple[list[str], list[str]]:
    """Write the benchmark shards; returns their paths and the article texts."""
    articles = json.loads((DATA / "article-extraction-benchmark" / "ground-truth.json").read_text())
    texts = [entry["articleBody"] for entry in articles.values() if entry["articleBody"].strip()]
    photos = [path.read_bytes() for path in sorted((DATA / "wiki-ray-charles" / "site" / "I" / "m").glob("*.jpg"))]
    writers = [webdataset.TarWriter(str(folder / f"bench-{n:03d}.tar")) for n in range(shards)]
    for number, text in enumerate(texts):
        nodes, images = [], []
        for paragraph_number, paragraph in enumerate(p for p in text.split("\n") if p.strip()):
            nodes.append(TextNode(paragraph))
            if paragraph_number % 2 == 1 and len(images) < 6:
                nodes.append(ImageNode(url=f"https://example.org/{number}/{len(images)}.jpg", index=len(images)))
                images.append(photos[(number * 7 + len(images)) % len(photos)])
        document = Document(key=f"doc{number:04d}", url=f"https://example.org/{number}", nodes=nodes)
        writers[number % shards].write(interleaved_sample(document, images))
    for writer in writers:
        writer.close()
    return [str(folder / f"bench-{n:03d}.tar") for n in range(shards)], texts


def bare_tarfile(paths: list[str]) -> int:
    """The floor: every member of every shard read with the tarfile module, nothing else."""
    samples, key = 0, None
    for path in paths:
        with tarfile.open(path) as archive:
            for member in archive:
                stem = member.name.split(".", 1)[0]
                archive.extractfile(member).read()
                if stem != key:
                    samples, key = samples + 1, stem
    return samples


def raw_key(sample: dict, rng: random.Random) -> str:
    """No decoding at all: what the loader's splitting, shuffling and batching cost alone."""
    return sample["__key__"]


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a DataLoader worker

    with tempfile.TemporaryDirectory() as folder:
        paths, texts = build_shards(Path(folder))
        tokenizer = FlamingoTokenizer(train_tokenizer(texts, vocab_size=8000), TokenConfig(args.tokens, args.images))
        transform = ImageTransform(ImageTransformConfig(size=args.size))
        examples = FlamingoExamples(tokenizer, transform)
        config = LoaderConfig(batch_size=8, num_workers=0, shuffle_buffer=64)

        floor, bare, ours = [], [], []
        for _ in range(args.repeat):  # interleaved, so all see the same machine load
            seconds, count = timed(bare_tarfile, paths)
            floor.append(count / seconds)
            keys = ShardLoader(paths, raw_key, list, config)
            seconds, batches = timed(list, keys)
            bare.append(len(batches) * config.batch_size / seconds)
            loader = ShardLoader(paths, examples, collate, config)
            seconds, batches = timed(list, loader)
            ours.append(len(batches) * config.batch_size / seconds)

        # Where the time goes: each stage alone over the same samples.
        raw_seconds, raw = timed(lambda: [s for p in paths for s in iter_samples(p)])
        parse_seconds, parsed = timed(lambda: [read_interleaved(s) for s in raw])
        rng = random.Random(0)
        token_seconds, tokens = timed(lambda: [tokenizer.encode(doc, rng) for doc, _ in parsed])
        chosen = [payloads[n] for (_, payloads), t in zip(parsed, tokens) for n in t.images]
        image_seconds, _ = timed(lambda: [transform(payload) for payload in chosen])
        example_seconds, made = timed(lambda: [examples(s, random.Random(n)) for n, s in enumerate(raw)])
        collate_seconds, _ = timed(lambda: [collate(made[i : i + 8]) for i in range(0, len(made) - 7, 8)])

    best_floor, best_ours = max(floor), max(ours)
    print(f"shards: {len(paths)}, documents: {len(raw)}, images decoded: {len(chosen)} "
          f"({len(chosen) / len(raw):.2f} per example), window {args.tokens} tokens, {args.images} images, {args.size} px")
    print(f"bare tarfile iteration (floor): {best_floor:10.1f} samples/s")
    print(f"ShardLoader, raw samples      : {max(bare):10.1f} samples/s  (ratio to floor {max(bare) / best_floor:.3f})")
    print(f"ShardLoader Flamingo examples : {best_ours:10.1f} examples/s per worker")
    print(f"ratio examples / floor        : {best_ours / best_floor:10.4f}")
    total = raw_seconds + parse_seconds + token_seconds + image_seconds + collate_seconds
    print("where the time goes (ms per example):")
    for name, seconds in [
        ("tar read (iter_samples)", raw_seconds),
        ("json -> Document", parse_seconds),
        ("render + tokenize + window", token_seconds),
        ("image decode + transform", image_seconds),
        ("collate", collate_seconds),
    ]:
        print(f"  {name:28s} {1000 * seconds / len(raw):7.3f}  {100 * seconds / total:5.1f}%")
    print(f"  sample function end to end   {1000 * example_seconds / len(raw):7.3f}")


if __name__ == "__main__":
    main()
