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

Three kinds of file are read whole, never in ranges (``plan_ranges`` gives them one unit,
and a range that starts inside one is refused with a ValueError):

- a gzip WARC compressed as one stream rather than member by member: no offset inside it
  can be decompressed from, so its records carry their number in the file as ``offset``;
- an ARC file (the format before WARC), read with warcio, which converts its records;
- nothing else: every other file is split as above.

Files whose first header is ClueWeb-style (``WARC/0.18``, or bare ``\n`` line ends) are parsed
in FastWARC's quirks mode, which reads their malformed WARC and HTTP headers (in strict mode
their HTTP headers come out empty and every page looks like "not HTML"); the boundary test
accepts them too.
Every record parsed is counted in ``warc/read``; it is either yielded (``warc/records``) or
counted by why it was not (``warc/skipped/<type or reason>``, ``warc/corrupt/content_encoding``),
so those add up to ``warc/read``.

Limitation: in a plain (uncompressed) WARC a record whose body holds a whole WARC record
of its own (a WARC archived inside a WARC) can fool the boundary search of a range that
starts inside that body. Gzip WARCs do not have this problem.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any

import brotli
from fastwarc.warc import ArchiveIterator, HeaderMap, WarcHeader, WarcRecordType
from fastwarc.warc import WarcRecord as FastRecord

from flamboyance.crawl.charset import charset_param
from flamboyance.shards import storage
from flamboyance.shards.stats import Stats

_GZIP_MAGIC = b"\x1f\x8b\x08"
_PLAIN_MARK = b"WARC/"
_ARC_MARK = b"filedesc://"
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
    def robots_tags(self) -> list[str]:
        """The values of every ``X-Robots-Tag`` HTTP header (a page may send several)."""
        if not self._raw.is_http:
            return []
        return [value for name, value in self._raw.http_headers.items() if name.lower() == "x-robots-tag"]

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


class ArcRecord(WarcRecord):
    """A record of an ARC file, as warcio converts it, with ``WarcRecord``'s fields."""

    __slots__ = ("_headers", "_status")

    def __init__(self, record_type: str, offset: int, body: bytes, headers: dict[str, str], http: dict[str, str], status: int | None):
        super().__init__(record_type, offset, body, None)
        self._headers = headers
        self._http_dict = http
        self._status = status

    @classmethod
    def convert(cls, record: Any, payload: bytes, offset: int, stats: Stats) -> "ArcRecord | None":
        """Ours from a warcio record (payload decoded as for WARC records); None if undecodable."""
        http = {}
        status = None
        if record.http_headers is not None:
            http = {name.lower(): value for name, value in record.http_headers.headers}
            try:
                status = int(record.http_headers.get_statuscode())
            except (TypeError, ValueError):
                status = None
        body = _decode_payload(payload, http, stats)
        if body is None:
            return None
        headers = {name.lower(): value for name, value in record.rec_headers.headers}
        return cls(record.rec_type, offset, body, headers, http, status)

    @property
    def target_uri(self) -> str:
        return self._headers.get("warc-target-uri", "")

    @property
    def date(self) -> str:
        return self._headers.get("warc-date", "")

    @property
    def record_id(self) -> str:
        return self._headers.get("warc-record-id", "")

    @property
    def http_status(self) -> int | None:
        return self._status

    @property
    def robots_tags(self) -> list[str]:
        tags = self._http_dict.get("x-robots-tag")
        return [tags] if tags else []

    @property
    def content_type(self) -> str:
        header = self._http_dict.get("content-type") if self._status is not None else self._headers.get("content-type")
        return (header or "").split(";", 1)[0].strip().lower()


