"""A URL crawl killed mid-way and run again: no page or image is fetched twice, nothing is lost.

The server counts the requests it *answered*. While the crawl runs, the test closes a
gate in the server once a first unit is finished, so later requests wait unanswered;
when every answer given has reached the units' fetch caches (their files stop growing),
it kills the whole build (driver, Ray and its workers, with SIGKILL). The requests waiting at the gate at
that moment never got an answer, so they are the only ones the run after may repeat,
and the gate is what makes the test deterministic. Fetched twice would mean answered
more often than an uninterrupted crawl of the same list answers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from fetch_servers import LocalServer, files
from test_crawl_build import assert_same_documents, documents


class Gate:
    """Answers requests with ``inner`` and logs them, or holds them while closed.

    A held request is never answered: its client is killed while it waits, and the
    server may not notice, so on reopening it is dropped, unlogged.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.answered: list[str] = []
        self.closed = False
        self.held = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/robots.txt":  # fetched once per run, by design
            return await self.inner(request)
        if self.closed:
            self.held += 1
            while self.closed:
                await asyncio.sleep(0.02)
            return web.Response(status=503)
        self.answered.append(request.path)
        return await self.inner(request)


def command(url_list: Path, output: Path) -> list[str]:
    # Three units of 30 rows: the kill lands between finished and unfinished ones.
    return [
        sys.executable, "-m", "flamboyance.cli", "build", "--urls", str(url_list), "--output", str(output),
        "--allow-private", "--set", "urls_per_unit=30", "--set", "page_batch=8", "--no-progress",
    ]  # fmt: skip


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (Ray's workers start their own process groups)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = [root]
    for pid in tree:
        tree.extend(child for child, parent in parents.items() if parent == pid)
    return tree


def kill_tree(root: int) -> None:
    for pid in process_tree(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def cache_sizes(output: Path) -> list[int]:
    return sorted(path.stat().st_size for path in (output / "fetch-cache").glob("*")) if output.exists() else []


@pytest.mark.slow
def test_a_killed_crawl_run_again_fetches_nothing_twice_and_loses_nothing(wiki_site, tmp_path):
    gate = Gate(files(wiki_site / "site"))
    with LocalServer({"/": gate}) as server:
        url_list = tmp_path / "pages.txt"
        names = sorted(page.name for page in (wiki_site / "site" / "A").iterdir())
        url_list.write_text("".join(server.url(f"/A/{quote(name)}") + "\n" for name in names))

        subprocess.run(command(url_list, tmp_path / "reference"), check=True, timeout=600)
        uninterrupted, gate.answered = Counter(gate.answered), []

        output = tmp_path / "interrupted"
        driver = subprocess.Popen(command(url_list, output), start_new_session=True)
        wait_for(lambda: driver.poll() is not None or any((output / "units").glob("*.json")))
        gate.closed = True
        assert driver.poll() is None, "the build finished before it could be interrupted"
        wait_for(lambda: gate.held > 0)  # the crawl is waiting for answers
        sizes: list[list[int]] = []
        wait_for(lambda: sizes.append(cache_sizes(output)) or sizes[-40:].count(sizes[-1]) == 40)  # 2 s unchanged
        kill_tree(driver.pid)  # the driver and every Ray process it started
        driver.wait()
        finished = len(list((output / "units").glob("*.json")))
        assert 0 < finished < 3 and gate.answered

        gate.closed = False
        rerun = subprocess.run(command(url_list, output), check=False, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        assert f"({finished} already done, 0 failed)" in rerun.stdout

    assert Counter(gate.answered) == uninterrupted
    assert_same_documents(documents(tmp_path / "reference"), documents(output))
