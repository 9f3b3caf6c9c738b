"""Samples out of one webdataset tar shard, local or remote, with cheap skipping.

A sample is a run of consecutive tar members that share a key: webdataset splits a
member's base name at its first dot, so ``dir/KEY.0.jpg`` is field ``0.jpg`` of sample
``dir/KEY``. The loader often starts reading in the middle of a shard (a shard cut
between two readers, or a resumed position), so skipping is done on member headers
alone: on a seekable file (local, s3 and http(s) with range requests) the payloads of
skipped samples are never read.

Members are only read into memory, never extracted, so a member name cannot escape any
directory; members that are not regular files (links, directories, devices) are
skipped and counted.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import Any

from flamboyance.shards.stats import Stats
from flamboyance.shards.storage import open_input


def split_member_name(name: str) -> tuple[str, str] | None:
    """(key, field) of a member name, or None when its base name has no field part."""
    directory, slash, base = name.rpartition("/")
    stem, dot, field = base.partition(".")
    if not dot or not stem or not field:
        return None
    return directory + slash + stem, field


def _keyed_members(url: str, stats: Stats) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, str, str]]:
    """(archive, member, key, field) for each regular, well-named member, in file order."""
    with open_input(url) as stream:
        mode = "r:*" if stream.seekable() else "r|*"
        with tarfile.open(fileobj=stream, mode=mode) as archive:
            for member in archive:
                parts = split_member_name(member.name) if member.isreg() else None
                if parts is None:
                    stats.add("loader/skipped_members/" + ("no_field" if member.isreg() else "not_a_file"))
                    continue
                yield archive, member, parts[0], parts[1]


def iter_samples(url: str, skip: int = 0, stats: Stats | None = None) -> Iterator[dict[str, Any]]:
    """Yield the samples of a shard from sample number ``skip`` on, as dicts of raw bytes.

    Each dict holds ``__key__``, ``__url__`` and one bytes value per field. Errors of the
    file itself (missing, truncated, not a tar) propagate as ``OSError`` or
    ``tarfile.TarError``; the caller decides whether that drops the shard.
    """
    number, current, sample = -1, None, None
    for archive, member, key, field in _keyed_members(url, stats if stats is not None else Stats()):
        if key != current:
            if sample is not None:
                yield sample
            number, current = number + 1, key
            sample = {"__key__": key, "__url__": url} if number >= skip else None
        if sample is not None:
            reader = archive.extractfile(member)
            sample[field] = reader.read() if reader is not None else b""
    if sample is not None:
        yield sample


def count_samples(url: str) -> int:
    """The number of samples in a shard, from its member headers (payloads are not read)."""
    count, current = 0, None
    for _archive, _member, key, _field in _keyed_members(url, Stats()):
        if key != current:
            count, current = count + 1, key
    return count