def plan_ranges(path: str, unit_bytes: int) -> list[tuple[int, int | None]]:
    """Split a file into byte ranges of about ``unit_bytes`` for ``iter_records``.

    Only the file size is looked at (and, for a large file, its first record, since a
    single-stream gzip WARC or an ARC file is one unit): the ranges are correct whatever
    their edges because every unit searches for its first record boundary.
    """
    if unit_bytes <= 0:
        raise ValueError(f"unit_bytes must be positive, got {unit_bytes}")
    total = storage.size(path)
    if total > unit_bytes and file_kind(path) != PER_RECORD:
        return [(0, None)]
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
        kind, quirks = _kind_of(path, total)
        if kind != PER_RECORD:
            if start > 0:
                raise ValueError(
                    f"{path} is {kind}: it can only be read whole, not from byte {start} "
                    "(recompress it record by record, e.g. with `warcio recompress`)"
                )
            reader = _read_single_stream if kind == _SINGLE_STREAM else _read_arc
            yield from reader(stream, wanted, stats, quirks)
            return
        # A file starts with a record; if it does not, the first parse error resyncs.
        position = 0 if start == 0 else _next_boundary(stream, start, gz, limit)
        while position is not None and position < limit:
            # FastWARC reads a local file faster by itself than through a Python file
            # object; it can do so only from the start, resyncs go through `stream`.
            source = storage.local_path(path) if position == 0 and storage.is_local(path) else stream
            resume = yield from _read_run(source, stream, position, gz, limit, wanted, stats, quirks)
            if resume is None:
                return
            position, damaged_from = resume
            position = _next_boundary(stream, position, gz, limit)
            stats.add("warc/bytes_skipped", (limit if position is None else position) - damaged_from)


PER_RECORD, _SINGLE_STREAM, _ARC = "per-record", "a gzip WARC compressed as one stream", "an ARC file"


def file_kind(path: str) -> str:
    """How a WARC file can be read: ``per-record`` (in byte ranges), or a description of
    why it must be read whole (single-stream gzip, ARC)."""
    return _kind_of(path, storage.size(path))[0]


def _kind_of(path: str, size: int) -> tuple[str, bool]:
    """``_file_kind`` of a file, sniffed once per process and version of the file: an
    index lookup (``read_record_at``, once per replayed image) would otherwise inflate the
    file's first record again each time."""
    modified = os.path.getmtime(storage.local_path(path)) if storage.is_local(path) else None
    return _sniffed_kind(path, size, modified)


@functools.lru_cache(maxsize=1024)
def _sniffed_kind(path: str, size: int, modified: float | None) -> tuple[str, bool]:
    with storage.open_input(path) as stream:
        return _file_kind(stream, stream.read(2) == _GZIP_MAGIC[:2])


def _file_kind(stream: IO[bytes], gz: bool) -> tuple[str, bool]:
    """Sniff the start of the file: ARC, or gzip whose first member holds more than one
    record; and whether its first header asks for quirks mode (see ``_needs_quirks``)."""
    stream.seek(0)
    if not gz:
        head = stream.read(_MAX_HEADER)
        return (_ARC if head.startswith(_ARC_MARK) else PER_RECORD), _needs_quirks(head)
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = b""
    produced = 0
    record_size = None  # decompressed size of the first record, once its header is read
    while not decompressor.eof:
        chunk = stream.read(_SCAN_CHUNK)
        if not chunk:
            break
        while chunk and not decompressor.eof:
            try:
                output = decompressor.decompress(chunk, _SCAN_CHUNK)
            except zlib.error:
                return PER_RECORD, False  # damaged: the normal reader counts it
            chunk = decompressor.unconsumed_tail
            produced += len(output)
            if len(head) < _MAX_HEADER:
                head += output[: _MAX_HEADER - len(head)]
                if head.startswith(_ARC_MARK):
                    return _ARC, False
            if record_size is None:
                length, body_start = _header_length(head)
                if length is not None:
                    record_size = body_start + length
            if record_size is not None and produced > record_size + 4:
                return _SINGLE_STREAM, _needs_quirks(head)  # the first member goes on past the first record
    return PER_RECORD, _needs_quirks(head)


def _needs_quirks(head: bytes) -> bool:
    """Whether a file starting with ``head`` is ClueWeb-style (a pre-1.0 version line, or
    header lines ending in a bare ``\n``), to be parsed in FastWARC's quirks mode.

    Quirks mode is not the default: it also accepts a record whose block runs into the
    next one, which hides the damage that the strict parser reports and we resync after.
    """
    first_line = head.split(b"\n", 1)[0]
    return head.startswith(_PLAIN_MARK) and (not first_line.endswith(b"\r") or not first_line.startswith((b"WARC/1.0", b"WARC/1.1")))


