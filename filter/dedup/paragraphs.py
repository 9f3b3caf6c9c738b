"""Paragraphs repeated across the documents of one domain: boilerplate, kept only once.

Navigation labels, cookie notices, author bios and "related articles" blocks that
survive extraction repeat on every page of a site. OBELICS removes a paragraph from a
document when the same paragraph occurs in another document of the same domain; here
the first occurrence in the survivor order (``clusters.py``: newest first) is kept and
every later one removed, so the text is still seen once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def repeated_paragraphs(domains: Sequence[str], paragraphs: Sequence[Sequence[int]], order: Iterable[int]) -> dict[int, list[int]]:
    """``{record: [text-node positions to remove]}``, visiting records in ``order``.

    ``paragraphs[i][p]`` is the digest of record i's p-th text node (0: empty text,
    never removed).
    """
    seen: dict[str, set[int]] = {}
    removed: dict[int, list[int]] = {}
    for record in order:
        known = seen.setdefault(domains[record], set())
        for position, digest in enumerate(paragraphs[record]):
            if not digest:
                continue
            if digest in known:
                removed.setdefault(record, []).append(position)
            else:
                known.add(digest)
    return removed
