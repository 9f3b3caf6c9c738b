"""Writing WARC/1.0 files: the crawler's ``--save-warc`` and the fixtures of our tests.

Each record is its own gzip member, as in Common Crawl, so any record can be read by
seeking to its offset and a byte range of the file can be read on its own
(``crawl/warc.py``). Records carry SHA-1 block and payload digests in base32, the form
other WARC tools verify. The file appears only when the writer closes cleanly
(``shards.storage.atomic_writer``), so a crashed crawl never leaves half a WARC.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import uuid
import zlib
from datetime import datetime, timezone
from http import HTTPStatus
from types import TracebackType
from typing import IO

from flamboyance.shards import storage

WARC_VERSION = b"WARC/1.0"


class WarcWriter:
    """Write WARC records to a path (atomically) or to an open binary stream.

    >>> with WarcWriter("crawl.warc.gz") as warc:
    ...     offset = warc.write_response("https://example.org/", 200,
    ...                                  [("Content-Type", "text/html")], b"<p>hi</p>")
    """

    def __init__(self, target: str | IO[bytes], gzip: bool = True, compress_level: int = 6) -> None:
        self.target = target
        self.gzip = gzip
        self.compress_level = compress_level
        self.position = 0
        self._stream: IO[bytes] | None = None
        self._exits = contextlib.ExitStack()

    def __enter__(self) -> "WarcWriter":
        if isinstance(self.target, str):
            self._stream = self._exits.enter_context(storage.atomic_writer(self.target))
        else:
            self._stream = self.target
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stream = None
        self._exits.__exit__(exc_type, exc, traceback)

    def write_response(
        self,
        url: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        date: datetime | None = None,
    ) -> int:
        """Write an HTTP response record with ``body`` exactly as given; return its offset.

        Headers are written as given too: a test that wants a chunked or gzip-encoded
        payload passes the encoded body together with the header that says so.
        """
        http_head = _http_head(f"HTTP/1.1 {status} {_reason(status)}", headers)
        return self._write(
            "response",
            url,
            date,
            http_head + body,
            payload=body,
            content_type="application/http; msgtype=response",
        )

    def write_request(
        self,
        url: str,
        headers: list[tuple[str, str]],
        method: str = "GET",
        date: datetime | None = None,
    ) -> int:
        """Write the HTTP request that fetched ``url``; return its offset."""
        target = url.split("://", 1)[-1].partition("/")[2]
        http_head = _http_head(f"{method} /{target} HTTP/1.1", headers)
        return self._write(
            "request", url, date, http_head, payload=b"", content_type="application/http; msgtype=request"
        )

    def write_warcinfo(self, fields: dict[str, str], date: datetime | None = None) -> int:
        """Write a warcinfo record (software, operator, ...) describing the file; return its offset."""
        block = b"".join(_header_line(name, value) for name, value in fields.items())
        return self._write("warcinfo", None, date, block, payload=None, content_type="application/warc-fields")

    def _write(
        self,
        record_type: str,
        url: str | None,
        date: datetime | None,
        block: bytes,
        payload: bytes | None,
        content_type: str,
    ) -> int:
        if self._stream is None:
            raise RuntimeError("WarcWriter must be used as a context manager ('with WarcWriter(...) as w:')")
        fields = [
            ("WARC-Type", record_type),
            ("WARC-Record-ID", f"<urn:uuid:{uuid.uuid4()}>"),
            ("WARC-Date", _warc_date(date)),
        ]
        if url is not None:
            fields.append(("WARC-Target-URI", url))
        if payload is not None:
            fields.append(("WARC-Payload-Digest", _sha1(payload)))
        fields += [
            ("WARC-Block-Digest", _sha1(block)),
            ("Content-Type", content_type),
            ("Content-Length", str(len(block))),
        ]
        record = b"".join(
            [WARC_VERSION, b"\r\n", *(_header_line(n, v) for n, v in fields), b"\r\n", block, b"\r\n\r\n"]
        )
        if self.gzip:
            compressor = zlib.compressobj(self.compress_level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            record = compressor.compress(record) + compressor.flush()
        offset = self.position
        self._stream.write(record)
        self.position += len(record)
        return offset


def _header_line(name: str, value: str) -> bytes:
    if any(c in name or c in value for c in "\r\n") or ":" in name:
        raise ValueError(f"header {name!r}: {value!r} would break the record's header block")
    return f"{name}: {value}\r\n".encode("utf-8")


def _http_head(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    return first_line.encode("utf-8") + b"\r\n" + b"".join(_header_line(n, v) for n, v in headers) + b"\r\n"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _warc_date(date: datetime | None) -> str:
    moment = date or datetime.now(timezone.utc)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")
