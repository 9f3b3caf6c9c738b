"""Headless Chromium driven over the DevTools protocol: fill a page's form, click, read the result.

``--dump-dom`` (tests/test_stats_report.py) renders a page but cannot choose a file for
an ``<input type=file>``; the DevTools protocol can (``DOM.setFileInputFiles``), and its
events report every console error and uncaught exception. Everything stays on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--remote-debugging-port=0", "--remote-allow-origins=*")


def chromium_path() -> str:
    """Chromium's executable; skipped when absent, except in CI (CI=true) where that fails."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    message = "chromium is not installed (Debian: apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class Page:
    """One browser tab: ``call`` sends a DevTools command; console errors collect in ``errors``."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket, self.errors, self.next_id = socket, [], 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        number = self.next_id
        await self.socket.send_json({"id": number, "method": method, "params": params})
        while True:
            message = json.loads((await self.socket.receive(timeout=60)).data)
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        self.events.append(message)
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(params["entry"].get("text", ""))

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{expression} stayed false for {timeout}s")

    async def drain(self) -> None:
        """Read the events that arrived since the last command (console messages logged late)."""
        while True:
            try:
                message = await self.socket.receive(timeout=0.3)
            except asyncio.TimeoutError:
                return
            self._event(json.loads(message.data))


async def open_page(chromium: str, profile: Path, session: aiohttp.ClientSession) -> tuple[subprocess.Popen, Page]:
    """Start Chromium and attach to its first tab (caller closes the process)."""
    profile.mkdir(parents=True, exist_ok=True)
    log = profile / "stderr.log"
    with open(log, "w") as stderr:  # a file, not a pipe: a full pipe would stall the browser
        process = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"], stderr=stderr)
    endpoint, deadline = None, time.monotonic() + 60
    while endpoint is None and time.monotonic() < deadline and process.poll() is None:
        if found := re.search(r"DevTools listening on (ws://\S+)", log.read_text()):
            endpoint = found.group(1)
        else:
            await asyncio.sleep(0.1)
    if endpoint is None:
        process.kill()
        raise RuntimeError(f"chromium did not start its DevTools endpoint: {log.read_text()[-2000:]}")
    port = re.search(r":(\d+)/", endpoint).group(1)
    async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
        targets = [target for target in await response.json() if target["type"] == "page"]
    page = Page(await session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0))
    for domain in ("Runtime", "Log", "Page", "DOM"):
        await page.call(f"{domain}.enable")
    return process, page
