"""URL lists in the three formats: rows, metadata, slices for units, and bad rows counted."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flamboyance.crawl.units import url_units
from flamboyance.crawl.url_list import UrlRow, count_rows, read_rows
from flamboyance.shards.stats import Stats


def test_text_list_skips_blank_and_comment_lines_but_keeps_row_numbers(tmp_path: Path):
    path = tmp_path / "seeds.txt"
    path.write_text("# seeds\nhttps://a.example/1\n\n  https://b.example/é  \nhttps://a.example/1\n", encoding="utf-8")
    stats = Stats()
    rows = list(read_rows(str(path), stats=stats))
    assert rows == [UrlRow(1, "https://a.example/1"), UrlRow(3, "https://b.example/é"), UrlRow(4, "https://a.example/1")]
    assert count_rows(str(path)) == 5
    assert stats.get("urls/rows") == 5 and stats.under("urls/skipped") == {"empty": 2}


def test_jsonl_columns_become_metadata_and_bad_lines_are_counted(tmp_path: Path):
    path = tmp_path / "list.jsonl.gz"
    lines = [
        json.dumps({"url": "https://a.example/", "caption": "a cat", "id": 7}),
        "{not json",
        json.dumps({"caption": "no url here"}),
        json.dumps("https://b.example/"),
        json.dumps([1, 2]),
    ]
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    stats = Stats()
    rows = list(read_rows(str(path), stats=stats))
    assert rows == [UrlRow(0, "https://a.example/", {"caption": "a cat", "id": 7}), UrlRow(3, "https://b.example/")]
    assert stats.under("urls/skipped") == {"bad_json": 2, "no_url": 1}
    assert count_rows(str(path)) == 5


def test_parquet_ranges_read_only_their_rows_across_row_groups(tmp_path: Path):
    path = tmp_path / "list.parquet"
    table = pa.table(
        {
            "url": [f"https://x.example/{i}" if i != 5 else None for i in range(25)],
            "score": [i / 10 for i in range(25)],
            "seen": pa.array([1_700_000_000_000] * 25, type=pa.timestamp("ms")),
        }
    )
    pq.write_table(table, path, row_group_size=10)
    assert count_rows(str(path)) == 25
    units = url_units(str(path), 25, 8)
    assert [(unit.start, unit.end) for unit in units] == [(0, 8), (8, 16), (16, 24), (24, 25)]
    stats = Stats()
    rows = [row for unit in units for row in read_rows(str(path), unit.start, unit.end, stats)]
    assert [row.row for row in rows] == [i for i in range(25) if i != 5]
    assert stats.get("urls/rows") == 25 and stats.under("urls/skipped") == {"no_url": 1}
    assert rows[-1].meta == {"score": 2.4, "seen": "2023-11-14 22:13:20"}
    json.dumps(rows[0].meta)  # metadata must be JSON-ready: it goes into the document


def test_what_cannot_be_a_url_list_is_a_clear_error(tmp_path: Path):
    csv = tmp_path / "list.csv"
    csv.write_text("url\nhttps://a.example/\n")
    with pytest.raises(ValueError, match="must end in .txt, .jsonl"):
        count_rows(str(csv))
    no_url = tmp_path / "links.parquet"
    pq.write_table(pa.table({"link": ["https://a.example/"]}), no_url)
    with pytest.raises(ValueError, match="needs a 'url' column"):
        count_rows(str(no_url))
