"""Reading WARC files robustly and fast, whole or in byte ranges.

A Ray task reads one *unit*: a whole WARC file or a byte range ``[start, end)`` of a
large one. A unit yields every record whose start offset lies in its range, so the units
of a file cover each record exactly once. A range rarely begins on a record, so a unit
first searches for the next record boundary: for gzip WARCs (one member per record, the
normal case) the next gzip member that decompresses to a whole WARC record, for plain
WARCs the next ``WARC/1.`` that heads a whole record.

Parsing itself is FastWARC's (C++, fixed memory): this module wraps it with what a
pipeline needs and FastWARC leaves out. Web archives in the wild hold truncated files,
garbage between records and corrupt gzip members; FastWARC stops at the first of those,
so on an error we count it, search for the next boundary with the same test a unit uses
to find its first record, and continue there. Bad data is never raised: it is skipped
and counted (``warc/corrupt/<reason>``), as are records of unwanted types
(``warc/skipped/<type>``).

Limitation: in a plain (uncompressed) WARC a record whose body holds a whole WARC record
of its own (a WARC archived inside a WARC) can fool the boundary search of a range that
starts inside that body. Gzip WARCs do not have this problem.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import IO

import brotli
from fastwarc.warc import ArchiveIterator, HeaderMap, WarcHeader, WarcRecordType
from fastwarc.warc import WarcRecord as FastRecord

from flamboyance.crawl.charset import charset_param
from flamboyance.shards import storage
from flamboyance.shards.stats import Stats

_GZIP_MAGIC = b"\x1f\x8b\x08"
_PLAIN_MARK = b"WARC/1."
_SCAN_CHUNK = 1 << 16
_MAX_HEADER = 1 << 16
_TYPE_NAMES = {
    int(getattr(WarcRecordType, name)): name
    for name in (
        "warcinfo", "response", "resource", "request", "metadata",
        "revisit", "conversion", "continuation", "unknown",
    )
}
_TYPE_BITS = {name: bit for bit, name in _TYPE_NAMES.items()}


class WarcRecord:
    """One WARC record with its HTTP payload decoded, ready for extraction.

    ``record_type``, ``offset`` (where the record starts in the file; the compressed
    offset for gzip) and ``body`` (the HTTP payload with chunking and content-encoding
    undone) are plain attributes. The header fields are properties read from the header
    maps FastWARC already parsed, on first use: a pipeline that drops most records by
    content type never pays for the rest, which keeps this reader near FastWARC's speed.
    """

    __slots__ = ("record_type", "offset", "body", "_raw", "_http_dict")

    def __init__(self, record_type: str, offset: int, body: bytes, raw: FastRecord) -> None:
        self.record_type = record_type
        self.offset = offset
        self.body = body
        self._raw = raw  # FastWARC's record, kept for its parsed headers
        self._http_dict: dict[str, str] | None = None

    @property
    def target_uri(self) -> str:
        return self._raw.headers.get(WarcHeader.WARC_TARGET_URI) or ""

    @property
    def date(self) -> str:
        """The WARC-Date as written, e.g. ``2015-06-01T00:00:00Z``."""
        return self._raw.headers.get(WarcHeader.WARC_DATE) or ""

    @property
    def record_id(self) -> str:
        return self._raw.headers.get(WarcHeader.WARC_RECORD_ID) or ""

    @property
    def http_status(self) -> int | None:
        return self._raw.http_headers.status_code if self._raw.is_http else None

    @property
    def http_headers(self) -> dict[str, str]:
        """HTTP headers by lower-cased name (the last one wins where a name repeats)."""
        if self._http_dict is None:
            self._http_dict = _lowered(self._raw.http_headers) if self._raw.is_http else {}
        return self._http_dict

    @property
    def content_type(self) -> str:
        """The mime type without parameters, lower-cased: from HTTP, else from the WARC header."""
        if self._raw.is_http:
            header = self.http_headers.get("content-type")
        else:
            header = self._raw.headers.get(WarcHeader.CONTENT_TYPE)
        return (header or "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The charset parameter of the HTTP Content-Type, if any (a label, not validated)."""
        return charset_param(self.http_headers.get("content-type", ""))

    def __repr__(self) -> str:
        return (
            f"WarcRecord({self.record_type} {self.target_uri!r} at {self.offset}, "
            f"HTTP {self.http_status}, {self.content_type or '?'}, {len(self.body)} bytes)"
        )