def _read_single_stream(stream: IO[bytes], wanted: int, stats: Stats, quirks: bool) -> Iterator[WarcRecord]:
    """Every record of a one-stream gzip WARC, front to back; a break ends the file (counted)."""
    stream.seek(0)
    number = 0
    try:
        for raw in ArchiveIterator(stream, record_types=WarcRecordType.any_type, quirks_mode=quirks):
            stats.add("warc/read")
            number += 1
            kind = int(raw.record_type)
            if not kind & wanted:
                stats.add(f"warc/skipped/{_TYPE_NAMES.get(kind, 'unknown')}")
                continue
            record = _convert(raw, kind, number - 1, stats, short="warc/corrupt/truncated")
            if record is not None:
                stats.add("warc/records")
                yield record
    except OSError as error:
        stats.add("warc/corrupt/gzip" if "zip" in str(error).lower() else "warc/corrupt/format")


def _read_arc(stream: IO[bytes], wanted: int, stats: Stats, _quirks: bool) -> Iterator[WarcRecord]:
    """The records of an ARC file, converted to WARC records by warcio (FastWARC reads no ARC)."""
    from warcio.archiveiterator import ArchiveIterator as WarcioIterator
    from warcio.exceptions import ArchiveLoadFailed

    stream.seek(0)
    records = WarcioIterator(stream, arc2warc=True)
    try:
        for record in records:
            stats.add("warc/read")
            kind = _TYPE_BITS.get(record.rec_type, _TYPE_BITS["unknown"])
            if not kind & wanted:
                stats.add(f"warc/skipped/{record.rec_type}")
                continue
            payload = record.raw_stream.read()  # before get_record_offset, which skips to the record's end
            converted = ArcRecord.convert(record, payload, records.get_record_offset(), stats)
            if converted is not None:
                stats.add("warc/records")
                yield converted
    except (ArchiveLoadFailed, OSError, ValueError, zlib.error):
        stats.add("warc/corrupt/arc")


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
    source: str | IO[bytes], stream: IO[bytes], position: int, gz: bool, limit: int, wanted: int, stats: Stats, quirks: bool
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
        for raw in ArchiveIterator(source, record_types=WarcRecordType.any_type, quirks_mode=quirks):
            last = raw.stream_pos
            if last >= limit:
                break
            stats.add("warc/read")
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


def _convert(raw: FastRecord, kind: int, offset: int, stats: Stats, short: str | None = None) -> WarcRecord | None:
    """Our record from FastWARC's; None when the payload is short or undecodable.

    A short payload means the file ended inside the record: counted as ``short`` if given,
    else left to the caller's end-of-run check."""
    body = raw.reader.read()
    if len(body) < raw.content_length:
        if short:
            stats.add(short)
        return None
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
    Lines may end in ``\r\n`` or, as in ClueWeb09, in a bare ``\n``.
    """
    stream.seek(offset)
    if gz:
        return _member_end(stream, offset)
    head = stream.read(_MAX_HEADER)
    length, body_start = _header_length(head)
    if length is None:
        return None
    end = offset + body_start + length
    stream.seek(end)
    trailer = stream.read(4)
    if trailer == b"\r\n\r\n":
        return end + 4
    return end + 2 if trailer[:2] == b"\n\n" else None


def _header_length(head: bytes) -> tuple[int | None, int]:
    """The Content-Length of the WARC header at the start of ``head`` and where its block
    starts; ``(None, 0)`` if ``head`` does not start with a whole WARC header."""
    if not head.startswith(_PLAIN_MARK):
        return None, 0
    crlf, lf = head.find(b"\r\n\r\n"), head.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        header, body_start = head[:crlf], crlf + 4
    elif lf >= 0:
        header, body_start = head[:lf], lf + 2
    else:
        return None, 0
    length = None
    for line in header.split(b"\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None, 0
    return (length, body_start) if length is not None and length >= 0 else (None, 0)


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
            if len(head) < len(_PLAIN_MARK):
                head += output[: len(_PLAIN_MARK) - len(head)]
                if _PLAIN_MARK[: len(head)] != head:
                    return None
    if head != _PLAIN_MARK:
        return None
    return offset + consumed - len(decompressor.unused_data)

