"""Shared fixtures: where the real data lives, how its absence is reported, and the network tripwire.

The real web pages in ``../shared/data`` sit beside the project root. Tests that need
them skip with a reason when the folder is missing, except where
``FLAMBOYANCE_REQUIRE_SHARED=1`` (set in CI), where a missing folder is a failure.

Tests talk to loopback only. The autouse ``network_tripwire`` makes any connection from
the test process to another address fail before a packet is sent, and fails the test
even if the code under test catches the error (a crawler counts failed fetches): the
address-guard tests hand the crawler private addresses, and a regression in the guard
must never reach the network.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def _shared(subpath: str) -> Path:
    path = SHARED_DATA / subpath
    if not path.exists():
        message = f"real data not found at {path} (see ../shared/data/README.md)"
        if os.environ.get("FLAMBOYANCE_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


class NonLoopbackConnection(ConnectionRefusedError):
    """Raised by the tripwire instead of connecting to an address outside the loopback range."""


def is_loopback(address: object) -> bool:
    """Whether a socket address (an (host, port, ...) tuple, or a Unix path) stays on this machine."""
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths and abstract sockets
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False  # a name the socket would resolve itself: not allowed
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


@pytest.fixture(autouse=True)
def network_tripwire(monkeypatch):
    """Refuse, and record, every connect() from this process to a non-loopback address."""
    attempts: list[object] = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(original):
        def call(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
                attempts.append(address)
                raise NonLoopbackConnection(f"test tripwire: connection to {address!r} refused (tests use loopback only)")
            return original(self, address)

        return call

    monkeypatch.setattr(socket.socket, "connect", guarded(connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
    yield attempts
    if attempts:
        pytest.fail(f"the test tried to connect to non-loopback addresses: {attempts}")


@pytest.fixture(scope="session")
def wiki_site() -> Path:
    """../shared/data/wiki-ray-charles: 85 Wikipedia pages, their images, and WARCs of both."""
    return _shared("wiki-ray-charles")


@pytest.fixture(scope="session")
def article_benchmark() -> Path:
    """../shared/data/article-extraction-benchmark: 181 pages with hand-made article bodies."""
    return _shared("article-extraction-benchmark")


@pytest.fixture(scope="session")
def readability_pages() -> Path:
    """../shared/data/readability-test-pages: 130 pages with Readability's curated article and images."""
    return _shared("readability-test-pages")


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance for the tests that run builds in-process."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


class StaticSite:
    """A real HTTP server on 127.0.0.1 serving a folder, counting the requests it answers."""

    def __init__(self, root: Path) -> None:
        import functools
        import http.server
        import threading

        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                site.requests.append(self.path)
                super().do_GET()

        self.requests: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def static_site():
    """Start a static file server for a folder: ``site = static_site(path)``; stopped after the test."""
    sites: list[StaticSite] = []

    def start(root: Path) -> StaticSite:
        sites.append(StaticSite(root))
        return sites[-1]

    yield start
    for site in sites:
        site.close()


@pytest.fixture
def s3_server(monkeypatch):
    """A real S3 API (moto's server) on 127.0.0.1, with this process's AWS settings pointed at it.

    Yields the environment variables a subprocess needs to reach it too.
    """
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield env
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
