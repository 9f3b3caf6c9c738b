"""Documents dropped by a rule, as the partitioned steps of phase 2 exchange them.

Each rule's reduce tasks write their drops partitioned by unit number
(``work/resolve/drops/RULE/pUNIT/...``), so the next step's map task for a unit reads
only its own: which of its records are gone, and for the decisions, why.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from flamboyance.filter.dedup.shuffle import folder, read_part, rows_of, unit_numbers, write_parts

# The document rules in the order they run (``resolve.py``).
DOCUMENT_RULES = ("url", "text", "image_set", "near", "paragraphs_repeated")

SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("survivor_key", pa.string()),  # null: dropped for itself, not for a copy
    ("survivor_url", pa.string()),
    ("score", pa.float64()),  # null: no score
])


def write_drops(output: str, rule: str, source: str, table: pa.Table) -> None:
    """Write a reduce task's drops (``SCHEMA``) to the units they belong to."""
    write_parts(folder(output, "drops", rule), source, table, unit_numbers(table.column("id").to_numpy()))


def unit_drops(output: str, rule: str, unit_number: int) -> pa.Table:
    return read_part(folder(output, "drops", rule), unit_number, SCHEMA)


def alive_rows(output: str, unit_number: int, rows: int, rules: Iterable[str]) -> np.ndarray:
    """The rows of a unit that none of ``rules`` dropped."""
    alive = np.ones(rows, dtype=bool)
    for rule in rules:
        alive[rows_of(unit_drops(output, rule, unit_number).column("id").to_numpy())] = False
    return np.flatnonzero(alive)
