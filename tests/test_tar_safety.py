"""Hostile shards: member names that climb out of a folder, links and devices are never followed."""

from __future__ import annotations

import io
import os
import tarfile

from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import iter_samples


def _member(archive: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, target: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, len(data)
    archive.addfile(info, io.BytesIO(data) if data else None)


def test_hostile_members_are_read_in_memory_or_skipped(tmp_path):
    shard = tmp_path / "hostile.tar"
    with tarfile.open(shard, "w") as archive:
        _member(archive, "../../escaped.json", b'{"a": 1}')
        _member(archive, "/etc/absolute.txt", b"text")
        _member(archive, "link.json", kind=tarfile.SYMTYPE, target="/etc/passwd")
        _member(archive, "hard.txt", kind=tarfile.LNKTYPE, target="../../escaped.json")
        _member(archive, "device.txt", kind=tarfile.CHRTYPE)
        _member(archive, "ok.txt", b"fine")
    before = set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent))

    stats = Stats()
    samples = list(iter_samples(str(shard), stats=stats))

    # Payloads stay in memory under their (odd) keys; nothing is written anywhere.
    assert [(s["__key__"], sorted(k for k in s if not k.startswith("__"))) for s in samples] == [
        ("../../escaped", ["json"]), ("/etc/absolute", ["txt"]), ("ok", ["txt"]),
    ]
    assert samples[-1]["txt"] == b"fine"
    assert stats.get("loader/skipped_members/not_a_file") == 3  # the symlink, the hard link, the device
    assert set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent)) == before
