"""Writing webdataset tar shards that roll over by sample count and size.

Each shard is written through ``storage.atomic_writer``, so a reader never sees a partly
written tar: it appears under its final name only once it is complete. Shard names are
``{prefix}-{n:05d}.tar``; the prefix is the unit id, so every unit owns its own files and
a re-run of a unit rewrites exactly the same names.

Tar members get a fixed modification time and owner, so re-running a unit on the same
input yields byte-identical shards (and the same sha256 in the manifest).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import IO, Any

from flamboyance.shards import storage
from flamboyance.shards.layout import INTERLEAVED, PAIRS, interleaved_sample, pair_samples
from flamboyance.shards.stats import Stats

# Fixed member mtime (2020-01-01) so shards are reproducible.
_MTIME = 1577836800


@dataclass
class ShardConfig:
    """When a shard is full: whichever limit is reached first starts the next tar."""

    max_samples: int = 1000
    max_bytes: int = 512 * 1024 * 1024


@dataclass
class ShardInfo:
    """What a manifest records about one finished shard."""

    name: str
    samples: int
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _HashingStream(io.RawIOBase):
    """Passes writes through to a stream while counting bytes and hashing them."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.target.write(view)
        self.digest.update(view)
        self.size += len(view)
        return len(view)


class ShardWriter:
    """Writes samples (``{"__key__": k, "ext": bytes, ...}``) into a sequence of tar shards.

    A new shard starts when the current one holds ``max_samples`` samples or at least
    ``max_bytes`` bytes. ``close()`` returns the shards written, for the manifest.
    """

    def __init__(
        self, folder: str, prefix: str, max_samples: int = ShardConfig.max_samples, max_bytes: int = ShardConfig.max_bytes
    ) -> None:
        if max_samples < 1 or max_bytes < 1:
            raise ValueError("max_samples and max_bytes must be positive")
        self.folder = folder
        self.prefix = prefix
        self.max_samples = max_samples
        self.max_bytes = max_bytes
        self.shards: list[ShardInfo] = []
        self._stack: ExitStack | None = None
        self._stream: _HashingStream | None = None
        self._tar: tarfile.TarFile | None = None
        self._samples = 0

    def write(self, sample: dict[str, Any]) -> None:
        key = sample["__key__"]
        if "." in key or "/" in key:
            raise ValueError(f"sample key must not contain '.' or '/': {key!r}")
        if self._tar is None:
            self._open()
        assert self._tar is not None and self._stream is not None
        for extension, payload in sample.items():
            if extension.startswith("__"):
                continue
            data = payload if isinstance(payload, bytes) else str(payload).encode("utf-8")
            member = tarfile.TarInfo(f"{key}.{extension}")
            member.size = len(data)
            member.mtime = _MTIME
            member.mode = 0o444
            member.uname = member.gname = "flamboyance"
            self._tar.addfile(member, io.BytesIO(data))
        self._samples += 1
        if self._samples >= self.max_samples or self._stream.size >= self.max_bytes:
            self._finish()

    def close(self) -> list[ShardInfo]:
        if self._tar is not None:
            self._finish()
        return self.shards

    def abort(self) -> None:
        """Drop the shard in progress without publishing it (used when a unit fails)."""
        if self._stack is not None:
            stack, self._stack = self._stack, None
            self._tar = self._stream = None
            try:
                stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
            except RuntimeError:
                pass

    def _open(self) -> None:
        name = f"{self.prefix}-{len(self.shards):05d}.tar"
        self._stack = ExitStack()
        target = self._stack.enter_context(storage.atomic_writer(storage.join(self.folder, name)))
        self._stream = _HashingStream(target)
        self._tar = tarfile.open(fileobj=self._stream, mode="w|", format=tarfile.PAX_FORMAT)
        self._samples = 0
        self._name = name

    def _finish(self) -> None:
        assert self._tar is not None and self._stream is not None and self._stack is not None
        self._tar.close()
        stream = self._stream
        self._stack.close()
        self.shards.append(ShardInfo(self._name, self._samples, stream.size, stream.digest.hexdigest()))
        self._tar = self._stream = self._stack = None

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class DatasetWriter:
    """A unit's two shard sets, written together: each document and its image-text pairs.

    Every stage that writes documents (the build, dedup) goes through this, so the two
    sets always agree: a pair exists exactly for each kept image with a description.
    """

    def __init__(self, output: str, unit_id: str, config: ShardConfig, stats: Stats) -> None:
        self.unit_id = unit_id
        self.stats = stats
        self.interleaved = ShardWriter(storage.join(output, INTERLEAVED), unit_id, config.max_samples, config.max_bytes)
        self.pairs = ShardWriter(storage.join(output, PAIRS), unit_id, config.max_samples, config.max_bytes)

    def write(self, document: Any, images: list[bytes]) -> None:
        self.interleaved.write(interleaved_sample(document, images))
        self.stats.add("documents/written")
        for sample in pair_samples(document, images):
            self.pairs.write(sample)
            self.stats.add("pairs/written")

    def shards(self) -> dict[str, list[dict[str, Any]]]:
        """The finished shards of both sets, as a completion marker lists them."""
        return {
            INTERLEAVED: [dict(shard.to_json(), unit=self.unit_id) for shard in self.interleaved.shards],
            PAIRS: [dict(shard.to_json(), unit=self.unit_id) for shard in self.pairs.shards],
        }

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.interleaved.__exit__(exc_type, exc, tb)
        self.pairs.__exit__(exc_type, exc, tb)
