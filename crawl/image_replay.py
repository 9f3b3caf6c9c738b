"""Image bytes replayed from WARC files, for offline and reproducible builds.

A build given ``--image-warc`` never downloads an image: it scans those WARCs once,
before any unit starts, into an ``ImageIndex`` (URL -> file and record offset) that is
shipped to every Ray task. A task then asks the index for the images of a batch of pages
and reads each record by seeking to its offset.

The index must be small, because every task gets a copy: it holds no URLs, only a
64-bit hash of each normalised URL, sorted, with the file number and offset beside it in
three numpy arrays (20 bytes per image, so 10 million images take 200 MB). Two URLs
with the same hash are told apart when the record is read: its own WARC-Target-URI must
match the URL asked for, otherwise the next candidate is tried.

Reading one record per lookup is cheap enough: WARCs written for replay (Common Crawl's,
ours) hold one gzip member per record, so a seek lands on a record that decompresses
on its own, and an image record is tens of kilobytes. ``get_many`` sorts a batch by
file and offset so the reads of a batch move forward through each file, which the OS's
read-ahead (or an object store's range reads) serves well.
"""

from __future__ import annotations

import hashlib
import re
import string
from typing import Iterator
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import numpy as np

from flamboyance.crawl.fetch.fetcher import REDIRECTS
from flamboyance.crawl.warc import WarcRecord, iter_records, read_record_at
from flamboyance.shards.stats import Stats

# What get_many answers for one URL: the image bytes, or why there are none.
Replayed = bytes | str

RECORD_TYPES = ("response", "resource")
_MAXREDIRECTS = 5

