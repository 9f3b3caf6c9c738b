"""OBELICS and MMC4 export and import, on a real build of the wiki pages and on foreign-shaped data."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from interop_fixtures import command, tiny_open_clip, wiki_build  # noqa: F401
from loader_fixtures import jpeg
from PIL import Image

from flamboyance.crawl import import_command
from flamboyance.crawl.fetch import FetchConfig
from flamboyance.crawl.imports import write_imported
from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.interop import export_command, mmc4
from flamboyance.shards.interop.documents import read_built
from flamboyance.shards.interop.obelics import read as read_obelics
from flamboyance.shards.layout import INTERLEAVED, PAIRS
from flamboyance.shards.manifest import read_manifest, shard_paths
from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import iter_samples


def documents(path: Path) -> list[tuple[dict, list[bytes]]]:
    return [(document.to_json(), payloads) for document, payloads in read_built(str(path), Stats())]


def test_obelics_round_trip_of_a_real_build_is_byte_identical(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    assert command(export_command, ["--format", "obelics", str(wiki_build), str(tmp_path / "plain")]) == 0
    assert pq.read_schema(tmp_path / "plain/obelics-00000.parquet").names == ["images", "metadata", "general_metadata", "texts"]
    assert command(export_command, ["--format", "obelics", "--image-bytes", str(wiki_build), str(tmp_path / "obelics")]) == 0
    table = pq.read_table(tmp_path / "obelics/obelics-00000.parquet")
    assert table.schema.names == ["images", "metadata", "general_metadata", "texts", "image_bytes"]
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
    """Where OpenFlamingo's preprocess_interleaved puts images: '<image>' before the sentence its matrix row ranks first."""
    sentences = list(data["text_list"])
    for row in data["similarity_matrix"]:
        index = row.index(max(row))
        sentences[index] = "<image>" + sentences[index]
    return [part for sentence in sentences for part in (["<image>"] * sentence.count("<image>") + ["text"])]


