"""URL lists: the second way into a build, next to WARC files.

A list is one URL per row, in one of three formats, chosen by the file name:

``.txt``      one URL per line; blank lines and lines starting with ``#`` are skipped;
``.jsonl``    one JSON object per line with a ``url`` field (or a bare JSON string);
              every other field is metadata;
``.parquet``  a ``url`` column; every other column is metadata.

``.txt`` and ``.jsonl`` may be gzip-compressed (``.txt.gz``, ``.jsonl.gz``). Metadata
travels into ``Document.meta`` unchanged, so a list made by another tool (img2dataset's
inputs, a Common Crawl index query) keeps its columns through the build.

A row's number is its position in the file (line, or parquet row), counting skipped
rows too: units are slices of row numbers, and a document's source is
``{"urls": path, "row": n}``, so both must stay the same when the list is read again.
A bad row is counted (``urls/skipped/<reason>``) and skipped; a file that cannot be a
URL list at all (unknown format, parquet without a ``url`` column) is a clear error
when the build is planned, before any work starts.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from flamboyance.shards import storage
from flamboyance.shards.stats import Stats

URL_COLUMN = "url"
FORMATS = ("txt", "jsonl", "parquet")
_PARQUET_BATCH = 4096


@dataclass
class UrlRow:
    """One row of a URL list: its number in the file, the URL, and the other columns."""

    row: int
    url: str
    meta: dict[str, Any] = field(default_factory=dict)


def list_format(path: str) -> str:
    """``txt``, ``jsonl`` or ``parquet``, from the file name; ValueError for anything else."""
    name = path.rsplit("/", 1)[-1].lower().removesuffix(".gz")
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    if extension not in FORMATS or (extension == "parquet" and path.lower().endswith(".gz")):
        raise ValueError(f"{path}: a URL list must end in .txt, .jsonl (optionally .gz) or .parquet")
    return extension


def count_rows(path: str) -> int:
    """How many rows the list has (blank and bad ones included), for planning units."""
    if list_format(path) == "parquet":
        with _parquet_file(path) as parquet:
            return parquet.metadata.num_rows
    with _text_lines(path) as lines:
        return sum(1 for _ in lines)


def read_rows(path: str, start: int = 0, end: int | None = None, stats: Stats | None = None) -> Iterator[UrlRow]:
    """The usable rows numbered ``start`` to ``end`` (exclusive), counting ``urls/rows`` and skips."""
    stats = stats if stats is not None else Stats()
    kind = list_format(path)
    rows = _parquet_rows(path, start, end) if kind == "parquet" else _text_rows(path, kind, start, end)
    for row in rows:
        stats.add("urls/rows")
        if isinstance(row, str):
            stats.add(f"urls/skipped/{row}")
            continue
        yield row


def _text_rows(path: str, kind: str, start: int, end: int | None) -> Iterator[UrlRow | str]:
    """Rows ``[start, end)`` of a text list, each a row or the reason it is skipped."""
    with _text_lines(path) as lines:
        for number, line in enumerate(lines):
            if end is not None and number >= end:
                return
            if number >= start:
                yield _parse_line(number, line, kind)


def _parse_line(number: int, line: str, kind: str) -> UrlRow | str:
    """A row, or the reason it is skipped."""
    text = line.strip()
    if kind == "txt":
        if not text or text.startswith("#"):
            return "empty"
        return UrlRow(number, text)
    if not text:
        return "empty"
    try:
        value = json.loads(text)
    except ValueError:
        return "bad_json"
    if isinstance(value, str):
        value = {URL_COLUMN: value}
    if not isinstance(value, dict):
        return "bad_json"
    return _row(number, value)


def _row(number: int, values: dict[str, Any]) -> UrlRow | str:
    url = values.get(URL_COLUMN)
    if not isinstance(url, str) or not url.strip():
        return "no_url"
    meta = {str(name): _json_ready(value) for name, value in values.items() if name != URL_COLUMN}
    return UrlRow(number, url.strip(), meta)


def _json_ready(value: Any) -> Any:
    """Metadata as JSON can hold it: dates and other objects become their text, NaN None."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@contextlib.contextmanager
def _text_lines(path: str) -> Iterator[IO[str]]:
    """The lines of a (possibly gzipped) text file, decoded as UTF-8 with replacement."""
    with storage.open_input(path) as raw:
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw) if path.lower().endswith(".gz") else raw
        with io.TextIOWrapper(binary, encoding="utf-8", errors="replace") as text:
            yield text


@contextlib.contextmanager
def _parquet_file(path: str) -> Iterator[Any]:
    import pyarrow.parquet as pq

    with storage.open_input(path) as raw:
        parquet = pq.ParquetFile(raw)
        names = parquet.schema_arrow.names
        if URL_COLUMN not in names:
            raise ValueError(f"{path}: a parquet URL list needs a {URL_COLUMN!r} column (it has {names})")
        yield parquet


def _parquet_rows(path: str, start: int, end: int | None) -> Iterator[UrlRow | str]:
    """Rows ``[start, end)`` of a parquet list, reading only the row groups they lie in."""
    with _parquet_file(path) as parquet:
        first = 0
        for group in range(parquet.metadata.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            if first + size <= start:
                first += size
                continue
            if end is not None and first >= end:
                return
            for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH, row_groups=[group]):
                for offset, values in enumerate(batch.to_pylist()):
                    number = first + offset
                    if number >= start and (end is None or number < end):
                        yield _row(number, values)
                first += batch.num_rows
