"""``flamboyance serve`` as a real server on 127.0.0.1, on the demo's models (tests/serve_models.py).

Every endpoint answers; bad input gets a 4xx JSON error and leaves the server up; the
address guard refuses a private image URL before connecting; 200 concurrent requests
get no 5xx, are batched, and leave memory flat; the page works in headless Chromium.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest
import requests
from browser import chromium_path, open_page
from PIL import Image
from serve_models import write_demo_models

from flamboyance.serve.command import wait_until_ready
from flamboyance.shards.tar_samples import iter_samples

KEY = "test-key-123"
AUTH = {"X-API-Key": KEY}
MAX_PIXELS, MAX_TEXT, MAX_SUPPORT, MAX_IMAGE_BYTES = 4_000_000, 200, 2, 300_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_models(tmp_path_factory.mktemp("demo"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo: Path):
    """``flamboyance serve`` run in the demo's folder (its defaults), with an API key; (url, process, log path)."""
    port, log = free_port(), demo / "serve.log"
    command = [sys.executable, "-m", "flamboyance.cli", "serve", "--port", str(port), "--api-key", KEY, "--max-pixels", str(MAX_PIXELS),
               "--max-text", str(MAX_TEXT), "--max-support", str(MAX_SUPPORT), "--max-image-bytes", str(MAX_IMAGE_BYTES), "--max-wait-ms", "20"]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, cwd=demo, stderr=stderr, env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, timeout=180)
    except (RuntimeError, TimeoutError):
        process.kill()
        raise AssertionError(log.read_text()[-3000:]) from None
    yield url, process, log
    process.terminate()
    process.wait(timeout=30)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def indexed(demo: Path) -> list[dict]:
    """The pair samples the demo's index holds (key, jpg, txt)."""
    shards = sorted((demo / "data" / "pairs").glob("*.tar"))
    return [sample for shard in shards for sample in iter_samples(str(shard))]


def post(url: str, path: str, **kwargs) -> requests.Response:
    return requests.post(f"{url}{path}", headers=kwargs.pop("headers", AUTH), timeout=120, **kwargs)