# --- URL normalisation --------------------------------------------------------------

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# RFC 3986 reserved characters keep their meaning, so they are left as written; "%"
# is kept so that existing escapes are not escaped a second time.
_KEEP = "!#$&'()*+,/:;=?@[]%"
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _normalise_escapes(text: str) -> str:
    """Escape what may not appear in a URI; write escapes as RFC 3986 section 6.2.2 does.

    Characters outside the URI character set (spaces, non-ASCII as UTF-8) are escaped,
    as a browser does before sending the request; %xx escapes get upper-case hex, and an
    escaped unreserved character (``%41`` for ``A``) is unescaped. Escapes of reserved
    characters stay escaped: ``a%2Fb`` and ``a/b`` are different paths.
    """
    text = quote(text, safe=_KEEP, errors="surrogatepass")

    def canonical(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _ESCAPE.sub(canonical, text)


def normalize_url(url: str) -> str:
    """The form in which a URL is looked up, on both the index and the query side.

    Only changes that keep the URL's meaning: no fragment (never sent to a server),
    lower-case scheme and host, no default port, an empty path as ``/``, canonical
    percent-escapes. The path is otherwise untouched (no case folding, no reordering of
    the query), since servers may treat those differently.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. a malformed IPv6 host: keep the text, minus the fragment
        return url.strip().partition("#")[0]
    scheme = parts.scheme.lower()
    userinfo, _, host = parts.netloc.rpartition("@")
    host = host.lower()
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and host.endswith(default_port):
        host = host[: -len(default_port)]
    netloc = f"{userinfo}@{host}" if userinfo else host
    path = _normalise_escapes(parts.path) or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, path, _normalise_escapes(parts.query), ""))


def url_key(url: str) -> int:
    """The 64-bit key of a URL in the index (a hash of its normalised form)."""
    digest = hashlib.blake2b(normalize_url(url).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


# --- the index ----------------------------------------------------------------------


class ImageIndex:
    """Where each image URL's record is in a set of WARC files; an ``ImageSource``.

    Built by ``build_index``. When a URL was archived more than once, a 2xx record is
    preferred to a redirect and a redirect to an error, then the earliest in file order.
    """

    def __init__(self, paths: list[str], keys: np.ndarray, files: np.ndarray, offsets: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.paths = list(paths)
        self.keys = np.ascontiguousarray(keys[order], dtype=np.uint64)
        self.files = np.ascontiguousarray(files[order], dtype=np.uint32)
        self.offsets = np.ascontiguousarray(offsets[order], dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.keys)

    def _candidates(self, url: str) -> list[tuple[int, int]]:
        """(file number, offset) of every record whose URL hash matches, best first."""
        key = np.uint64(url_key(url))
        first = int(np.searchsorted(self.keys, key, side="left"))
        last = int(np.searchsorted(self.keys, key, side="right"))
        return [(int(self.files[i]), int(self.offsets[i])) for i in range(first, last)]

    def get(self, url: str) -> bytes | None:
        """The archived bytes of an image URL, or None (``get_many`` says why)."""
        result = self.get_many([url])[url]
        return result if isinstance(result, bytes) else None

    def get_many(self, urls: list[str]) -> dict[str, Replayed]:
        """Bytes or a failure reason ("not_in_warc", "http_<status>", "read_error") per URL."""
        located = {url: self._candidates(url) for url in dict.fromkeys(urls)}
        results: dict[str, Replayed] = {url: "not_in_warc" for url, found in located.items() if not found}
        batch = sorted((found[0], url) for url, found in located.items() if found)
        for _, url in batch:
            results[url] = self._replay(url, located[url])
        return results

    def _replay(self, url: str, candidates: list[tuple[int, int]]) -> Replayed:
        """Follow the record for ``url`` through archived redirects to its payload."""
        hops = 0
        while True:
            record = self._read_matching(url, candidates)
            if isinstance(record, str):
                return record
            status = record.http_status
            if status is None or 200 <= status < 300:
                return record.body
            location = record.http_headers.get("location")
            if status not in REDIRECTS or not location or hops == _MAXREDIRECTS:
                return f"http_{status}"
            url = urljoin(record.target_uri, location)
            candidates = self._candidates(url)
            if not candidates:
                return f"http_{status}"  # redirected to something that was not archived
            hops += 1

    def _read_matching(self, url: str, candidates: list[tuple[int, int]]) -> WarcRecord | str:
        wanted = normalize_url(url)
        for file_id, offset in candidates:
            record = read_record_at(self.paths[file_id], offset, RECORD_TYPES)
            if record is None:
                return "read_error"
            if normalize_url(record.target_uri) == wanted:
                return record
        return "not_in_warc"  # only hash collisions with other URLs


def _preference(record: WarcRecord) -> int:
    """Lower is better: which of several records of one URL a lookup should find first."""
    status = record.http_status
    if status is None or 200 <= status < 300:
        return 0
    return 1 if status in REDIRECTS else 2


def _scan(paths: list[str], stats: Stats) -> Iterator[tuple[int, int, int, int]]:
    for file_id, path in enumerate(paths):
        for record in iter_records(path, stats=stats, record_types=RECORD_TYPES):
            if not record.target_uri:
                stats.add("image_index/skipped/no_target_uri")
                continue
            stats.add("image_index/records")
            yield url_key(record.target_uri), _preference(record), file_id, record.offset


def build_index(paths: list[str], stats: Stats | None = None) -> ImageIndex:
    """Scan image WARCs once and index every response record by its target URL.

    Raises FileNotFoundError for a missing file; damaged records are skipped and
    counted in ``stats`` by the WARC reader.
    """
    stats = stats if stats is not None else Stats()
    return index_of_rows(paths, scan_rows(paths, stats))


def scan_rows(paths: list[str], stats: Stats, first_file: int = 0) -> np.ndarray:
    """``(url key, preference, file number, offset)`` of every image record, as a uint64 matrix."""
    rows = np.array(list(_scan(paths, stats)), dtype=np.uint64).reshape(-1, 4)
    rows[:, 2] += np.uint64(first_file)
    return rows


def index_of_rows(paths: list[str], rows: np.ndarray) -> ImageIndex:
    """The index of scanned rows, from any number of files (``scan_rows``), in any order."""
    # Sort by preference within file order, so the stable sort by key in ImageIndex
    # leaves the preferred record of a URL first among its duplicates.
    rows = rows[np.lexsort((rows[:, 3], rows[:, 2], rows[:, 1]))]
    return ImageIndex(paths, keys=rows[:, 0], files=rows[:, 2], offsets=rows[:, 3])
