"""The keys of exact duplicates: normalised URLs, and digests of normalised text.

Two copies of a page rarely match byte for byte: crawls differ in white space, case of
headings, or a ``#fragment``. Normalising first makes "exact" mean "the same content".
Digests are 64 bits, stable across processes (blake2b, not Python's salted ``hash``);
at a billion documents the chance of any false match is about 3%, of one given
document being hit about 1e-10.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit


def normalized_url(url: str) -> str:
    """The URL without its fragment: ``page#comments`` is the page itself."""
    return url.split("#", 1)[0].strip()


def domain(url: str) -> str:
    """The host of a URL, lower-cased and without ``www.``: the scope of paragraph dedup."""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def normalized_text(text: str) -> str:
    return " ".join(text.lower().split())


def text_digest(text: str) -> int | None:
    """A 64-bit digest of the normalised text; None for text that is empty once normalised."""
    normalized = normalized_text(text)
    if not normalized:
        return None
    return int.from_bytes(hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
