"""Reading and writing files on local disk or object storage, through fsspec.

Every stage takes paths that may be local files, globs, or URLs (``s3://``, ``gs://``,
``https://``). This module is the one place that knows how to expand them and how to
make a write appear all at once: a reader (ours, or webdataset in a training job) must
never see half a shard or half a completion marker.

Locally that is a temporary file renamed into place (``os.replace`` is atomic on POSIX).
On object stores an object becomes visible only when its upload completes; the content
is staged in a local temporary file and uploaded in one call at the end, so an
interrupted write uploads nothing.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
import uuid
from typing import IO, Any, Iterator

import fsspec
from fsspec.core import url_to_fs

_GLOB_CHARS = set("*?[")


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def join(base: str, *parts: str) -> str:
    """Join path parts with '/' for URLs and the OS separator for local paths."""
    if is_local(base):
        return os.path.join(local_path(base), *parts)
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def expand(patterns: list[str]) -> list[str]:
    """Expand local globs and fsspec globs; keep plain paths and http(s) URLs as given.

    Raises FileNotFoundError for a pattern that matches nothing, so a typo in a path is
    reported instead of silently building an empty dataset.
    """
    paths: list[str] = []
    for pattern in patterns:
        if pattern.startswith(("http://", "https://")):
            paths.append(pattern)
            continue
        if not _GLOB_CHARS & set(pattern):
            if is_local(pattern) and not os.path.exists(local_path(pattern)):
                raise FileNotFoundError(f"input not found: {pattern}")
            paths.append(pattern)
            continue
        if is_local(pattern):
            matches = sorted(glob.glob(local_path(pattern)))
        else:
            fs, _ = url_to_fs(pattern)
            protocol = pattern.split("://", 1)[0]
            matches = sorted(f"{protocol}://{m}" for m in fs.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"no input matches {pattern}")
        paths.extend(matches)
    return paths


def open_input(path: str, mode: str = "rb") -> IO[Any]:
    """Open a local file or URL for reading (the caller closes it)."""
    if is_local(path):
        return open(local_path(path), mode)
    return fsspec.open(path, mode).open()


def size(path: str) -> int:
    if is_local(path):
        return os.path.getsize(local_path(path))
    fs, target = url_to_fs(path)
    return int(fs.size(target))


def exists(path: str) -> bool:
    if is_local(path):
        return os.path.exists(local_path(path))
    fs, target = url_to_fs(path)
    return bool(fs.exists(target))


def makedirs(path: str) -> None:
    if is_local(path):
        os.makedirs(local_path(path), exist_ok=True)


def listdir(path: str) -> list[str]:
    """Full paths of the files directly inside a folder (empty if it does not exist)."""
    if is_local(path):
        folder = local_path(path)
        if not os.path.isdir(folder):
            return []
        return sorted(os.path.join(folder, name) for name in os.listdir(folder))
    fs, target = url_to_fs(path)
    if not fs.exists(target):
        return []
    protocol = path.split("://", 1)[0]
    return sorted(f"{protocol}://{p}" for p in fs.ls(target, detail=False))


def remove(path: str) -> None:
    """Delete a file if it exists."""
    if is_local(path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(local_path(path))
        return
    fs, target = url_to_fs(path)
    if fs.exists(target):
        fs.rm(target)


def remove_tree(path: str) -> None:
    """Delete a folder and everything in it, if it exists."""
    if is_local(path):
        shutil.rmtree(local_path(path), ignore_errors=True)
        return
    fs, target = url_to_fs(path)
    if fs.exists(target):
        fs.rm(target, recursive=True)


@contextlib.contextmanager
def atomic_writer(path: str) -> Iterator[IO[bytes]]:
    """A binary stream whose content appears at ``path`` only if the block completes."""
    if is_local(path):
        final = local_path(path)
        os.makedirs(os.path.dirname(final) or ".", exist_ok=True)
        temporary = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
    else:
        # Staged locally and uploaded in one call: an interrupted write uploads nothing.
        final = None
        temporary = os.path.join(tempfile.gettempdir(), f"flamboyance-{uuid.uuid4().hex}")
    try:
        with open(temporary, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        if final is not None:
            os.replace(temporary, final)
        else:
            fs, target = url_to_fs(path)
            fs.put_file(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


def write_json(path: str, data: Any) -> None:
    """Write JSON atomically (completion markers, manifests, stats)."""
    with atomic_writer(path) as stream:
        stream.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def read_json(path: str) -> Any:
    with open_input(path) as stream:
        return json.loads(stream.read())