def plan_ranges(path: str, unit_bytes: int) -> list[tuple[int, int | None]]:
    """Split a file into byte ranges of about ``unit_bytes`` for ``iter_records``.

    Only the file size is looked at: the ranges are correct whatever their edges because
    every unit searches for its first record boundary.
    """
    if unit_bytes <= 0:
        raise ValueError(f"unit_bytes must be positive, got {unit_bytes}")
    total = storage.size(path)
    starts = list(range(0, max(total, 1), unit_bytes))
    return [(begin, begin + unit_bytes) for begin in starts[:-1]] + [(starts[-1], None)]


def iter_records(
    path: str,
    start: int = 0,
    end: int | None = None,
    stats: Stats | None = None,
    record_types: Iterable[str] = ("response",),
) -> Iterator[WarcRecord]:
    """Yield the records of ``record_types`` whose start offset lies in ``[start, end)``.

    Raises FileNotFoundError for a missing file and ValueError for an unknown record
    type; everything wrong inside the file is counted in ``stats`` and skipped.
    """
    stats = stats if stats is not None else Stats()
    unknown = set(record_types) - _TYPE_BITS.keys()
    if unknown:
        raise ValueError(f"unknown WARC record types {sorted(unknown)}; known: {sorted(_TYPE_BITS)}")
    wanted = 0
    for name in record_types:
        wanted |= _TYPE_BITS[name]
    try:
        stream = storage.open_input(path)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"WARC file not found: {path}") from error
    with stream:
        gz = stream.read(2) == _GZIP_MAGIC[:2]
        total = stream.seek(0, 2)
        limit = total if end is None else min(end, total)
        if start < limit:
            stats.add("warc/bytes", limit - start)
        # A file starts with a record; if it does not, the first parse error resyncs.
        position = 0 if start == 0 else _next_boundary(stream, start, gz, limit)
        while position is not None and position < limit:
            # FastWARC reads a local file faster by itself than through a Python file
            # object; it can do so only from the start, resyncs go through `stream`.
            source = storage.local_path(path) if position == 0 and storage.is_local(path) else stream
            resume = yield from _read_run(source, stream, position, gz, limit, wanted, stats)
            if resume is None:
                return
            position, damaged_from = resume
            position = _next_boundary(stream, position, gz, limit)
            stats.add("warc/bytes_skipped", (limit if position is None else position) - damaged_from)


def read_record_at(path: str, offset: int, record_types: Iterable[str] = ("response",)) -> WarcRecord | None:
    """The record that starts at ``offset`` (an index's lookup), or None if it cannot be read there."""
    records = iter_records(path, start=offset, end=offset + 1, record_types=record_types)
    try:
        return next(records, None)
    except OSError:  # the file is gone or unreadable since it was indexed
        return None
    finally:
        records.close()  # closes the file now, not when the generator is collected


