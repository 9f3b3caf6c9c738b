"""The dedup stage at scale: driver peak memory and documents per second, ours vs datatrove.

Generates N documents (in a child process, so generation does not count towards the
driver's memory) written twice: as a finished build (webdataset shards, unit markers:
what ``flamboyance dedup`` reads) and as JSONL (what datatrove reads). The texts are
Zipf-distributed words in paragraphs, with per-domain boilerplate, and duplicates of
the kinds crawls have: re-fetches of a URL, exact copies under other URLs, and near
copies with a few percent of the words changed.

Then, in one run, on the same documents and the same number of CPUs:

* ours: ``run_dedup`` (records, partitioned resolution on Ray, rewrite), all rules on;
* datatrove: its MinHash pipeline (signatures, buckets, clusters, filter), with the
  same 5-word shingles and 20 bands of 6 hashes, reading JSONL and writing JSONL.

    python benchmarks/dedup_scale.py --documents 100000 [--cpus 2] [--workdir /tmp/x] [--ours-only]

Prints ``dedup: N documents, driver peak RSS X MB, Y docs/s`` for each and the ratio.
The driver's RSS is its own peak (``ru_maxrss``): Ray's workers and datatrove's worker
processes are other processes. datatrove needs ``xxhash`` and ``orjson`` here
(benchmark-only dependencies: ``pip install "xxhash<4" orjson``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

DOCUMENTS_PER_UNIT = 10_000


def _words(rng: np.random.Generator, count: int) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 10, size=count)
    return sorted({"".join(rng.choice(letters, size=length)) for length in lengths})


def generate(folder: str, documents: int, seed: int = 0) -> dict[str, int]:
    """Write the build (``folder/build``) and the JSONL (``folder/jsonl``); return what was planted."""
    from flamboyance.filter.dedup.inputs import BUILD_MARKERS
    from flamboyance.shards import storage
    from flamboyance.shards.document import Document, TextNode
    from flamboyance.shards.executor import write_marker
    from flamboyance.shards.layout import document_key
    from flamboyance.shards.stats import Stats
    from flamboyance.shards.writer import DatasetWriter, ShardConfig

    class Unit:
        def __init__(self, unit_id: str) -> None:
            self.id = unit_id

        def to_json(self) -> dict:
            return {"id": self.id, "kind": "benchmark"}

    rng = np.random.default_rng(seed)
    vocabulary = np.array(_words(rng, 60_000))
    domains = [f"site{n}.example" for n in range(max(10, documents // 200))]
    boilerplate = {}
    planted = {"refetch": 0, "copy": 0, "near": 0}
    recent: list[tuple[str, list[str]]] = []
    build, jsonl = Path(folder) / "build", Path(folder) / "jsonl"
    jsonl.mkdir(parents=True, exist_ok=True)
    number = 0
    for unit_number in range((documents + DOCUMENTS_PER_UNIT - 1) // DOCUMENTS_PER_UNIT):
        unit = Unit(f"unit-{unit_number:05d}")
        stats = Stats()
        count = min(DOCUMENTS_PER_UNIT, documents - number)
        with DatasetWriter(str(build), unit.id, ShardConfig(), stats) as writer, open(jsonl / f"{unit.id}.jsonl", "w") as lines:
            for _ in range(count):
                draw = rng.random()
                site = domains[min(int(rng.zipf(1.3)) - 1, len(domains) - 1)]
                url, source = f"https://{site}/article/{number}", "crawl0"
                if draw < 0.03 and recent:
                    url, paragraphs = recent[int(rng.integers(len(recent)))]
                    source = f"crawl{number}"
                    planted["refetch"] += 1
                elif draw < 0.08 and recent:
                    paragraphs = list(recent[int(rng.integers(len(recent)))][1])
                    planted["copy"] += 1
                elif draw < 0.18 and recent:
                    paragraphs = []
                    for paragraph in recent[int(rng.integers(len(recent)))][1]:
                        words = paragraph.split()
                        for position in rng.integers(0, len(words), size=max(1, len(words) // 40)):
                            words[position] = str(vocabulary[int(rng.integers(len(vocabulary)))])
                        paragraphs.append(" ".join(words))
                    planted["near"] += 1
                else:
                    sizes = rng.integers(20, 80, size=int(rng.integers(3, 8)))
                    picks = np.minimum(rng.zipf(1.1, size=int(sizes.sum())) - 1, len(vocabulary) - 1)
                    bounds = np.cumsum(sizes)[:-1]
                    paragraphs = [" ".join(vocabulary[part]) for part in np.split(picks, bounds)]
                if site not in boilerplate:
                    boilerplate[site] = f"Subscribe to {site} for more stories like this one every week"
                if rng.random() < 0.5:
                    paragraphs = paragraphs + [boilerplate[site]]
                recent.append((url, paragraphs))
                if len(recent) > 2000:
                    recent.pop(int(rng.integers(len(recent))))
                date = f"20{int(rng.integers(19, 25))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}T00:00:00Z"
                key = document_key(url, source)
                writer.write(Document(key=key, url=url, nodes=[TextNode(p) for p in paragraphs], fetch_date=date), [])
                lines.write(json.dumps({"id": key, "text": "\n".join(paragraphs), "metadata": {"url": url}}) + "\n")
                number += 1
        write_marker(storage.join(str(build), BUILD_MARKERS), unit, stats, writer.shards())
    return planted


def run_ours(build: str, output: str, cpus: int) -> tuple[float, int, int]:
    """(seconds, documents written, driver peak RSS in KB) of ``run_dedup`` over the build."""
    import ray

    from flamboyance.filter.dedup.config import DedupConfig
    from flamboyance.filter.dedup.stage import run_dedup

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    started = time.perf_counter()
    result = run_dedup(build, output, DedupConfig(), show_progress=False)
    elapsed = time.perf_counter() - started
    ray.shutdown()
    if not result.ok:
        raise SystemExit(f"dedup failed: {result.failed}")
    return elapsed, result.stats.get("documents/written"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_datatrove(jsonl: str, work: str, cpus: int, queue: multiprocessing.Queue) -> None:
    """datatrove's MinHash dedup pipeline; puts (seconds, documents written, peak RSS in KB) on ``queue``."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    config = MinhashConfig(n_grams=5, num_buckets=20, hashes_per_bucket=6)
    files = len(list(Path(jsonl).glob("*.jsonl")))
    stages = [
        ([JsonlReader(jsonl, glob_pattern="*.jsonl"), MinhashDedupSignature(f"{work}/signatures", config=config)], files),
        ([MinhashDedupBuckets(f"{work}/signatures", f"{work}/buckets", config=config)], config.num_buckets),
        ([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove", config=config)], 1),
        ([JsonlReader(jsonl, glob_pattern="*.jsonl"), MinhashDedupFilter(f"{work}/remove"), JsonlWriter(f"{work}/out")], files),
    ]
    started = time.perf_counter()
    for number, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=cpus, logging_dir=f"{work}/logs/{number}").run()
    elapsed = time.perf_counter() - started
    written = sum(1 for path in Path(f"{work}/out").glob("*") for _ in __import__("gzip").open(path, "rt"))
    queue.put((elapsed, written, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--workdir", help="where the data goes (default: a temporary folder, removed at the end)")
    parser.add_argument("--ours-only", action="store_true", help="skip datatrove (a driver-memory point at a size the peer takes hours on)")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="dedup-scale-")
    context = multiprocessing.get_context("spawn")
    try:
        started = time.perf_counter()
        with context.Pool(1) as pool:
            planted = pool.apply(generate, (work, args.documents))
        print(f"generated {args.documents} documents in {time.perf_counter() - started:.0f} s "
              f"({planted['refetch']} re-fetches, {planted['copy']} copies, {planted['near']} near copies)")
        ours, written, rss = run_ours(f"{work}/build", f"{work}/ours", args.cpus)
        print(f"dedup: {args.documents} documents, driver peak RSS {rss / 1024:.0f} MB, {args.documents / ours:,.0f} docs/s "
              f"(ours: {written} kept, {ours:.0f} s)", flush=True)
        if args.ours_only:
            return
        queue = context.Queue()
        child = context.Process(target=run_datatrove, args=(f"{work}/jsonl", f"{work}/datatrove", args.cpus, queue))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"datatrove failed (exit code {child.exitcode})")
        theirs, their_written, their_rss = queue.get()
        print(f"dedup: {args.documents} documents, driver peak RSS {their_rss / 1024:.0f} MB, {args.documents / theirs:,.0f} docs/s "
              f"(datatrove MinHash: {their_written} kept, {theirs:.0f} s)")
        print(f"speed ratio ours/datatrove: {theirs / ours:.2f}x")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
