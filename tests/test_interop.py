"""OBELICS and MMC4 export and import, on a real build of the wiki pages and on foreign-shaped data."""

from __future__ import annotations

import argparse
import base64
import io
import json
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from loader_fixtures import jpeg
from PIL import Image

from flamboyance.crawl import import_command
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.fetch import FetchConfig
from flamboyance.crawl.image_replay import build_index
from flamboyance.crawl.imports import write_imported
from flamboyance.crawl.unit import run_unit
from flamboyance.crawl.units import warc_units
from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.interop import export_command, mmc4
from flamboyance.shards.interop.documents import read_built
from flamboyance.shards.interop.obelics import read as read_obelics
from flamboyance.shards.layout import INTERLEAVED, PAIRS
from flamboyance.shards.manifest import read_manifest, shard_paths, write_manifest
from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import iter_samples


@pytest.fixture(scope="module")
def wiki_build(wiki_site: Path, tmp_path_factory) -> Path:
    """The wiki pages built as the build does it (one unit, images replayed from their WARC), without Ray."""
    output = tmp_path_factory.mktemp("build")
    unit = warc_units([str(wiki_site / "pages.warc.gz")], 1 << 30)[0]
    marker = run_unit(unit, BuildConfig(filters=None), str(output), build_index([str(wiki_site / "images.warc.gz")]))
    for name, shards in marker["shards"].items():
        write_manifest(str(output / name), shards)
    return output


