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
from collections import Counter
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
    for _ in range(40):  # blocks of colour: enough information for the pixel filter to keep it
        left, top = rng.randrange(300), rng.randrange(220)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (left, top, left + 20, top + 20))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def slow_image(payload: bytes):
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)  # long enough for overlapping requests to show
        return web.Response(body=payload, content_type="image/png")

    return handler


WORDS = ("the of and to with that have be river city market winter garden story people morning music house "
         "village harbour festival bridge painting kitchen school mountain letter train summer evening forest").split()


def prose(rng: random.Random) -> str:
    """A paragraph of varied sentences (what the Gopher rules keep, unlike one sentence repeated)."""
    sentences = (" ".join(rng.choice(WORDS) for _ in range(rng.randrange(8, 16))).capitalize() + "." for _ in range(6))
    return "<p>" + " ".join(sentences) + "</p>"


def image_server() -> LocalServer:
    """The ten images, served slowly enough for overlapping requests to show, and a robots.txt allowing all."""
    routes = {f"/img/{n}.png": slow_image(picture(n)) for n in range(IMAGES)}
    routes["/robots.txt"] = text("User-agent: *\nAllow: /\n", content_type="text/plain")
    return LocalServer(routes)


def write_units(folder: Path, server: LocalServer, varied: bool = False) -> tuple[list[str], set[str]]:
    """Four WARCs of three pages each; every page shows three of the ten images, so they repeat across units.

    ``varied``: paragraphs of varied prose (else one sentence repeated). Returns the WARCs
    and the paths of the images shown.
    """
    rng = random.Random(0)
    paths, shown_paths = [], set()
    for number in range(4):
        path = folder / f"part{number}.warc.gz"
        with WarcWriter(str(path)) as writer:
            for page in range(3):
                shown = rng.sample(range(IMAGES), 3)
                shown_paths.update(f"/img/{n}.png" for n in shown)
                paragraph = (lambda: prose(rng)) if varied else (lambda: PARAGRAPH)
                images = "".join(f'<img src="{server.url(f"/img/{n}.png")}" alt="picture {n}">' + paragraph() for n in shown)
                html = f"<html><head><title>P{number}-{page}</title></head><body><article><h1>Page {number}-{page}</h1>" \
                       f"{paragraph()}{images}</article></body></html>"
                writer.write_response(f"https://pages.example/{number}-{page}.html", 200,
                                      [("Content-Type", "text/html; charset=utf-8")], html.encode())
        paths.append(str(path))
    return paths, shown_paths


def test_one_fetcher_per_host_and_each_image_once(tmp_path, ray_local):
    with image_server() as server:
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
        assert not (staged / "work" / "images" / "pages").exists()  # the pages kept for the units are gone

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


def test_a_unit_after_the_image_stage_does_not_extract_again_and_counts_as_the_inline_path(tmp_path):
    """The stage keeps the pages it extracted: the unit runs with its WARC gone, and its
    marker (counters, filter report, shards) is the one a unit doing everything itself writes."""
    from flamboyance.crawl.collected_pages import load_pages
    from flamboyance.crawl.fetch import FetchSession
    from flamboyance.crawl.image_http import HttpImageSource
    from flamboyance.crawl.image_stage import collect_urls, fetch_partition, fetched_images
    from flamboyance.crawl.unit import run_unit
    from flamboyance.shards.stats import Stats

    with image_server() as server:
        warcs, _ = write_units(tmp_path, server, varied=True)
        config = BuildConfig(filters="m3w", fetch=FetchConfig(max_per_host=1, allow_private=True))
        unit = warc_units(warcs[:1], config.unit_bytes)[0]
        staged, inline = str(tmp_path / "staged"), str(tmp_path / "inline")
        assert collect_urls(unit, config, staged, 1) > 0
        fetch_partition(staged, 0, config, 1)
        hidden = tmp_path / "hidden.warc.gz"
        Path(warcs[0]).rename(hidden)  # were the unit to read its WARC again, it would fail
        staged_marker = run_unit(unit, config, staged, fetched_images(staged, 1), collected=load_pages(staged, unit.id))
        hidden.rename(warcs[0])
        with FetchSession(config.fetch, Stats()) as session:
            inline_marker = run_unit(unit, config, inline, HttpImageSource(session))

    def without_fetching(counts: dict) -> dict:
        return {name: count for name, count in counts.items() if not name.startswith("fetch/")}

    assert staged_marker["stats"]["pages/read"] == 3
    assert without_fetching(staged_marker["stats"]) == without_fetching(inline_marker["stats"])
    assert staged_marker["filters"] == inline_marker["filters"]
    assert staged_marker["shards"] == inline_marker["shards"]
    assert staged_marker["stats"]["documents/written"] > 0
    assert staged_marker["stats"]["filter/pixels/low_information/kept"] > 0  # images went through every step


def test_the_build_command_turns_the_stage_on_for_a_single_warc(tmp_path, ray_local):
    """``--image-stage on``: one WARC (one unit, below the automatic threshold) still gets the stage."""
    from flamboyance.cli import main

    with image_server() as server:
        warcs, _ = write_units(tmp_path, server)
        for flag, staged in (("on", True), ("off", False)):
            output = tmp_path / flag
            assert main(["build", "--warc", *warcs[:1], "--image-stage", flag, "--allow-private", "--set", "filters=null",
                         "--output", str(output), "--no-progress"]) == 0
            assert (output / "work" / "images" / "plan.json").exists() == staged, flag
        requested = [path for path in server.log if path.startswith("/img/")]
    assert requested and set(Counter(requested).values()) == {2}  # each distinct image URL once per build
    assert documents(tmp_path / "on").keys() == documents(tmp_path / "off").keys() and len(documents(tmp_path / "on")) == 3


def test_an_image_warc_that_can_only_be_read_whole_is_refused_in_one_line(wiki_site, tmp_path, capsys):
    """Replay reads images by record offset; a one-stream gzip WARC has none, so it is named up front."""
    import gzip

    from flamboyance.cli import main

    one_stream = tmp_path / "images-one-stream.warc.gz"
    one_stream.write_bytes(gzip.compress(gzip.decompress((wiki_site / "images.warc.gz").read_bytes())))
    code = main(["build", "--warc", str(wiki_site / "pages.warc.gz"), "--image-warc", str(one_stream),
                 "--output", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "images-one-stream.warc.gz is a gzip WARC compressed as one stream" in err and "warcio recompress" in err
    assert not (tmp_path / "out").exists()  # refused before the plan: the fixed command starts afresh