def test_mmc4_export_reads_in_openflamingo_and_back_into_the_same_documents(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    assert command(export_command, ["--format", "mmc4", "--min-image-bytes", "0", str(wiki_build), str(tmp_path / "mmc4")]) == 0
    assert json.loads((tmp_path / "mmc4/sizes.json").read_text()) == {"mmc4-00000.tar": 85}
    built = {document["key"]: (document, payloads) for document, payloads in documents(wiki_build)}
    for sample in iter_samples(str(tmp_path / "mmc4/mmc4-00000.tar")):
        data = json.loads(sample["json"])
        document, payloads = built[sample["__key__"]]
        # Images land where the page had them, with the page's bytes, and pass any similarity threshold.
        assert openflamingo_order(data) == ["<image>" if node["type"] == "image" else "text" for node in document["nodes"]]
        assert [base64.b64decode(info["image_base64"]) for info in data["image_info"]] == payloads
        # MMC4's fields; the stand-in matrix ranks each image's own text first, at 1.0.
        matrix = data["similarity_matrix"]
        assert len(matrix) == len(data["image_info"]) and all(len(row) == len(data["text_list"]) for row in matrix)
        for info, row in zip(data["image_info"], matrix):
            assert row[info["matched_text_index"]] == info["matched_sim"] == max(row) == 1.0 and sum(row) == 1.0
        assert data["could_have_url_duplicate"] == 0

    assert command(import_command, ["--format", "mmc4", str(tmp_path / "mmc4/mmc4-00000.tar"), str(tmp_path / "back")]) == 0
    assert documents(tmp_path / "back") == documents(wiki_build)


def test_mmc4_export_with_an_open_clip_encoder_has_its_similarities_and_imports_back(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    encoder = str(tiny_open_clip(tmp_path / "clip"))
    argv = ["--format", "mmc4", "--encoder", encoder, "--min-image-bytes", "0", str(wiki_build), str(tmp_path / "mmc4")]
    assert command(export_command, argv) == 0
    values = set()
    for sample in iter_samples(str(tmp_path / "mmc4/mmc4-00000.tar")):
        data = json.loads(sample["json"])
        for info, row in zip(data["image_info"], data["similarity_matrix"], strict=True):
            assert len(row) == len(data["text_list"]) and all(-1.0 <= value <= 1.0 for value in row)
            assert info["matched_text_index"] == row.index(max(row)) and info["matched_sim"] == max(row)
            values.update(row)
    assert len(values) > 100  # real cosines, not the stand-in's 0 and 1
    assert command(import_command, ["--format", "mmc4", str(tmp_path / "mmc4/mmc4-00000.tar"), str(tmp_path / "back")]) == 0
    assert documents(tmp_path / "back") == documents(wiki_build)
    assert command(export_command, ["--format", "obelics", "--encoder", encoder, str(wiki_build), str(tmp_path / "wrong")]) == 2


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
    shards = mmc4.export([(document, payloads), built_document("pictures", "ii")], str(tmp_path / "out"), stats, min_image_bytes=0)
    assert stats.get("export/documents/dropped/no_text") == 1 and stats.get("export/documents/written") == 1
    back = list(mmc4.read(shards, Stats()))
    assert [(d.to_json(), p) for d, p in back] == [(document.to_json(), payloads)]


def test_mmc4_with_an_encoder_matches_images_by_similarity_and_import_restores_the_page(tmp_path: Path) -> None:
    document, payloads = built_document("semantic", "titti")  # texts 0, 1, 2; images before texts 1 and 2
    texts = [node.text for node in document.texts()]

    def similarity(images: list[bytes], sentences: list[str]) -> list[list[float]]:
        """Stands in for CLIP here (test_clients_openflamingo runs a real open_clip model): image i likes sentence 2 - i."""
        assert images == payloads and sentences == texts
        return [[0.1 + 0.2 * (column == len(sentences) - 1 - row) for column in range(len(sentences))] for row in range(len(images))]

    data = mmc4.to_mmc4(document, payloads, similarity)
    assert [(info["matched_text_index"], info["page_text_index"]) for info in data["image_info"]] == [(2, 1), (1, 2)]
    assert [info["matched_sim"] for info in data["image_info"]] == pytest.approx([0.3, 0.3])
    twin = Document.from_json(document.to_json() | {"key": "twin"})
    stats = Stats()
    shards = mmc4.export([(document, payloads), (twin, payloads)], str(tmp_path / "out"), stats, similarity=similarity, min_image_bytes=0)
    rows = [json.loads(sample["json"]) for sample in iter_samples(shards[0])]
    assert [row["could_have_url_duplicate"] for row in rows] == [0, 1]
    # A training threshold above every image's similarity leaves nothing usable: dropped, not a dead shard.
    stats = Stats()
    assert mmc4.export([(document, payloads)], str(tmp_path / "strict"), stats, similarity=similarity, min_image_bytes=0, min_similarity=0.5) == []
    assert stats.get("export/documents/dropped/no_image_over_similarity") == 1
    (back, back_payloads), _ = mmc4.read(shards, Stats())
    assert (back.to_json(), back_payloads) == (document.to_json(), payloads)


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
    # Each image with its matched sentence is an image-text pair, as MMC4 pairs them.
    assert manifests[PAIRS]["samples"] == 2
    samples = iter_samples(shard_paths(str(tmp_path / "out" / PAIRS))[0])
    pairs = {json.loads(sample["json"])["image"]["url"].rsplit("/", 1)[1]: sample["txt"].decode() for sample in samples}
    assert pairs == {"a.png": "Second sentence.", "b.png": "Third sentence."}


def obelics_row(site_url: str, names: list[str]) -> dict:
    """A row as HuggingFaceM4/OBELICS publishes it: image URLs, no bytes, alt text in the metadata."""
    images, texts, metadata = [], [], []
    for number, name in enumerate(names):
        url = f"{site_url}/I/m/{quote(name)}"
        images += [None, url]
        texts += [f"Paragraph {number} before the picture.", None]
        alt = "Cover of " + name.rsplit(".", 1)[0].replace("_", " ")
        metadata += [None, {"document_url": f"{site_url}/A/page.html", "src": url, "unformatted_src": url, "alt_text": alt, "rendered_width": 220}]
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
    alts = [node.alt for node in document.images()]
    assert alts == ["Cover of " + name.rsplit(".", 1)[0].replace("_", " ") for name in names] and len(payloads) == 3
    assert all(Image.open(io.BytesIO(payload)).format == "JPEG" for payload in payloads)
    assert stats.get("images/attached") == 3
    # Each image with its alt text is an image-text pair, as OBELICS' users pair them.
    captions = [sample["txt"].decode() for sample in iter_samples(shard_paths(str(tmp_path / "fetched" / PAIRS))[0])]
    assert captions == alts


def test_unreadable_input_files_are_counted_not_fatal(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    assert command(export_command, ["--format", "obelics", str(wiki_build), str(tmp_path / "obelics")]) == 0
    (tmp_path / "obelics/broken.parquet").write_bytes(b"PAR1 this is not parquet")
    stats = Stats()
    read = list(read_obelics(sorted(str(p) for p in (tmp_path / "obelics").glob("*.parquet")), stats))
    assert len(read) == 85 and stats.get("import/files/failed/ArrowInvalid") == 1

    (tmp_path / "broken.tar").write_bytes(b"not a tar at all" * 100)
    stats = Stats()
    assert list(mmc4.read([str(tmp_path / "broken.tar")], stats)) == [] and stats.under("import/files/failed") == {"ReadError": 1}
