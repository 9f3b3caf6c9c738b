"""The image stage of a WARC build: one fetcher per host across the build, each URL fetched once.

Four WARC units whose pages share images on one host (a real aiohttp server on
127.0.0.1 that records every request and the most it ever served at once), with a
per-host limit of 1: the server never sees two requests at once, robots.txt is asked
for once, every distinct image URL exactly once, and the documents come out with the
images the inline path (each unit fetching its own) attaches.
"""

from __future__ import annotations

import asyncio
import io
import random
from pathlib import Path

from aiohttp import web
from build_checks import documents
from fetch_servers import LocalServer, text
from PIL import Image

from flamboyance.crawl.build import run_build
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.fetch import FetchConfig
from flamboyance.crawl.units import warc_units
from flamboyance.crawl.warc_writer import WarcWriter

PARAGRAPH = "<p>" + "This paragraph of ordinary prose is long enough to count as article text. " * 4 + "</p>"
IMAGES = 10


def picture(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (320, 240), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(200):
        image.putpixel((rng.randrange(320), rng.randrange(240)), tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def slow_image(payload: bytes):
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)  # long enough for overlapping requests to show
        return web.Response(body=payload, content_type="image/png")

    return handler


def write_units(folder: Path, server: LocalServer) -> tuple[list[str], set[str]]:
    """Four WARCs of three pages each; every page shows three of the ten images, so they repeat across units.

    Returns the WARCs and the paths of the images shown.
    """
    rng = random.Random(0)
    paths, shown_paths = [], set()
    for number in range(4):
        path = folder / f"part{number}.warc.gz"
        with WarcWriter(str(path)) as writer:
            for page in range(3):
                shown = rng.sample(range(IMAGES), 3)
                shown_paths.update(f"/img/{n}.png" for n in shown)
                images = "".join(f'<img src="{server.url(f"/img/{n}.png")}" alt="picture {n}">' + PARAGRAPH for n in shown)
                html = f"<html><head><title>P{number}-{page}</title></head><body><article><h1>Page {number}-{page}</h1>" \
                       f"{PARAGRAPH}{images}</article></body></html>"
                writer.write_response(f"https://pages.example/{number}-{page}.html", 200,
                                      [("Content-Type", "text/html; charset=utf-8")], html.encode())
        paths.append(str(path))
    return paths, shown_paths


def test_one_fetcher_per_host_and_each_image_once(tmp_path, ray_local):
    routes = {f"/img/{n}.png": slow_image(picture(n)) for n in range(IMAGES)}
    routes["/robots.txt"] = text("User-agent: *\nAllow: /\n", content_type="text/plain")
    with LocalServer(routes) as server:
        warcs, shown = write_units(tmp_path, server)
        config = BuildConfig(filters=None, fetch=FetchConfig(max_per_host=1, allow_private=True))
        units = warc_units(warcs, config.unit_bytes)
        assert len(units) == 4
        staged = tmp_path / "staged"
        result = run_build(units, str(staged), config, {"warc": warcs}, show_progress=False, image_stage=True)
        assert result.ok, result.failed
        assert server.max_active == 1
        assert server.hits("/robots.txt") == 1
        requested = [path for path in server.log if path.startswith("/img/")]
        assert sorted(requested) == sorted(shown)  # each distinct image URL exactly once
        assert 36 > len(shown) > 4  # while pages show 36 images in all, in four units
        assert result.stats.get("fetch/image/ok") == len(requested)

        inline = tmp_path / "inline"
        assert run_build(units, str(inline), config, {"warc": warcs}, show_progress=False, image_stage=False).ok
    staged_documents, inline_documents = documents(staged), documents(inline)
    assert len(staged_documents) == 12
    assert {key: [(n.url, n.sha256) for n in d.images()] for key, (d, _) in staged_documents.items()} == \
           {key: [(n.url, n.sha256) for n in d.images()] for key, (d, _) in inline_documents.items()}
    assert sum(len(d.images()) for d, _ in staged_documents.values()) == 36


def test_a_partitioned_index_answers_what_the_single_index_answers(wiki_site, tmp_path):
    from flamboyance.crawl.image_index import PartitionedImages, index_warc
    from flamboyance.crawl.image_replay import build_index
    from flamboyance.crawl.warc import iter_records

    paths = [str(wiki_site / "images.warc.gz"), str(wiki_site / "pages.warc.gz")]
    urls = [record.target_uri for path in paths for record in iter_records(path, record_types=("response",))]
    urls += [url + "?missing" for url in urls[:5]]
    for number, path in enumerate(paths):
        index_warc(path, number, str(tmp_path / "index"), 7)
    partitioned = PartitionedImages(str(tmp_path / "index"), paths, 7)
    assert partitioned.get_many(urls) == build_index(paths).get_many(urls)
    assert len(partitioned) == len(build_index(paths))