def command(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


def documents(path: Path) -> list[tuple[dict, list[bytes]]]:
    return [(document.to_json(), payloads) for document, payloads in read_built(str(path), Stats())]


def test_obelics_round_trip_of_a_real_build_is_byte_identical(wiki_build: Path, tmp_path: Path) -> None:
    assert command(export_command, ["--format", "obelics", str(wiki_build), str(tmp_path / "obelics")]) == 0
    table = pq.read_table(tmp_path / "obelics/obelics-00000.parquet")
    assert table.schema.names[:4] == ["images", "metadata", "general_metadata", "texts"]
    assert table.schema.field("images").type == pa.list_(pa.string())
    rows = table.to_pylist()
    assert len(rows) == 85
    for row in rows:  # the published layout: one modality per position, metadata per image
        metadata = json.loads(row["metadata"])
        assert len(row["images"]) == len(row["texts"]) == len(metadata) == len(row["image_bytes"])
        for image, text, meta, payload in zip(row["images"], row["texts"], metadata, row["image_bytes"]):
            assert (image is None) != (text is None)
            assert (meta is None) == (image is None) == (payload is None)
            assert image is None or (meta["src"] == image and payload.startswith(b"\xff\xd8"))
        general = json.loads(row["general_metadata"])
        assert general["url"].startswith("https://en.wikipedia.org/A/") and general["warc_filename"].endswith("pages.warc.gz")

    assert command(import_command, ["--format", "obelics", str(tmp_path / "obelics/*.parquet"), str(tmp_path / "back")]) == 0
    assert documents(tmp_path / "back") == documents(wiki_build)
    # Same documents, same order, same JPEG bytes: the shards themselves are identical.
    built, imported = shard_paths(str(wiki_build / INTERLEAVED)), shard_paths(str(tmp_path / "back" / INTERLEAVED))
    assert [Path(p).read_bytes() for p in built] == [Path(p).read_bytes() for p in imported]
    assert read_manifest(str(tmp_path / "back" / PAIRS))["samples"] == read_manifest(str(wiki_build / PAIRS))["samples"]
    assert json.loads((tmp_path / "back/interleaved/sizes.json").read_text()) == {"import-00000.tar": 85}


def openflamingo_order(data: dict) -> list[str]:
    """Where OpenFlamingo's preprocess_interleaved puts images: '<image>' before each matched sentence."""
    sentences = list(data["text_list"])
    for info in data["image_info"]:
        index = info["matched_text_index"]
        sentences[index] = "<image>" + sentences[index]
    return [part for sentence in sentences for part in (["<image>"] * sentence.count("<image>") + ["text"])]


def test_mmc4_export_reads_in_openflamingo_and_back_into_the_same_documents(wiki_build: Path, tmp_path: Path) -> None:
    assert command(export_command, ["--format", "mmc4", str(wiki_build), str(tmp_path / "mmc4")]) == 0
    assert json.loads((tmp_path / "mmc4/sizes.json").read_text()) == {"mmc4-00000.tar": 85}
    built = {document["key"]: (document, payloads) for document, payloads in documents(wiki_build)}
    for sample in iter_samples(str(tmp_path / "mmc4/mmc4-00000.tar")):
        data = json.loads(sample["json"])
        document, payloads = built[sample["__key__"]]
        # Images land where the page had them, with the page's bytes, and pass any similarity threshold.
        assert openflamingo_order(data) == ["<image>" if node["type"] == "image" else "text" for node in document["nodes"]]
        assert [base64.b64decode(info["image_base64"]) for info in data["image_info"]] == payloads
        assert all(info["matched_sim"] == 1.0 for info in data["image_info"])

    assert command(import_command, ["--format", "mmc4", str(tmp_path / "mmc4/mmc4-00000.tar"), str(tmp_path / "back")]) == 0
    assert documents(tmp_path / "back") == documents(wiki_build)


def built_document(key: str, layout: str) -> tuple[Document, list[bytes]]:
    """A document as the build writes it, from a layout string: 'i' an image, 't' a text block."""
    nodes: list = []
    payloads: list[bytes] = []
    for position, kind in enumerate(layout):
        if kind == "t":
            nodes.append(TextNode(f"Text {position} of {key}.", tag="h2" if position == 0 else "p"))
            continue
        payload = jpeg(40 + len(payloads), 30, shade=position * 20)
        nodes.append(ImageNode(url=f"https://example.org/{key}/{position}.png", alt=f"alt {position}", index=len(payloads),
                               sha256=f"{position:064x}", width=40 + len(payloads), height=30))
        payloads.append(payload)
    document = Document(key=key, url=f"https://example.org/{key}", nodes=nodes, title=key, language="en",
                        source={"warc": "crawl.warc.gz", "offset": 7}, meta={"score": 0.5})
    return document, payloads


def test_mmc4_matches_images_to_the_following_text_and_keeps_trailing_images_after(tmp_path: Path) -> None:
    document, payloads = built_document("edges", "iittitii")
    data = mmc4.to_mmc4(document, payloads)
    assert [info["matched_text_index"] for info in data["image_info"]] == [0, 0, 2, 2, 2]
    assert [info.get("placement") for info in data["image_info"]] == [None, None, None, "after", "after"]
    assert mmc4.to_mmc4(*built_document("pictures", "ii")) is None

    stats = Stats()
    shards = mmc4.export([(document, payloads), built_document("pictures", "ii")], str(tmp_path / "out"), stats)
    assert stats.get("export/documents/dropped/no_text") == 1 and stats.get("export/documents/written") == 1
    back = list(mmc4.read(shards, Stats()))
    assert [(d.to_json(), p) for d, p in back] == [(document.to_json(), payloads)]


def test_foreign_mmc4_images_go_before_their_sentence_and_are_normalised(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (900, 600), (200, 30, 30)).save(png, format="PNG")
    encoded = base64.b64encode(png.getvalue()).decode()
    document = {
        "url": "https://example.com/post",
        "text_list": ["First sentence.", "Second sentence.", "Third sentence."],
        "image_info": [
            {"image_name": "b.png", "raw_url": "https://example.com/b.png", "matched_text_index": 2, "matched_sim": 0.31, "image_base64": encoded},
            {"image_name": "a.png", "raw_url": "https://example.com/a.png", "matched_text_index": 1, "matched_sim": 0.28, "image_base64": encoded},
            {"image_name": "c.png", "raw_url": "https://example.com/c.png", "matched_text_index": 9, "matched_sim": 0.3, "image_base64": encoded},
            {"image_name": "d.png", "raw_url": "https://example.com/d.png", "matched_text_index": 0, "matched_sim": 0.3, "image_base64": "%%%"},
            {"image_name": "e.png", "raw_url": "https://example.com/e.png", "matched_text_index": 0, "matched_sim": 0.3},
        ],
        "similarity_matrix": [[0.1, 0.2, 0.31]],
        "could_have_url_duplicate": 0,
    }
    (tmp_path / "docs.jsonl").write_text(json.dumps(document) + "\n" + "{not json\n")
    stats = Stats()
    manifests = write_imported(mmc4.read([str(tmp_path / "docs.jsonl")], stats), str(tmp_path / "out"), stats)
    assert manifests[INTERLEAVED]["samples"] == 1
    assert stats.get("images/failed/bad_text_index") == 1 and stats.get("images/failed/bad_base64") == 1
    assert stats.get("images/failed/no_bytes") == 1 and stats.get("import/documents/dropped/bad_document/JSONDecodeError") == 1

    (imported, payloads), = read_built(str(tmp_path / "out"), Stats())
    kinds = [node.url.rsplit("/", 1)[1] if isinstance(node, ImageNode) else node.text for node in imported.nodes]
    assert kinds == ["First sentence.", "a.png", "Second sentence.", "b.png", "Third sentence."]
    assert imported.source == {"mmc4": str(tmp_path / "docs.jsonl"), "row": 0}
    assert imported.meta == {"could_have_url_duplicate": 0}
    # Foreign images are normalised as the build does: JPEG, shorter side 320, original recorded.
    node = imported.images()[0]
    assert Image.open(io.BytesIO(payloads[0])).format == "JPEG" and (node.width, node.height) == (480, 320)
    assert (node.original_width, node.original_format) == (900, "PNG")


def obelics_row(site_url: str, names: list[str]) -> dict:
    """A row as HuggingFaceM4/OBELICS publishes it: image URLs, no bytes."""
    images, texts, metadata = [], [], []
    for number, name in enumerate(names):
        url = f"{site_url}/I/m/{quote(name)}"
        images += [None, url]
        texts += [f"Paragraph {number} before the picture.", None]
        metadata += [None, {"document_url": f"{site_url}/A/page.html", "src": url, "unformatted_src": url, "alt_text": name}]
    general = {"url": f"{site_url}/A/page.html", "warc_filename": "crawl-data/CC-MAIN-2023/x.warc.gz", "warc_record_offset": 42, "warc_record_length": 100}
    return {"images": images, "metadata": json.dumps(metadata), "general_metadata": json.dumps(general), "texts": texts}


def test_published_obelics_rows_import_with_images_fetched_or_counted(wiki_site: Path, static_site, tmp_path: Path) -> None:
    site = static_site(wiki_site / "site")
    names = [path.name for path in sorted((wiki_site / "site/I/m").glob("*.jpg"))[:3]]
    broken = {"images": [None, "x"], "texts": ["only one list entry"], "metadata": "[]", "general_metadata": "{}"}
    pq.write_table(pa.Table.from_pylist([obelics_row(site.url, names), broken]), tmp_path / "published.parquet")

    stats = Stats()
    write_imported(read_obelics([str(tmp_path / "published.parquet")], stats), str(tmp_path / "offline"), stats)
    (document, payloads), = read_built(str(tmp_path / "offline"), Stats())
    assert [type(node).__name__ for node in document.nodes] == ["TextNode"] * 3 and payloads == []
    assert stats.get("images/failed/no_bytes") == 3 and stats.get("import/documents/dropped/bad_row/ValueError") == 1
    assert document.source == {"warc": "crawl-data/CC-MAIN-2023/x.warc.gz", "offset": 42}

    stats = Stats()
    fetch = FetchConfig(allow_private=True, retries=0)
    write_imported(read_obelics([str(tmp_path / "published.parquet")], stats), str(tmp_path / "fetched"), stats, fetch=fetch)
    (document, payloads), = read_built(str(tmp_path / "fetched"), Stats())
    assert [node.alt for node in document.images()] == names and len(payloads) == 3
    assert all(Image.open(io.BytesIO(payload)).format == "JPEG" for payload in payloads)
    assert stats.get("images/attached") == 3


def test_unreadable_input_files_are_counted_not_fatal(wiki_build: Path, tmp_path: Path) -> None:
    assert command(export_command, ["--format", "obelics", str(wiki_build), str(tmp_path / "obelics")]) == 0
    (tmp_path / "obelics/broken.parquet").write_bytes(b"PAR1 this is not parquet")
    stats = Stats()
    read = list(read_obelics(sorted(str(p) for p in (tmp_path / "obelics").glob("*.parquet")), stats))
    assert len(read) == 85 and stats.get("import/files/failed/ArrowInvalid") == 1

    (tmp_path / "broken.tar").write_bytes(b"not a tar at all" * 100)
    stats = Stats()
    assert list(mmc4.read([str(tmp_path / "broken.tar")], stats)) == [] and stats.under("import/files/failed") == {"ReadError": 1}
