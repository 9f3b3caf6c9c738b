"""Images per second, ours against img2dataset; and pages per second of the URL crawler.

Both image pipelines do the same work on the same URL list, with the same number of
processes and concurrent downloads per process: download from one local server,
decode, resize so the shorter side is 320 px (keeping the ratio, never enlarging),
re-encode as JPEG quality 90, hash, and write webdataset shards. Ours is the build's
image path (``crawl.fetch.fetch_all`` + ``crawl.images.process_image`` +
``shards.writer.ShardWriter``); img2dataset runs from its own virtualenv, since its
pinned dependencies conflict with ours:

    python -m venv /tmp/i2d && /tmp/i2d/bin/pip install img2dataset
    python benchmarks/images.py --img2dataset-python /tmp/i2d/bin/python

The server (another process, so it does not share the clients' interpreter) serves
the 211 real wiki images under many prefixes, so every URL is distinct and nothing is
cached on either side. The pages benchmark crawls the 85 wiki articles, repeated under
many prefixes, through a URL unit's fetch cache and extraction (``crawl/url_unit.py``),
in one process. Both figures depend on the machine: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "wiki-ray-charles" / "site"
I2D_ENV = "IMG2DATASET_PYTHON"


def serve(root: str, ports: multiprocessing.Queue[int]) -> None:
    """Serve ``/<copy>/<path under root>`` from memory, for any copy number."""
    import asyncio
    import mimetypes

    from aiohttp import web

    files = {
        str(path.relative_to(root)): (path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        for path in Path(root).rglob("*")
        if path.is_file()
    }

    async def handler(request: web.Request) -> web.Response:
        found = files.get(request.match_info["path"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{copy}/{path:.+}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def urls(base: str, folder: str, count: int) -> list[str]:
    """``count`` distinct URLs of the files in ``folder``, under as many prefixes as needed."""
    from urllib.parse import quote

    names = sorted(path.name for path in (SHARED / folder).iterdir())
    return [f"{base}/{n // len(names)}/{folder}/{quote(names[n % len(names)])}" for n in range(count)]


def ours_worker(part: list[str], threads: int, folder: str, index: int) -> None:
    from flamboyance.crawl.fetch import FetchConfig, fetch_all
    from flamboyance.crawl.images import ImageConfig, ImageError, process_image
    from flamboyance.shards.writer import ShardWriter

    config = FetchConfig(allow_private=True, max_concurrency=threads, max_per_host=threads, retries=0)
    images = ImageConfig(size=320, resize_mode="keep_ratio", jpeg_quality=90)
    with ShardWriter(folder, f"part{index}", max_samples=10_000) as writer:
        for number, result in enumerate(fetch_all(part, "image", config)):
            if not result.ok or result.body is None:
                continue
            try:
                image = process_image(result.body, images)
            except ImageError:
                continue
            writer.write({"__key__": f"{index}_{number}", "jpg": image.jpeg, "txt": result.url})


def run_ours(image_urls: list[str], processes: int, threads: int, folder: str) -> float:
    context = multiprocessing.get_context("spawn")
    parts = [image_urls[i::processes] for i in range(processes)]
    started = time.perf_counter()
    workers = [context.Process(target=ours_worker, args=(part, threads, folder, i)) for i, part in enumerate(parts)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"a worker failed with exit code {worker.exitcode}")
    return time.perf_counter() - started


def run_img2dataset(python: str, image_urls: list[str], processes: int, threads: int, folder: str) -> float:
    url_list = os.path.join(folder, "urls.txt")
    Path(url_list).write_text("\n".join(image_urls) + "\n")
    command = [
        str(Path(python).parent / "img2dataset"), "--url_list", url_list, "--input_format", "txt",
        "--output_folder", os.path.join(folder, "out"), "--output_format", "webdataset",
        "--image_size", "320", "--resize_mode", "keep_ratio", "--resize_only_if_bigger", "True",
        "--encode_quality", "90", "--processes_count", str(processes), "--thread_count", str(threads),
        "--number_sample_per_shard", "10000", "--distributor", "multiprocessing", "--retries", "0",
    ]  # fmt: skip
    started = time.perf_counter()
    environment = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    subprocess.run(command, check=True, cwd=folder, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def count_samples(folder: str) -> int:
    import tarfile

    names = set()
    for path in Path(folder).rglob("*.tar"):
        with tarfile.open(path) as tar:
            names.update(member.name.split(".", 1)[0] for member in tar if member.name.endswith(".jpg"))
    return len(names)


def run_pages(base: str, count: int) -> tuple[float, int]:
    """Seconds to crawl ``count`` pages into documents in one process, and documents made."""
    from flamboyance.crawl.config import BuildConfig
    from flamboyance.crawl.fetch import FetchConfig, FetchSession
    from flamboyance.crawl.fetch_cache import FetchCache
    from flamboyance.crawl.units import Unit
    from flamboyance.crawl.url_unit import url_documents
    from flamboyance.shards.stats import Stats

    with tempfile.TemporaryDirectory() as folder:
        url_list = os.path.join(folder, "pages.txt")
        Path(url_list).write_text("\n".join(urls(base, "A", count)) + "\n")
        config = BuildConfig(fetch=FetchConfig(allow_private=True, max_per_host=64, retries=0), page_batch=256)
        stats = Stats()
        started = time.perf_counter()
        with FetchSession(config.fetch, stats) as session, FetchCache(folder, "pages", session) as cache:
            made = sum(1 for _ in url_documents(Unit("pages", "urls", url_list, 0, count), config, cache, stats))
        return time.perf_counter() - started, made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4000, help="image URLs to fetch (the 211 images repeated)")
    parser.add_argument("--pages", type=int, default=850, help="page URLs to crawl (the 85 articles repeated)")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=64, help="concurrent downloads per process")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternated; the best counts")
    parser.add_argument("--img2dataset-python", default=os.environ.get(I2D_ENV), help=f"python of img2dataset's virtualenv (or ${I2D_ENV})")
    args = parser.parse_args()
    if not SHARED.exists():
        print(f"real data not found at {SHARED}", file=sys.stderr)
        return 2
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    server = context.Process(target=serve, args=(str(SHARED), ports), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{ports.get(timeout=60)}"
        image_urls = urls(base, "I/m", args.images)
        print(f"{len(image_urls)} image URLs, {args.processes} process(es) x {args.threads} concurrent downloads")
        ours, theirs = [], []
        for _ in range(args.repeat):  # alternated, so a busy machine slows both alike
            with tempfile.TemporaryDirectory() as folder:
                seconds = run_ours(image_urls, args.processes, args.threads, folder)
                ours.append(count_samples(folder) / seconds)
                print(f"ours:        {ours[-1]:7.1f} images/s ({count_samples(folder)} images in {seconds:.1f}s)")
            if args.img2dataset_python:
                with tempfile.TemporaryDirectory() as folder:
                    seconds = run_img2dataset(args.img2dataset_python, image_urls, args.processes, args.threads, folder)
                    theirs.append(count_samples(folder) / seconds)
                    print(f"img2dataset: {theirs[-1]:7.1f} images/s ({count_samples(folder)} images in {seconds:.1f}s)")
        if theirs:
            print(f"ratio ours / img2dataset (best of {args.repeat} each): {max(ours) / max(theirs):.2f}x")
        else:
            print(
                f"img2dataset skipped: set ${I2D_ENV} or --img2dataset-python, after\n"
                "  python -m venv /tmp/i2d && /tmp/i2d/bin/pip install img2dataset"
            )
        seconds, made = run_pages(base, args.pages)
        print(f"pages:       {args.pages / seconds:7.1f} pages/s fetched and extracted ({made} documents in {seconds:.1f}s)")
    finally:
        server.terminate()
        server.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
