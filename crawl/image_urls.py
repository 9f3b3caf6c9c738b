"""Where an ``<img>`` really points: lazy-load attributes, srcset, and exact URL quoting.

Pages rarely put the real image in ``src`` alone: lazy loaders keep a placeholder there
and the real URL in one of a dozen ``data-*`` attributes, and responsive pages list
several sizes in ``srcset``. OBELICS found 12 such source attributes in Common Crawl;
we read the same family, preferring the largest ``srcset`` candidate (we resize later,
so more pixels are better) and explicit full-size attributes over plain ``src``.

URLs must come out exactly right: one character quoted twice (``%2520``) or not at all
(a raw space) is an image lost at fetch time. ``normalize_url`` quotes what needs
quoting and never touches an existing ``%XX`` escape.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

# Attributes holding a srcset-style list of candidates, most specific first.
SRCSET_ATTRIBUTES = ("data-srcset", "data-lazy-srcset", "data-src-set", "srcset")

# Attributes holding one URL, most trustworthy first; plain ``src`` comes last because
# lazy loaders keep a placeholder there.
SOURCE_ATTRIBUTES = (
    "data-full-src",
    "data-hi-res-src",
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-src2",
    "data-img-src",
    "data-lateloadsrc",
    "data-gt-lazy-src",
    "data-scroll-image",
    "data-src-fg",
    "data-echo",
    "src",
)

_MEDIA_FILE = re.compile(r"\.(?:ogg|oga|ogv|opus|mp3|m4a|wav|flac|mp4|webm|mov|avi|pdf)$", re.IGNORECASE)
_FETCHABLE_SCHEMES = ("http", "https")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Browsers drop ASCII tabs and newlines anywhere in a URL.
_URL_CONTROL = re.compile(r"[\t\n\r]")
# Everything RFC 3986 allows unquoted in a path, query or fragment, plus '%' (escapes are kept).
_SAFE = "!#$%&'()*+,/:;=?@[]~"


def parse_srcset(value: str) -> list[tuple[str, float, str]]:
    """Candidates of a srcset as ``(url, size, unit)`` with unit ``"w"`` or ``"x"``.

    URLs may contain commas (image CDNs use ``w_300,h_200``): as in the HTML spec, a URL
    runs to the next whitespace and only trailing commas end it.
    """
    candidates = []
    position, length = 0, len(value)
    while position < length:
        while position < length and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < length and not value[position].isspace():
            position += 1
        url = value[start:position]
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            end = value.find(",", position)
            end = length if end < 0 else end
            descriptor = value[position:end].strip()
            position = end + 1
        if not url:
            continue
        size, unit = 1.0, "x"
        for token in descriptor.split():
            if token[-1:] in ("w", "x"):
                try:
                    size, unit = float(token[:-1]), token[-1]
                except ValueError:
                    pass
        candidates.append((url, size, unit))
    return candidates


def largest_candidate(srcsets: Iterable[str]) -> str | None:
    """The largest image among srcset values: by width if any has one, else by density."""
    candidates = [c for value in srcsets for c in parse_srcset(value) if is_fetchable_reference(c[0])]
    if not candidates:
        return None
    widths = [c for c in candidates if c[2] == "w"]
    pool = widths or candidates
    return max(pool, key=lambda c: c[1])[0]


def is_fetchable_reference(reference: str) -> bool:
    """False for inline data, scripts, empty values and sound or video files.

    (MediaWiki, for one, renders audio players as ``<img src="x.ogg">``.)
    """
    reference = reference.strip()
    head = reference[:11].lower()
    if not head or head.startswith(("data:", "javascript:", "blob:", "about:", "#")):
        return False
    return not _MEDIA_FILE.search(reference.split("?", 1)[0].split("#", 1)[0])


def image_reference(attributes: Mapping[str, str], extra_srcsets: Iterable[str] = ()) -> str | None:
    """The raw (unresolved) URL an image element stands for, or None.

    ``extra_srcsets`` are the ``srcset`` values of ``<picture><source>`` siblings.
    """
    srcsets = [attributes[name] for name in SRCSET_ATTRIBUTES if attributes.get(name)]
    best = largest_candidate([*srcsets, *extra_srcsets])
    if best:
        return best
    for name in SOURCE_ATTRIBUTES:
        value = attributes.get(name)
        if value and is_fetchable_reference(value):
            return value
    return None


def normalize_url(reference: str, base: str) -> str | None:
    """An absolute, correctly quoted http(s) URL for ``reference`` seen on a page at ``base``.

    Returns None for references that cannot be fetched (other schemes, malformed hosts).
    """
    reference = _URL_CONTROL.sub("", reference).strip()
    if not reference:
        return None
    try:
        absolute = urljoin(base, reference) if base else reference
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in _FETCHABLE_SCHEMES or not parts.hostname:
        return None
    netloc = parts.netloc
    if not netloc.isascii():
        try:
            netloc = netloc.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    path = parts.path.replace("\\", "/") or "/"
    return urlunsplit(
        (parts.scheme.lower(), netloc.lower(), _quote(path), _quote(parts.query), _quote(parts.fragment))
    )


def _quote(component: str) -> str:
    return quote(_LONE_PERCENT.sub("%25", component), safe=_SAFE)
