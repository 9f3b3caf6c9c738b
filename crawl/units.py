"""Units of work: the pieces a build is cut into, one Ray task each.

A unit is a whole WARC file, a byte range of a large one, or a slice of rows of a URL
list. Every unit writes its own shards (named after the unit id), its own stats, and a
completion marker. Unit ids are derived from the input paths and ranges only, so the
same command plans the same units and a re-run can tell which are already done.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from typing import Any

from flamboyance.shards.layout import safe_name


@dataclass(frozen=True)
class Unit:
    """One Ray task's share of the input."""

    id: str
    kind: str  # "warc" or "urls"
    path: str
    start: int = 0  # byte offset (warc) or first row (urls)
    end: int | None = None  # exclusive; None means to the end

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Unit":
        return cls(**data)


def unit_id(path: str, part: int | None = None) -> str:
    """A readable, stable id: the file's base name plus a hash of its full path."""
    base = os.path.basename(path.rstrip("/")).split(".")[0]
    digest = hashlib.sha1(path.encode("utf-8")).hexdigest()[:8]
    suffix = "" if part is None else f"-r{part:04d}"
    return f"{safe_name(base, 40)}-{digest}{suffix}"


def warc_units(paths: list[str], unit_bytes: int) -> list[Unit]:
    """One unit per WARC file, or per byte range where a file is larger than ``unit_bytes``."""
    from flamboyance.crawl.warc import plan_ranges

    units: list[Unit] = []
    for path in paths:
        ranges = plan_ranges(path, unit_bytes)
        if len(ranges) == 1:
            start, end = ranges[0]
            units.append(Unit(unit_id(path), "warc", path, start, end))
            continue
        for part, (start, end) in enumerate(ranges):
            units.append(Unit(unit_id(path, part), "warc", path, start, end))
    return units


def url_units(path: str, rows: int, rows_per_unit: int) -> list[Unit]:
    """Slices of ``rows_per_unit`` rows of a URL list of ``rows`` rows."""
    if rows <= rows_per_unit:
        return [Unit(unit_id(path), "urls", path, 0, rows)]
    return [
        Unit(unit_id(path, part), "urls", path, start, min(start + rows_per_unit, rows))
        for part, start in enumerate(range(0, rows, rows_per_unit))
    ]
