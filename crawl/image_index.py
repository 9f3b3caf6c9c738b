"""Image WARCs indexed in parallel, in partitions by URL hash, loaded by tasks as they need them.

``image_replay.build_index`` scans every image WARC in one process; for a web-scale
build that is hours on the driver and a copy of the whole index in every task. Here
each WARC is scanned by its own Ray task (``index_warc``), which writes its rows
(``image_replay.scan_rows``) split by ``url_key % parts`` into
``FOLDER/pNNNNN/FILE.npy``. A unit's image source (``PartitionedImages``) loads a
partition only when a URL of the unit hashes to it, and keeps what it loaded for its
later batches. Lookups give what ``build_index``'s index gives: the same rows, sorted
the same way (``image_replay.index_of_rows``).

The image stage (``crawl/image_stage.py``) writes its downloads as WARCs indexed the
same way, plus the failures (``FOLDER/failures/pNNNNN/...parquet``: URL, reason), so
a URL that could not be fetched is reported with its reason, not as missing.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa

from flamboyance.crawl.image_replay import ImageIndex, Replayed, index_of_rows, scan_rows, url_key
from flamboyance.filter.dedup.shuffle import read_part, write_parts
from flamboyance.shards import storage
from flamboyance.shards.stats import Stats

FAILURES = pa.schema([("url", pa.string()), ("reason", pa.string())])


def url_partitions(urls: list[str], parts: int) -> np.ndarray:
    return np.array([url_key(url) % parts for url in urls], dtype=np.int64)


def index_warc(path: str, file_number: int, folder: str, parts: int) -> int:
    """Scan one WARC and write its index rows to their partitions; return the number of records."""
    rows = scan_rows([path], Stats(), first_file=file_number)
    part = (rows[:, 0] % np.uint64(parts)).astype(np.int64)
    for number in np.unique(part).tolist():
        buffer = io.BytesIO()
        np.save(buffer, rows[part == number], allow_pickle=False)
        with storage.atomic_writer(storage.join(folder, f"p{number:05d}", f"{file_number:06d}.npy")) as stream:
            stream.write(buffer.getvalue())
    return len(rows)


def write_failures(folder: str, source: str, failures: list[tuple[str, str]], parts: int) -> None:
    """Record why URLs have no record, in the partitions of their URL hash."""
    table = pa.table({"url": [url for url, _ in failures], "reason": [reason for _, reason in failures]}, schema=FAILURES)
    write_parts(storage.join(folder, "failures"), source, table, url_partitions(table.column("url").to_pylist(), parts))


class PartitionedImages(ImageIndex):
    """An ``ImageIndex`` whose rows live in partitions, each loaded on its first lookup.

    Lookups, the choice among several records of a URL and archived redirects (whose
    target may hash to another partition) behave as in the index ``build_index`` makes.
    """

    def __init__(self, folder: str, paths: list[str], parts: int, missing: str = "not_in_warc") -> None:
        self.folder = folder
        self.paths = list(paths)
        self.parts = parts
        self.missing = missing  # the reason for a URL that is neither indexed nor a recorded failure
        self._loaded: dict[int, tuple[ImageIndex, dict[str, str]]] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_loaded": {}}  # a task loads what it needs itself

    def __len__(self) -> int:
        return sum(len(self._partition(number)[0]) for number in range(self.parts))

    def _partition(self, number: int) -> tuple[ImageIndex, dict[str, str]]:
        if number not in self._loaded:
            chunks = []
            for path in storage.listdir(storage.join(self.folder, f"p{number:05d}")):
                if path.endswith(".npy"):
                    with storage.open_input(path) as stream:
                        chunks.append(np.load(io.BytesIO(stream.read()), allow_pickle=False))
            rows = np.concatenate(chunks) if chunks else np.empty((0, 4), dtype=np.uint64)
            failures = read_part(storage.join(self.folder, "failures"), number, FAILURES)
            self._loaded[number] = (index_of_rows(self.paths, rows),
                                    dict(zip(failures.column("url").to_pylist(), failures.column("reason").to_pylist())))
        return self._loaded[number]

    def _candidates(self, url: str) -> list[tuple[int, int]]:
        return self._partition(url_key(url) % self.parts)[0]._candidates(url)

    def get_many(self, urls: list[str]) -> dict[str, Replayed]:
        results = super().get_many(urls)
        for url, result in results.items():
            if result == "not_in_warc":
                results[url] = self._partition(url_key(url) % self.parts)[1].get(url, self.missing)
        return results
