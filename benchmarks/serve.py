"""``flamboyance serve`` under load: requests/s, p50 and p99 latency, with and without batching.

Two servers run the same models side by side on loopback: one batches concurrent
requests (``--max-batch 32``, 5 ms wait), the other runs them one at a time
(``--max-batch 1``), the peer here. For caption and zero-shot classify, at 1, 8 and 32
concurrent clients (each a keep-alive session sending one request after another),
each cell runs ``--rounds`` times on the batched server and the unbatched one in turn,
so load on the machine hits both alike; requests/s are over all rounds, p50/p99 over
all their requests. Prints a table and, per cell, batched / unbatched requests/s.

    python benchmarks/serve.py --workdir flamboyance-demo [--requests 96] [--rounds 3] [--clients 1 8 32]

The workdir holds the demo's models (``flamingo.yaml``, ``encoder/export/open_clip``):
``flamboyance demo`` writes them, and so does ``tests/serve_models.write_demo_models``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import requests
from PIL import Image, ImageDraw

from flamboyance.serve.command import wait_until_ready

LABELS = json.dumps(["circle", "square", "triangle", "star"])
USES = {"caption": ("/v1/caption", {}), "classify": ("/v1/classify", {"labels": LABELS})}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(workdir: str, max_batch: int, threads: int) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "flamboyance.cli", "serve", "--workdir", workdir, "--port", str(port), "--max-batch", str(max_batch),
               "--threads", str(threads), "--no-access-log"]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def images(count: int = 16) -> list[bytes]:
    """Distinct drawn pictures (different images, so no cache could help)."""
    out = []
    for number in range(count):
        picture = Image.new("RGB", (96, 96), (255 - 8 * number, 240, 230))
        ImageDraw.Draw(picture).ellipse((10 + number, 12, 80, 84 - number), fill=(200, 20 * (number % 12), 40))
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def load(url: str, use: str, clients: int, total: int, pictures: list[bytes]) -> tuple[list[float], float]:
    """``total`` requests from ``clients`` concurrent sessions: (latencies in s, wall seconds)."""
    path, data = USES[use]
    latencies: list[float] = []
    failures = []
    lock = threading.Lock()
    counter = iter(range(total))
    start = threading.Barrier(clients + 1)

    def client() -> None:
        session = requests.Session()
        start.wait()
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            began = time.perf_counter()
            response = session.post(f"{url}{path}", files={"image": ("q.jpg", pictures[number % len(pictures)])}, data=data, timeout=300)
            elapsed = time.perf_counter() - began
            with lock:
                (latencies if response.status_code == 200 else failures).append(elapsed if response.status_code == 200 else response.status_code)

    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{use} at {clients} clients: {len(failures)} failed requests, statuses {sorted(set(failures))}")
    return latencies, wall


def summary(runs: list[tuple[list[float], float]]) -> dict[str, float]:
    """Requests/s over all runs together, and latency percentiles (ms) of all their requests."""
    latencies = [latency for run, _ in runs for latency in run]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"rps": len(latencies) / sum(wall for _, wall in runs), "p50": 1000 * cuts[49], "p99": 1000 * cuts[98]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="flamboyance-demo")
    parser.add_argument("--requests", type=int, default=96, help="requests per cell (at least 3 per client)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each cell on the two servers")
    parser.add_argument("--max-batch", type=int, default=32, help="the batched server's batch size")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.workdir, "flamingo.yaml")):
        print(f"no demo models in {args.workdir}: run flamboyance demo (or tests/serve_models.write_demo_models) first", file=sys.stderr)
        return 2
    pictures = images()
    threads = max(args.clients) + 4
    with server(args.workdir, args.max_batch, threads) as batched, server(args.workdir, 1, threads) as unbatched:
        for url in (batched, unbatched):  # warm-up: first calls allocate
            for use in USES:
                load(url, use, 4, 8, pictures)
        for use in USES:
            for clients in args.clients:
                total = max(args.requests, 3 * clients)
                runs: dict[str, list] = {"batched": [], "unbatched": []}
                for _ in range(args.rounds):  # alternating, so both see the same machine load
                    for name, url in (("batched", batched), ("unbatched", unbatched)):
                        runs[name].append(load(url, use, clients, total, pictures))
                cell = {name: summary(parts) for name, parts in runs.items()}
                print(
                    f"{use:9s} clients {clients:3d}  batched {cell['batched']['rps']:7.1f} req/s p50 {cell['batched']['p50']:7.1f} ms "
                    f"p99 {cell['batched']['p99']:7.1f} ms | unbatched {cell['unbatched']['rps']:7.1f} req/s p50 {cell['unbatched']['p50']:7.1f} ms "
                    f"p99 {cell['unbatched']['p99']:7.1f} ms | batched/unbatched req/s {cell['batched']['rps'] / cell['unbatched']['rps']:.2f}",
                    flush=True,
                )
        batches = requests.get(f"{batched}/ready").json()["batches"]
    print("batched server's batches:", json.dumps({name: stats for name, stats in batches.items() if stats["batches"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