def test_health_ready_and_the_openapi_document(server) -> None:
    url, _, _ = server
    assert requests.get(f"{url}/health").json() == {"status": "ok"}
    ready = requests.get(f"{url}/ready").json()
    assert ready["ready"] and ready["flamingo"].endswith("flamingo.yaml") and ready["encoder"].endswith(os.path.join("export", "open_clip"))
    assert ready["index"]["count"] == 40 and ready["index"]["search"] == "exact"
    spec = requests.get(f"{url}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    uses = {"caption", "ask", "classify", "embed", "search", "moderate"}
    assert {path for path in spec["paths"] if path.startswith("/v1/")} == {f"/v1/{use}" for use in uses}
    assert spec["paths"]["/v1/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["question"]["maxLength"] == MAX_TEXT


def test_caption_and_ask_with_and_without_support_examples(server, indexed) -> None:
    url, _, _ = server
    query, shot = indexed[0]["jpg"], indexed[1]
    caption = post(url, "/v1/caption", files={"image": ("q.jpg", query)})
    assert caption.status_code == 200 and isinstance(caption.json()["text"], str)
    few_shot = {"image": base64.b64encode(query).decode(), "support": [{"image": base64.b64encode(shot["jpg"]).decode(), "text": shot["txt"].decode()}],
                "max_new_tokens": 5, "num_beams": 2}
    assert isinstance(post(url, "/v1/caption", json=few_shot).json()["text"], str)
    form = {"question": "What shape is it?", "support_text": "A circle.", "support_question": "What is it?"}
    answer = post(url, "/v1/ask", data=form, files=[("image", ("q.jpg", query)), ("support_image", ("s.jpg", shot["jpg"]))])
    assert answer.status_code == 200 and isinstance(answer.json()["answer"], str)


def test_classify_zero_shot_and_by_flamingo_ranking(server, indexed) -> None:
    url, _, _ = server
    labels = ["circle", "square", "triangle", "star"]
    for mode in ("zero-shot", "flamingo"):
        result = post(url, "/v1/classify", files={"image": ("q.jpg", indexed[0]["jpg"])}, data={"labels": json.dumps(labels), "mode": mode}).json()
        assert result["mode"] == mode and sorted(result["labels"]) == sorted(labels)
        assert sum(result["scores"]) == pytest.approx(1.0, abs=1e-4) and result["scores"] == sorted(result["scores"], reverse=True)
    assert set(result["log_likelihoods"]) == set(labels) and all(value < 0 for value in result["log_likelihoods"].values())


def test_embed_search_and_moderate(server, indexed) -> None:
    url, _, _ = server
    image = post(url, "/v1/embed", files={"image": ("q.jpg", indexed[3]["jpg"])}).json()
    text = post(url, "/v1/embed", json={"text": "a red circle"}).json()
    for embedding in (image, text):
        assert embedding["dim"] == len(embedding["embedding"]) == 64
        assert sum(x * x for x in embedding["embedding"]) == pytest.approx(1.0, abs=1e-3)
    assert (image["kind"], text["kind"]) == ("image", "text")

    # An indexed image finds itself first: exact search over its own embedding.
    for sample in indexed[:5]:
        found = post(url, "/v1/search", json={"image": base64.b64encode(sample["jpg"]).decode(), "k": 3}).json()
        assert found["exact"] and found["query"] == "image" and len(found["results"]) == 3
        assert found["results"][0]["key"] == sample["__key__"] and found["results"][0]["caption"] == sample["txt"].decode()
        assert found["results"][0]["score"] == pytest.approx(1.0, abs=0.02)
    by_text = post(url, "/v1/search", json={"text": "A blue star.", "k": 40}).json()["results"]
    assert len(by_text) == 40 and [r["score"] for r in by_text] == sorted((r["score"] for r in by_text), reverse=True)

    verdict = post(url, "/v1/moderate", files={"image": ("q.jpg", indexed[0]["jpg"])}).json()
    assert sum(verdict["concepts"].values()) == pytest.approx(1.0, abs=1e-4)
    unsafe = [name for name in verdict["concepts"] if "nudity" in name or "gore" in name or "explicit" in name or "porn" in name or "violence" in name]
    assert verdict["unsafe"] == pytest.approx(sum(verdict["concepts"][name] for name in unsafe), abs=1e-6)
    assert verdict["decision"] == ("block" if verdict["unsafe"] > verdict["threshold"] else "allow")


class CountingListener:
    """A TCP port on 127.0.0.1 that counts the connections made to it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port, self.connections, self.running = self.socket.getsockname()[1], 0, True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.socket.accept()
                self.connections += 1
                connection.close()
            except TimeoutError:
                continue

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.socket.close()


def test_bad_inputs_get_4xx_json_and_the_server_stays_up(server) -> None:
    url, process, _ = server
    bomb = png(Image.new("1", (4000, 4000)))  # 16 M pixels in a few kB
    assert len(bomb) < MAX_IMAGE_BYTES
    listener = CountingListener()
    cases = {
        "not_an_image": dict(files={"image": ("x.jpg", b"this is text, not an image")}),
        "decompression_bomb": dict(files={"image": ("bomb.png", bomb)}),
        "too_large_bytes": dict(files={"image": ("big.png", b"\x89PNG\r\n\x1a\n" + os.urandom(MAX_IMAGE_BYTES))}),
        "empty_body": dict(data=b"", headers={**AUTH, "Content-Type": "application/json"}),
        "bad_json": dict(data=b"{not json", headers={**AUTH, "Content-Type": "application/json"}),
        "bad_base64": dict(json={"image": "***"}),
        "missing_image": dict(json={"max_new_tokens": 3}),
        "image_url_refused_address": dict(json={"image_url": f"http://127.0.0.1:{listener.port}/cat.jpg"}),
        "image_url_bad_scheme": dict(json={"image_url": "file:///etc/passwd"}),
        "out_of_range": dict(json={"image": base64.b64encode(png(Image.new("RGB", (8, 8)))).decode(), "num_beams": 99}),
    }
    try:
        for code, request in cases.items():
            response = post(url, "/v1/caption", **request)
            assert 400 <= response.status_code < 500 and response.json()["error"] == code, (code, response.text)
    finally:
        listener.close()
    assert listener.connections == 0  # refused before connecting

    small = base64.b64encode(png(Image.new("RGB", (8, 8)))).decode()
    more = {
        ("/v1/ask", "text_too_long"): dict(json={"image": small, "question": "why " * MAX_TEXT}),
        ("/v1/ask", "missing_field"): dict(json={"image": small}),
        ("/v1/caption", "too_many_support_examples"): dict(json={"image": small, "support": [{"image": small, "text": "a"}] * (MAX_SUPPORT + 1)}),
        ("/v1/classify", "bad_field"): dict(json={"image": small, "labels": "circle"}),
        ("/v1/classify", "out_of_range"): dict(json={"image": small, "labels": ["only one"]}),
        ("/v1/embed", "missing_field"): dict(json={"k": 3}),
        ("/v1/search", "out_of_range"): dict(json={"text": "a", "k": 0}),
        ("/v1/moderate", "unauthorized"): dict(json={"image": small}, headers={"X-API-Key": "wrong"}),
        ("/v1/embed", "unauthorized"): dict(json={"text": "a"}, headers={}),
        ("/v1/nothing", "not_found"): dict(json={}),
    }
    for (path, code), request in more.items():
        response = post(url, path, **request)
        assert 400 <= response.status_code < 500 and response.json()["error"] == code, (path, code, response.text)
    assert requests.get(f"{url}/v1/caption", headers=AUTH).json()["error"] == "method_not_allowed"
    assert process.poll() is None and requests.get(f"{url}/health").status_code == 200


def test_access_log_has_one_json_line_per_request(server) -> None:
    url, _, log = server
    response = post(url, "/v1/embed", json={"text": "a green triangle"})
    request_id = response.headers["X-Request-ID"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        mine = [entry for entry in entries if entry["request_id"] == request_id]
        if mine:
            break
        time.sleep(0.1)
    assert len(mine) == 1 and mine[0]["path"] == "/v1/embed" and mine[0]["status"] == 200 and mine[0]["ms"] > 0


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def burst(url: str, images: list[bytes], count: int = 200) -> list[int]:
    """``count`` requests at once, across the endpoints, each from its own thread."""
    rng = random.Random(count)
    labels = json.dumps(["circle", "square", "triangle", "star"])
    plans = [
        ("/v1/caption", {}), ("/v1/ask", {"question": "What colour is it?"}), ("/v1/classify", {"labels": labels}),
        ("/v1/classify", {"labels": labels, "mode": "flamingo"}), ("/v1/embed", {}), ("/v1/search", {"k": "3"}), ("/v1/moderate", {}),
    ]
    start = threading.Barrier(count)

    def one(number: int) -> int:
        path, data = plans[number % len(plans)]
        image = rng.choice(images)
        start.wait()
        return post(url, path, files={"image": ("q.jpg", image)}, data=data).status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.slow
def test_200_concurrent_requests_no_5xx_batched_and_memory_flat(server, indexed) -> None:
    url, process, _ = server
    images = [sample["jpg"] for sample in indexed]
    statuses = burst(url, images)
    assert set(statuses) == {200}
    after_first = rss_bytes(process.pid)
    for _ in range(2):
        statuses = burst(url, images)
        assert set(statuses) == {200}
    after_third = rss_bytes(process.pid)
    assert after_third - after_first < 48 << 20, f"RSS grew from {after_first >> 20} MiB to {after_third >> 20} MiB"
    batches = requests.get(f"{url}/ready").json()["batches"]
    # Concurrent requests shared forward passes, for every model call.
    assert all(batches[name]["largest"] > 1 for name in ("generate", "rank", "images", "texts")), batches
    assert batches["generate"]["items"] > batches["generate"]["batches"]


def test_the_page_tries_every_use_in_headless_chromium(server, indexed, tmp_path: Path) -> None:
    url, _, _ = server
    chromium = chromium_path()
    picture = tmp_path / "query.jpg"
    picture.write_bytes(indexed[0]["jpg"])

    async def drive() -> dict[str, tuple[str, str]]:
        shown = {}
        async with aiohttp.ClientSession() as session:
            process, page = await open_page(chromium, tmp_path / "profile", session)
            try:
                await page.call("Page.navigate", url=f"{url}/")
                await page.wait_for("document.readyState === 'complete' && document.getElementById('send') !== null")
                root = await page.call("DOM.getDocument")
                node = await page.call("DOM.querySelector", nodeId=root["root"]["nodeId"], selector="#image")
                await page.call("DOM.setFileInputFiles", files=[str(picture)], nodeId=node["nodeId"])
                await page.evaluate(f"document.getElementById('key').value = {json.dumps(KEY)}")
                for use, text in [("caption", ""), ("ask", "What is it?"), ("classify", "circle, square, star"),
                                  ("classify-flamingo", "circle, square"), ("embed", ""), ("search", ""), ("moderate", "")]:
                    await page.evaluate(
                        f"document.getElementById('endpoint').value = {json.dumps(use)};"
                        f"document.getElementById('text').value = {json.dumps(text)};"
                        "document.body.dataset.state = 'idle'; document.getElementById('send').click(); true"
                    )
                    await page.wait_for("document.body.dataset.state === 'done'")
                    shown[use] = await page.evaluate("[document.getElementById('answer').className, document.getElementById('answer').textContent]")
                await page.drain()
                errors = list(page.errors)
                await page.evaluate("console.error('probe'); true")  # the harness does see console errors
                await page.drain()
                assert any("probe" in error for error in page.errors)
            finally:
                process.kill()
                process.wait()
        assert errors == []
        return shown

    shown = asyncio.run(drive())
    assert all(kind == "" and text for kind, text in shown.values()), shown
    assert shown["classify"][1].startswith(("circle:", "square:", "star:")) and "%" in shown["classify"][1]
    assert "embedding of 64 numbers" in shown["embed"][1]
    assert shown["moderate"][1].split()[0] in ("allow", "block")
    assert indexed[0]["txt"].decode() in shown["search"][1]  # the image found itself
