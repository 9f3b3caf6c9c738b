"""Counters that every stage keeps, written per unit and merged exactly.

Names are slash-separated paths, most general first, so a report can group them:
``warc/records``, ``warc/skipped/non_html``, ``images/failed/http_404``. A unit writes
its counters into its completion marker; the totals of a build are the sum over all
markers, so they stay right after a resume (a unit that is re-done replaces its marker
instead of adding to a running total).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping


class Stats:
    """A bag of named integer counters."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self.counts: Counter[str] = Counter(counts or {})

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)

    def merge(self, other: "Stats") -> "Stats":
        self.counts.update(other.counts)
        return self

    def under(self, prefix: str) -> dict[str, int]:
        """Counters below ``prefix/``, with the prefix removed (e.g. failure reasons)."""
        head = prefix.rstrip("/") + "/"
        return {name[len(head) :]: n for name, n in sorted(self.counts.items()) if name.startswith(head)}

    def to_json(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    @classmethod
    def from_json(cls, data: Mapping[str, int]) -> "Stats":
        return cls({str(k): int(v) for k, v in data.items()})

    @classmethod
    def total(cls, parts: Iterable["Stats"]) -> "Stats":
        result = cls()
        for part in parts:
            result.merge(part)
        return result

    def __repr__(self) -> str:
        return f"Stats({self.to_json()})"