def _read_run(
    source: str | IO[bytes], stream: IO[bytes], position: int, gz: bool, limit: int, wanted: int, stats: Stats
) -> Iterator[WarcRecord]:
    """Read records with FastWARC from a boundary until the range ends or the data breaks.

    Returns None when done, else ``(search_from, damaged_from)``: where to look for the
    next boundary, and where the damaged bytes begin (for the skipped-bytes counter).
    A record is held back until the record after it parses (or, for the last one, until
    it is checked whole), because a truncated record is not always noticed while it is
    read: its declared length may run into the next record, or the file may end inside
    its headers.
    """
    stream.seek(position)  # `source` is either this stream or the file's path with position 0
    held: WarcRecord | None = None
    last: int | None = None  # start of the last record FastWARC parsed in this run
    reading = False
    yielded = 0
    try:
        for raw in ArchiveIterator(source, record_types=WarcRecordType.any_type):
            last = raw.stream_pos
            if last >= limit:
                break
            if held is not None:
                yielded += 1
                yield held
                held = None
            kind = int(raw.record_type)
            if not kind & wanted:
                stats.add(f"warc/skipped/{_TYPE_NAMES.get(kind, 'unknown')}")
                continue
            reading = True
            held = _convert(raw, kind, last, stats)
            reading = False
    except OSError as error:
        reason = "gzip" if "zip" in str(error).lower() else "format"
        if last is None or reading:
            # The record FastWARC was on is broken itself.
            broken = position if last is None else last
            stats.add(f"warc/corrupt/{reason}")
            return broken + 1, broken
        # Parsing broke after the last record: was that record whole?
        last_end = record_end(stream, last, gz)
        if last_end is None:
            stats.add("warc/corrupt/truncated")
            return last + 1, last
        if held is not None:
            yielded += 1
            yield held
        stats.add(f"warc/corrupt/{reason}")
        return last_end, last_end
    finally:
        stats.add("warc/records", yielded)
    if last is not None and last >= limit:  # the range ended; the next record parsed
        if held is not None:
            stats.add("warc/records")
            yield held
        return None
    # FastWARC saw the end of the data: was the last record whole, and the file over?
    last_end = None if last is None else record_end(stream, last, gz)
    if last_end is None and last is not None:
        stats.add("warc/corrupt/truncated")
        return last + 1, last
    if held is not None:
        stats.add("warc/records")
        yield held
    tail = position if last_end is None else last_end
    if tail < limit:
        stats.add("warc/corrupt/trailing_data")
        return tail, tail
    return None


def _convert(raw: FastRecord, kind: int, offset: int, stats: Stats) -> WarcRecord | None:
    """Our record from FastWARC's; None when the payload is short or undecodable."""
    body = raw.reader.read()
    if len(body) < raw.content_length:
        return None  # the file ended inside the record; the end-of-run check counts it
    record = WarcRecord(_TYPE_NAMES.get(kind, "unknown"), offset, body, raw)
    if raw.is_http and b"encoding" in b" ".join(raw.http_headers.keys_bytes()).lower():
        decoded = _decode_payload(body, record.http_headers, stats)
        if decoded is None:
            return None
        record.body = decoded
    return record


def _lowered(headers: HeaderMap) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _decode_payload(body: bytes, http_headers: dict[str, str], stats: Stats) -> bytes | None:
    """Undo chunked transfer-encoding and gzip/deflate/br content-encoding.

    Archivers often store the payload already de-chunked but keep the header, so a body
    that does not parse as chunks is kept as it is (and counted). A body that does not
    decode under its declared content-encoding is dropped (counted).
    """
    if "chunked" in http_headers.get("transfer-encoding", "").lower():
        dechunked = _dechunk(body)
        if dechunked is None:
            stats.add("warc/lenient/not_chunked")
        else:
            body = dechunked
    coding = http_headers.get("content-encoding", "").strip().lower()
    if coding in ("", "identity"):
        return body
    decoder = _DECODERS.get(coding)
    if decoder is None:
        stats.add("warc/skipped/content_encoding")
        return None
    try:
        decoded = decoder(body)
    except (zlib.error, brotli.error):  # the payload is damaged
        stats.add("warc/corrupt/content_encoding")
        return None
    if decoded is None:
        stats.add("warc/skipped/too_large")
    return decoded


