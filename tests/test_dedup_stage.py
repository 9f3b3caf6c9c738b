"""``run_dedup`` end to end on a small build made of real article texts.

The build is written the way ``flamboyance build`` writes one (shards through
ShardWriter, a completion marker per unit, a plan), with duplicates of every kind the
dedup stage removes planted in it, spread over three units.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import sys
from pathlib import Path

import pytest
import webdataset
from PIL import Image, ImageDraw

from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.inputs import IncompleteBuild
from flamboyance.filter.dedup.stage import run_dedup
from flamboyance.shards import storage
from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.executor import PlanMismatch
from flamboyance.shards.layout import INTERLEAVED, PAIRS, document_key, interleaved_sample, pair_samples, read_interleaved
from flamboyance.shards.manifest import read_manifest, shard_paths, write_manifest
from flamboyance.shards.phash import phash
from flamboyance.shards.writer import ShardWriter

FOOTER = "Subscribe to our newsletter to get the best stories of the week in your inbox."
NEWS = "https://news.example"
BLOG = "https://blog.example"


def picture(seed: int, size: int = 96) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    pen = ImageDraw.Draw(image)
    for _ in range(6):
        box = sorted(rng.randrange(size) for _ in range(2)), sorted(rng.randrange(size) for _ in range(2))
        pen.rectangle([box[0][0], box[1][0], box[0][1], box[1][1]], fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def image_node(url: str, payload: bytes, caption: str) -> ImageNode:
    decoded = Image.open(io.BytesIO(payload))
    return ImageNode(url=url, caption=caption, sha256=hashlib.sha256(payload).hexdigest(), phash=phash(decoded),
                     width=decoded.width, height=decoded.height)


def page(url: str, date: str, paragraphs: list[str], images: list[tuple[str, bytes]] = ()) -> tuple[Document, list[bytes]]:
    nodes: list = [TextNode(text) for text in paragraphs]
    payloads = []
    for position, (image_url, payload) in enumerate(images):
        node = image_node(image_url, payload, f"Picture {position} of {url}")
        node.index = position
        nodes.insert(1 + position, node)
        payloads.append(payload)
    return Document(key=document_key(url, "test"), url=url, nodes=nodes, fetch_date=date), payloads


def write_build(folder: Path, units: dict[str, list[tuple[Document, list[bytes]]]]) -> None:
    """A finished build: per unit, interleaved and pair shards and a marker; a plan listing the units."""
    for unit_id, documents in units.items():
        interleaved = ShardWriter(str(folder / INTERLEAVED), unit_id, max_samples=3)
        pairs = ShardWriter(str(folder / PAIRS), unit_id, max_samples=3)
        with interleaved, pairs:
            for document, images in documents:
                interleaved.write(interleaved_sample(document, images))
                for sample in pair_samples(document, images):
                    pairs.write(sample)
        storage.write_json(str(folder / "units" / f"{unit_id}.json"), {
            "unit": {"id": unit_id, "kind": "warc", "path": f"{unit_id}.warc.gz", "start": 0, "end": None},
            "stats": {"documents/written": len(documents)},
            "shards": {INTERLEAVED: [dict(s.to_json(), unit=unit_id) for s in interleaved.shards],
                       PAIRS: [dict(s.to_json(), unit=unit_id) for s in pairs.shards]},
        })
    storage.write_json(str(folder / "plan.json"), {"units": [{"id": unit_id} for unit_id in units]})
    for shard_set in (INTERLEAVED, PAIRS):
        markers = [storage.read_json(str(path)) for path in sorted((folder / "units").iterdir())]
        write_manifest(str(folder / shard_set), [shard for marker in markers for shard in marker["shards"][shard_set]])


def edited(text: str, rate: float, seed: int) -> str:
    """The text with about ``rate`` of its words replaced."""
    rng = random.Random(seed)
    words = text.split()
    return " ".join("edited" if rng.random() < rate else word for word in words)


@pytest.fixture(scope="module")
def articles(article_benchmark) -> list[list[str]]:
    """Real article bodies as paragraphs, long ones first (stable order)."""
    truth = json.loads((article_benchmark / "ground-truth.json").read_text())
    bodies = [truth[name]["articleBody"] for name in sorted(truth)]
    split = [[p.strip() for p in body.split("\n") if len(p.strip()) > 40] for body in bodies]
    return [paragraphs for paragraphs in split if 8 <= len(paragraphs) <= 30 and len(" ".join(paragraphs).split()) > 300]


@pytest.fixture(scope="module")
def planted(articles, tmp_path_factory) -> dict:
    """A build with one case of every duplicate kind; returns its folder and the expected outcome."""
    a, b, c, d, e, f, g, h = articles[:8]
    logo = ("https://cdn.example/logo.png", jpeg(picture(1)))
    photo_1, photo_2 = jpeg(picture(2)), jpeg(picture(3))
    photo_1_again = jpeg(picture(2).resize((80, 80)), quality=70)  # same picture, re-encoded smaller
    gallery = [("https://news.example/g1.jpg", photo_1), ("https://news.example/g2.jpg", photo_2)]
    docs = {
        "url_old": page(f"{NEWS}/a", "2020-01-01T00:00:00Z", a + [FOOTER], [logo]),
        "url_new": page(f"{NEWS}/a#comments", "2021-01-01T00:00:00Z", a[:-1] + [FOOTER], [logo]),
        "text_1": page(f"{NEWS}/b1", "2020-05-01T00:00:00Z", b + [FOOTER], [logo]),
        "text_2": page(f"{NEWS}/b2", "2020-05-01T00:00:00Z", [p.upper() + "  " for p in b] + [FOOTER.lower()]),
        "near_1": page(f"{NEWS}/c1", "2020-03-01T00:00:00Z", c + [FOOTER], [logo]),
        "near_2": page(f"{NEWS}/c2", "2020-02-01T00:00:00Z", [edited(p, 0.01, seed) for seed, p in enumerate(c)] + [FOOTER]),
        "gallery_1": page(f"{NEWS}/d", "2020-04-01T00:00:00Z", d + [FOOTER], gallery),
        "gallery_2": page(f"{NEWS}/e", "2020-04-02T00:00:00Z", e, list(reversed(gallery))),
        "phash": page(f"{BLOG}/f", "2019-01-01T00:00:00Z", f + [FOOTER],
                      [("https://blog.example/f1.jpg", photo_1), ("https://blog.example/f1-small.jpg", photo_1_again),
                       logo]),
        "plain": page(f"{BLOG}/g", "2019-02-01T00:00:00Z", g + [FOOTER], [("https://blog.example/g.jpg", photo_2)]),
        "only_repeats": page(f"{BLOG}/h", "2018-01-01T00:00:00Z", [FOOTER, g[0]]),
        "unique": page(f"{BLOG}/i", "2018-06-01T00:00:00Z", h),
    }
    units = {
        "unit-a": [docs[name] for name in ("url_old", "text_1", "near_1", "gallery_1")],
        "unit-b": [docs[name] for name in ("url_new", "text_2", "near_2", "phash")],
        "unit-c": [docs[name] for name in ("gallery_2", "plain", "only_repeats", "unique")],
    }
    folder = tmp_path_factory.mktemp("dedup") / "build"
    write_build(folder, units)
    keys = {name: document[0].key for name, document in docs.items()}
    text_survivor = min(keys["text_1"], keys["text_2"])
    return {
        "build": folder,
        "keys": keys,
        "documents": {name: document for name, (document, _) in docs.items()},
        "dropped": {
            "url_old": ("url", "url_new"),
            ("text_2" if text_survivor == keys["text_1"] else "text_1"): ("text", "text_1" if text_survivor == keys["text_1"] else "text_2"),
            "near_2": ("near", "near_1"),
            "gallery_1": ("image_set", "gallery_2"),
            "only_repeats": ("paragraphs_repeated", None),
        },
    }


def dedup(planted, output: Path):
    # The logo is on 4 kept documents; in this small build, more than 3 is "too many".
    config = DedupConfig(max_image_url_documents=3)
    return run_dedup(str(planted["build"]), str(output), config, show_progress=False)


def read_output(output: Path) -> dict[str, tuple[Document, list]]:
    samples = webdataset.WebDataset(shard_paths(str(output / INTERLEAVED)), shardshuffle=False).decode("pil")
    return {document.key: (document, images) for document, images in map(read_interleaved, samples)}


@pytest.fixture(scope="module")
def deduplicated(planted, tmp_path_factory, ray_local):
    output = tmp_path_factory.mktemp("dedup") / "out"
    result = dedup(planted, output)
    assert result.ok, result.failed
    return output, result


def test_each_kind_of_duplicate_is_dropped_and_the_right_copy_kept(planted, deduplicated):
    output, result = deduplicated
    keys = planted["keys"]
    kept = read_output(output)
    expected = {keys[name] for name in keys} - {keys[name] for name in planted["dropped"]}
    assert set(kept) == expected
    assert result.stats.get("documents/read") == 12
    assert result.stats.get("documents/written") == len(expected) == 7

    report = {step["name"]: step for step in json.loads((output / "dedup.json").read_text())["steps"]}
    documents = report["dedup_documents"]
    assert documents["dropped"] == {"url": 1, "text": 1, "near": 1, "image_set": 1, "paragraphs_repeated": 1}
    assert documents["inputs"] == 12 and documents["kept"] == 7
    samples = {entry["item"]["key"]: entry for entry in documents["sample"]["sample"]}
    for name, (rule, survivor) in planted["dropped"].items():
        entry = samples[keys[name]]
        assert entry["reason"] == rule
        assert (entry["item"]["duplicate_of"] or {}).get("key") == (keys[survivor] if survivor else None)
    near = samples[keys["near_2"]]
    assert 0.8 <= near["score"] < 1.0


def test_boilerplate_paragraph_stays_only_in_the_newest_page_of_each_domain(planted, deduplicated):
    output, _ = deduplicated
    kept = read_output(output)
    keys = planted["keys"]
    with_footer = {key for key, (document, _) in kept.items() if any(FOOTER.lower() == t.text.lower() for t in document.texts())}
    # news.example: url_new is the newest kept page with the footer; blog.example: plain.
    assert with_footer == {keys["url_new"], keys["plain"]}
    # The rest of a page's text is untouched.
    original = planted["documents"]["near_1"]
    assert [t.text for t in kept[keys["near_1"]][0].texts()] == [t.text for t in original.texts()][:-1]


def test_images_too_frequent_or_repeated_are_dropped_and_indices_renumbered(planted, deduplicated):
    output, result = deduplicated
    kept = read_output(output)
    keys = planted["keys"]
    for document, images in kept.values():
        assert all(node.url != "https://cdn.example/logo.png" for node in document.images())
        assert [node.index for node in document.images()] == list(range(len(images)))
    phash_document, phash_images = kept[keys["phash"]]
    assert [node.url for node in phash_document.images()] == ["https://blog.example/f1.jpg"]
    assert phash_images[0].size == (96, 96)
    assert result.stats.get("dedup/dedup_images/dropped/url_frequent") == 4
    assert result.stats.get("dedup/dedup_images/dropped/phash") == 1
    # Pairs are made afresh: one per kept image, none for a dropped one.
    pairs = list(webdataset.WebDataset(shard_paths(str(output / PAIRS)), shardshuffle=False))
    images_kept = sum(len(images) for _, images in kept.values())
    assert len(pairs) == images_kept == result.stats.get("pairs/written") == 4
    assert all(b"logo" not in sample["json"] for sample in pairs)
    assert read_manifest(str(output / PAIRS))["samples"] == 4


def test_two_runs_give_identical_shards(planted, deduplicated, tmp_path):
    output, _ = deduplicated
    again = tmp_path / "again"
    dedup(planted, again)
    for shard_set in (INTERLEAVED, PAIRS):
        assert read_manifest(str(again / shard_set)) == read_manifest(str(output / shard_set))
    assert (again / "dedup.json").read_text() == (output / "dedup.json").read_text()
    assert (again / "stats.json").read_text() == (output / "stats.json").read_text()


def test_interrupted_run_resumes_to_the_identical_result(planted, deduplicated, tmp_path):
    output, _ = deduplicated
    crashed = tmp_path / "crashed"
    shutil.copytree(output, crashed)
    # A crash mid-phase 3 after resolution was redone: one unit unfinished, its shard
    # half-written, a temporary file left behind, and phase 1 of one unit lost as well.
    (crashed / "units" / "unit-b.json").unlink()
    (crashed / "work" / "decisions.json").unlink()
    (crashed / "work" / "records" / "unit-c.json").unlink()
    shard = crashed / INTERLEAVED / "unit-b-00000.tar"
    shard.write_bytes(shard.read_bytes()[:700])
    (crashed / PAIRS / "unit-b-00000.tar.tmp-0badf00d").write_bytes(b"partial")
    result = dedup(planted, crashed)
    assert result.ok and result.skipped == 2
    for shard_set in (INTERLEAVED, PAIRS):
        assert read_manifest(str(crashed / shard_set)) == read_manifest(str(output / shard_set))
        names = sorted(p.name for p in (crashed / shard_set).iterdir())
        assert names == sorted(p.name for p in (output / shard_set).iterdir())
    assert (crashed / "dedup.json").read_text() == (output / "dedup.json").read_text()
    assert (crashed / "stats.json").read_text() == (output / "stats.json").read_text()


def test_other_settings_into_the_same_folder_are_refused(planted, deduplicated):
    output, _ = deduplicated
    with pytest.raises(PlanMismatch):
        run_dedup(str(planted["build"]), str(output), DedupConfig(), show_progress=False)


def test_an_unfinished_build_is_refused(planted, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(planted["build"], build)
    (build / "units" / "unit-c.json").unlink()
    with pytest.raises(IncompleteBuild, match="unfinished"):
        run_dedup(str(build), str(tmp_path / "out"), DedupConfig(), show_progress=False)


def test_the_command_resumes_a_finished_run_and_prints_what_it_dropped(planted, deduplicated, capsys):
    import argparse

    from flamboyance.filter.dedup import command

    output, _ = deduplicated
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--input", str(planted["build"]), "--output", str(output),
                              "--set", "max_image_url_documents=3", "--no-progress"])
    assert command.run(args) == 0
    printed = capsys.readouterr().out
    assert "3 already done" in printed and "12 read, 7 written" in printed
    assert "documents dropped: image_set 1, near 1, paragraphs_repeated 1, text 1, url 1" in printed


def test_the_build_report_reads_a_dedup_output_as_the_build_followed_by_dedup(planted, deduplicated):
    from flamboyance.filter.report.funnel import funnel, load_build
    from flamboyance.filter.report.html import report_data

    output, result = deduplicated
    finish_planted_build(planted)
    stats, report = load_build(str(output))
    assert list(report.steps) == ["dedup_documents", "dedup_paragraphs", "dedup_images"]
    rows = {row.step: row for row in funnel(stats, report)}
    documents = report["dedup_documents"]
    assert documents.volume_in["documents"] == documents.inputs == rows["extracted"].documents
    assert rows["dedup_documents"].documents == documents.kept == rows["written"].documents == result.stats.get("documents/written")
    assert rows["dedup_paragraphs"].words < rows["dedup_documents"].words
    assert rows["dedup_images"].images == rows["written"].images < rows["dedup_documents"].images
    names = [step["name"] for step in report_data(str(output), stats, report)["steps"]]
    assert names == ["dedup_documents", "dedup_paragraphs", "dedup_images"]


def finish_planted_build(planted) -> None:
    """Give the planted build the stats.json a real build writes at its end (its units' counters merged)."""
    build = Path(planted["build"])
    if not (build / "stats.json").exists():
        written = sum(json.loads(path.read_text())["stats"]["documents/written"] for path in (build / "units").iterdir())
        (build / "stats.json").write_text(json.dumps({"documents/written": written, "pages/parsed": written}))


def test_inspect_dropped_by_and_the_html_report_read_a_dedup_output(planted, deduplicated, capsys):
    """``inspect --dropped-by`` shows dedup's sampled drops; the HTML report lists its steps."""
    from flamboyance.filter.inspect_command import print_dropped
    from flamboyance.filter.report.funnel import load_build
    from flamboyance.filter.report.html import write_report

    output, _ = deduplicated
    finish_planted_build(planted)
    assert "dedup_documents" in Path(write_report(str(output), *load_build(str(output)))).read_text()
    assert print_dropped(str(output), "dedup_documents", sys.stdout, limit=10) == 0
    shown = capsys.readouterr().out
    assert "dedup_documents: dropped 5 of 12" in shown and shown.count("--- dedup_documents:") == 5
