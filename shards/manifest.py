"""The manifest of a shard set: which shards exist, how many samples each holds, checksums.

Two files sit beside the shards of a set:

``manifest.json``
    ``{"shards": [{"name", "samples", "bytes", "sha256", "unit"}], "samples": N, "bytes": B}``,
    for audits, integrity checks and loaders that split work by sample count.
``sizes.json``
    ``{shard name: sample count}``, the file open_clip's webdataset loader reads to
    learn a dataset's size without opening every tar.

Both are derived from the units' completion markers at the end of every build run, so
they always describe exactly the shards of finished units.
"""

from __future__ import annotations

from typing import Any, Iterable

from flamboyance.shards import storage

MANIFEST = "manifest.json"
SIZES = "sizes.json"


def write_manifest(folder: str, shards: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Write manifest.json and sizes.json for the given shard records; return the manifest."""
    entries = sorted(shards, key=lambda shard: shard["name"])
    manifest = {
        "shards": entries,
        "samples": sum(shard["samples"] for shard in entries),
        "bytes": sum(shard["bytes"] for shard in entries),
    }
    storage.makedirs(folder)
    storage.write_json(storage.join(folder, MANIFEST), manifest)
    storage.write_json(storage.join(folder, SIZES), {shard["name"]: shard["samples"] for shard in entries})
    return manifest


def read_manifest(folder: str) -> dict[str, Any]:
    path = storage.join(folder, MANIFEST)
    if not storage.exists(path):
        raise FileNotFoundError(f"no {MANIFEST} in {folder}: is this the output of a finished build?")
    return storage.read_json(path)


def shard_paths(folder: str) -> list[str]:
    """Full paths of a set's shards, in manifest order."""
    return [storage.join(folder, shard["name"]) for shard in read_manifest(folder)["shards"]]