def _dechunk(body: bytes) -> bytes | None:
    """The payload of a chunked body; a truncated last chunk keeps what arrived."""
    parts = []
    position = 0
    while True:
        line_end = body.find(b"\n", position)
        if line_end < 0:
            return None if not parts else b"".join(parts)
        try:
            size = int(body[position:line_end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return None
        if size < 0:
            return None
        if size == 0:
            return b"".join(parts)
        chunk_start = line_end + 1
        parts.append(body[chunk_start : chunk_start + size])
        position = chunk_start + size
        if position >= len(body):
            return b"".join(parts)
        position = body.find(b"\n", position) + 1  # past the CRLF after the chunk
        if position == 0:
            return b"".join(parts)


def _inflate(body: bytes, wbits: int) -> bytes | None:
    """Decompress zlib/gzip/raw deflate, tolerating a truncated end; None past the size cap."""
    decompressor = zlib.decompressobj(wbits)
    decoded = decompressor.decompress(body, _MAX_DECODED)
    return None if decompressor.unconsumed_tail else decoded


def _deflate(body: bytes) -> bytes | None:
    # "deflate" should mean zlib-wrapped, but many servers send raw deflate.
    try:
        return _inflate(body, zlib.MAX_WBITS)
    except zlib.error:
        return _inflate(body, -zlib.MAX_WBITS)


def _brotli(body: bytes) -> bytes | None:
    decoded = brotli.decompress(body)
    return decoded if len(decoded) <= _MAX_DECODED else None


_MAX_DECODED = 64 << 20  # a decompressed payload beyond this is a bomb, not a page
_DECODERS = {
    "gzip": lambda body: _inflate(body, 32 + zlib.MAX_WBITS),
    "x-gzip": lambda body: _inflate(body, 32 + zlib.MAX_WBITS),
    "deflate": _deflate,
    "br": _brotli,
}


def _next_boundary(stream: IO[bytes], position: int, gz: bool, limit: int) -> int | None:
    """The first offset in ``[position, limit)`` where a whole record starts, or None."""
    for candidate in _candidates(stream, position, gz, limit):
        if record_end(stream, candidate, gz) is not None:
            return candidate
    return None


def _candidates(stream: IO[bytes], position: int, gz: bool, limit: int) -> Iterator[int]:
    """Offsets in ``[position, limit)`` that look like a record start: a gzip magic, or
    ``WARC/1.`` (anywhere, since a record cut short leaves the next one mid-line).
    The caller may move the stream between candidates."""
    mark = _GZIP_MAGIC if gz else _PLAIN_MARK
    base = position  # file offset of window[0]
    window = b""
    while base < limit:
        stream.seek(base + len(window))
        chunk = stream.read(_SCAN_CHUNK)
        window += chunk
        found = window.find(mark)
        while found >= 0:
            if base + found >= limit:
                return
            yield base + found
            found = window.find(mark, found + 1)
        if not chunk:
            return
        drop = max(len(window) - (len(mark) - 1), 0)
        base += drop
        window = window[drop:]


def record_end(stream: IO[bytes], offset: int, gz: bool) -> int | None:
    """Where the record starting at ``offset`` ends, or None if it is not a whole record.

    This one test decides both where a range's first record is and whether a record
    before a parse error was whole, so that neighbouring ranges agree on every record.
    """
    stream.seek(offset)
    if gz:
        return _member_end(stream, offset)
    head = stream.read(_MAX_HEADER)
    header_end = head.find(b"\r\n\r\n")
    if not head.startswith(b"WARC/1.") or header_end < 0:
        return None
    length = None
    for line in head[:header_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None
    if length is None or length < 0:
        return None
    end = offset + header_end + 4 + length
    stream.seek(end)
    return end + 4 if stream.read(4) == b"\r\n\r\n" else None


def _member_end(stream: IO[bytes], offset: int) -> int | None:
    """The end of the gzip member at the stream's position if it is whole and holds a
    WARC record; its output is checked and dropped piece by piece (fixed memory)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = b""
    consumed = 0
    while not decompressor.eof:
        pending = stream.read(_SCAN_CHUNK)
        if not pending:
            return None
        consumed += len(pending)
        while pending and not decompressor.eof:
            try:
                output = decompressor.decompress(pending, _SCAN_CHUNK)
            except zlib.error:
                return None
            pending = decompressor.unconsumed_tail
            if len(head) < 7:
                head += output[: 7 - len(head)]
                if b"WARC/1."[: len(head)] != head:
                    return None
    if head != b"WARC/1.":
        return None
    return offset + consumed - len(decompressor.unused_data)

