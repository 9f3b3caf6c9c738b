"""``flamboyance serve``: the trained models behind an HTTP API, on waitress.

Why waitress: it is a production WSGI server in pure Python (no C build, runs wherever
the project runs) with a thread pool in one process. One process means the models load
once and every request thread shares them, which is what lets the batchers put
concurrent requests into one forward pass; gunicorn's forking workers would each load
a copy and could only batch within themselves. Waitress also buffers each request
before the app sees it and bounds its size, so a slow client holds no app thread.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from flamboyance.serve.inputs import Limits

HELP = "serve the trained Flamingo, encoder and index over HTTP (JSON API and a page to try it)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Limits()
    parser.add_argument("--workdir", default=".", help="where to look for the demo's models when none are given (default: here)")
    parser.add_argument("--flamingo", help="a Flamingo TrainConfig YAML (default: WORKDIR/flamingo.yaml)")
    parser.add_argument("--encoder", help="an open_clip export folder (default: WORKDIR/encoder/export/open_clip)")
    parser.add_argument("--index", help="an index folder from flamboyance index (default: WORKDIR/index)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=16, help="request threads (they share the models)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--max-batch", type=int, default=8, help="requests per forward pass (1: no batching)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a batch waits for more requests")
    parser.add_argument("--max-queue", type=int, default=256, help="queued requests per model call before answering 503")
    parser.add_argument("--api-key", default=os.environ.get("FLAMBOYANCE_API_KEY"),
                        help="require this key on /v1/ (header X-API-Key or Authorization: Bearer); default $FLAMBOYANCE_API_KEY")
    parser.add_argument("--allow-private-urls", action="store_true", help="let image_url reach private and loopback addresses")
    parser.add_argument("--max-image-bytes", type=int, default=defaults.max_image_bytes)
    parser.add_argument("--max-pixels", type=int, default=defaults.max_pixels, help="decompression-bomb bound, checked before decoding")
    parser.add_argument("--max-support", type=int, default=defaults.max_support, help="few-shot support examples per request")
    parser.add_argument("--max-text", type=int, default=defaults.max_text_chars, help="characters per text field")
    parser.add_argument("--no-access-log", action="store_true", help="no JSON access-log line per request on stderr")


def settings_from(args: argparse.Namespace) -> object:
    from flamboyance.serve.app import ServeSettings
    from flamboyance.serve.models import BatchSettings
    from flamboyance.serve.paths import ModelPaths

    paths = ModelPaths.in_folder(args.workdir, args.flamingo, args.encoder, args.index)
    if not paths.flamingo and not paths.encoder:
        raise FileNotFoundError(
            f"no models to serve: run in the demo's folder (flamingo.yaml, encoder/export/open_clip) or pass --flamingo/--encoder"
            f" (looked in {os.path.abspath(args.workdir)})"
        )
    limits = Limits(
        max_request_bytes=max(Limits().max_request_bytes, (args.max_support + 1) * args.max_image_bytes * 4 // 3 + (1 << 20)),
        max_image_bytes=args.max_image_bytes,
        max_pixels=args.max_pixels,
        max_support=args.max_support,
        max_text_chars=args.max_text,
    )
    batching = BatchSettings(max_batch=args.max_batch, max_wait=args.max_wait_ms / 1000, max_queue=args.max_queue)
    return ServeSettings(paths, limits, batching, args.api_key or None, args.allow_private_urls, args.device)


def run(args: argparse.Namespace) -> int:
    import waitress

    from flamboyance.serve.app import create_app

    settings = settings_from(args)
    access = logging.getLogger("flamboyance.serve.access")
    access.propagate = False
    if not args.no_access_log:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    app = create_app(settings)
    print(f"serving {settings.paths} on http://{args.host}:{args.port}/ (GET /ready says when the models are loaded)", file=sys.stderr)
    # waitress bounds the body too (its 413 is plain text): above Flask's own limit, which answers in JSON.
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, max_request_body_size=2 * settings.limits.max_request_bytes,
                   connection_limit=1000, ident="flamboyance")
    return 0


def wait_until_ready(url: str, process: subprocess.Popen, timeout: float = 300.0) -> None:
    """Block until the server at ``url`` (started as ``process``) answers ``/ready`` with 200.

    For scripts that start ``flamboyance serve`` and then send it work (tests, benchmarks).
    """
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} was not ready after {timeout:.0f}s")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while the models load
        time.sleep(0.3)
