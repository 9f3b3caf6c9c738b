"""Real HTTP servers on 127.0.0.1 for the fetcher's tests.

A ``LocalServer`` runs an aiohttp web application on its own event loop in a thread, so
synchronous tests (``fetch_all``) and async ones can both talk to it. It records the
path of every request it receives and the most requests it ever served at once, which is
how tests prove what the fetcher did and did not send.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import multiprocessing
import threading
from pathlib import Path
from typing import Awaitable, Callable, Iterator

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LocalServer:
    """Serve ``routes``: a key is an exact path, or a prefix when it ends with "/"
    (the longest prefix wins); other paths answer 404."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.log: list[str] = []
        self.active = 0
        self.max_active = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        return self.log.count(path)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.log.append(request.path_qs)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            handler = self.routes.get(request.path)
            if handler is None:
                prefixes = [key for key in self.routes if key.endswith("/") and request.path.startswith(key)]
                handler = self.routes[max(prefixes, key=len)] if prefixes else None
            if handler is None:
                return web.Response(status=404, text="not here")
            return await handler(request)
        finally:
            self.active -= 1

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._started.set()
        await self._stop.wait()
        await runner.cleanup()


def text(body: str, status: int = 200, content_type: str = "text/html", **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            status=status, body=body.encode(), headers={"Content-Type": content_type, **headers}
        )

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    return handler


def sequence(*handlers: Handler) -> Handler:
    """Answer the n-th request with the n-th handler (the last one from then on)."""
    calls = iter(handlers)
    last = [handlers[-1]]

    async def handler(request: web.Request) -> web.StreamResponse:
        last[0] = next(calls, last[0])
        return await last[0](request)

    return handler


def slow(seconds: float, body: str = "late") -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(seconds)
        return web.Response(text=body, content_type="text/html")

    return handler


def endless(content_type: str = "image/jpeg") -> Handler:
    """A body that never ends, without a Content-Length: only streaming limits stop it."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        chunk = b"\xff" * 65536
        while True:
            await response.write(chunk)

    return handler


def files(root: Path, prefix: str = "/") -> Handler:
    """Serve the files under ``root`` (a real site on disk, e.g. the wiki fixture)."""
    base = root.resolve()

    async def handler(request: web.Request) -> web.StreamResponse:
        path = (base / request.path[len(prefix) :]).resolve()
        if not path.is_file() or base not in path.parents:
            return web.Response(status=404)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return web.Response(body=path.read_bytes(), headers={"Content-Type": kind})

    return handler


def _serve_files_forever(root: str, ports: "multiprocessing.Queue[int]") -> None:
    with LocalServer({"/": files(Path(root))}) as server:
        ports.put(server.port)
        threading.Event().wait()


@contextlib.contextmanager
def file_server_process(root: Path) -> Iterator[str]:
    """Serve ``root`` from a separate process (so a benchmark does not share the
    client's CPU and GIL with the server); yields the base URL."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=_serve_files_forever, args=(str(root), ports), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=30)}"
    finally:
        process.terminate()
        process.join(10)
