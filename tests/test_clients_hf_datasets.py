"""Hugging Face ``datasets`` reads our data with its own loaders: OBELICS parquet and webdataset shards.

``load_dataset("parquet", features=OBELICS_FEATURES)`` is how OBELICS' own files load
(the Features of the HuggingFaceM4/OBELICS card); ``load_dataset("webdataset", ...)``
is HF's reader for webdataset tars. Everything is local: the hub is switched off.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets reads its configuration

import datasets  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from interop_fixtures import WIKI_DOCUMENTS, command, wiki_build  # noqa: E402, F401
from PIL import Image  # noqa: E402

from flamboyance.shards.interop import export_command  # noqa: E402
from flamboyance.shards.manifest import shard_paths  # noqa: E402

# The four columns of HuggingFaceM4/OBELICS, as its dataset card declares them.
OBELICS_FEATURES = datasets.Features(
    {
        "images": datasets.List(datasets.Value("string")),
        "metadata": datasets.Value("string"),
        "general_metadata": datasets.Value("string"),
        "texts": datasets.List(datasets.Value("string")),
    }
)


def test_obelics_export_loads_with_obelics_features(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    assert command(export_command, ["--format", "obelics", str(wiki_build), str(tmp_path / "obelics")]) == 0
    files = sorted(str(path) for path in (tmp_path / "obelics").glob("*.parquet"))
    loaded = datasets.load_dataset("parquet", data_files=files, features=OBELICS_FEATURES, split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == WIKI_DOCUMENTS and loaded.features == OBELICS_FEATURES
    assert loaded.to_list() == pq.read_table(files[0]).to_pylist()
    row = loaded[0]
    metadata = json.loads(row["metadata"])
    assert [image is None for image in row["images"]] == [meta is None for meta in metadata] == [text is not None for text in row["texts"]]

    # With --image-bytes the fifth column loads too, once the Features name it.
    assert command(export_command, ["--format", "obelics", "--image-bytes", str(wiki_build), str(tmp_path / "bytes")]) == 0
    features = OBELICS_FEATURES.copy()
    features["image_bytes"] = datasets.List(datasets.Value("binary"))
    with_bytes = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "bytes/*.parquet"), features=features, split="train", cache_dir=str(tmp_path / "cache2")
    )
    payloads = [payload for row in with_bytes for payload in row["image_bytes"] if payload is not None]
    assert len(payloads) == built_images(wiki_build) and all(Image.open(io.BytesIO(payload)).format == "JPEG" for payload in payloads)


def test_pair_shards_load_with_the_webdataset_builder(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    pairs = datasets.load_dataset("webdataset", data_files=shard_paths(str(wiki_build / "pairs")), split="train", cache_dir=str(tmp_path / "cache"))
    assert pairs.num_rows == 30 and set(pairs.column_names) >= {"jpg", "txt", "json"}
    for row in pairs:
        assert row["jpg"].size == (row["json"]["image"]["width"], row["json"]["image"]["height"])
        assert row["txt"] and row["json"]["key"] == row["__key__"]


def built_images(build: Path) -> int:
    """How many images the build's interleaved documents hold."""
    from flamboyance.shards.interop.documents import read_built
    from flamboyance.shards.stats import Stats

    return sum(len(document.images()) for document, _ in read_built(str(build), Stats()))


def interleaved_features(paths: list[str]) -> datasets.Features:
    """Features naming every member type of the shards: documents hold 0..N images, so samples differ in fields.

    HF infers fields from the first 5 samples and refuses samples whose fields differ;
    given Features, a document's missing ``i.jpg`` is None.
    """
    suffixes: set[str] = set()
    for path in paths:
        with tarfile.open(path) as tar:
            suffixes.update(member.name.split(".", 1)[1] for member in tar.getmembers())
    fields = {suffix: datasets.Json() if suffix == "json" else datasets.Image() for suffix in sorted(suffixes)}
    return datasets.Features(fields | {"__key__": datasets.Value("string"), "__url__": datasets.Value("string")})


def test_interleaved_shards_load_with_the_webdataset_builder_given_features(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    paths = shard_paths(str(wiki_build / "interleaved"))
    features = interleaved_features(paths)
    documents = datasets.load_dataset("webdataset", data_files=paths, features=features, split="train", cache_dir=str(tmp_path / "cache"))
    assert documents.num_rows == WIKI_DOCUMENTS
    images = 0
    for row in documents:
        nodes = [node for node in row["json"]["nodes"] if node["type"] == "image"]
        for node in nodes:
            assert row[f"{node['index']}.jpg"].size == (node["width"], node["height"])
        images += len(nodes)
    assert images == built_images(wiki_build)
