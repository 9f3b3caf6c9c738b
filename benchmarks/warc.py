"""Records per second of our WARC reader against FastWARC's bare iteration.

Our reader (``crawl.warc.iter_records``) is FastWARC plus what a pipeline needs: a record
object with the payload decoded, counters, and the checks that let it skip damaged data
and read byte ranges. This benchmark measures what that costs against FastWARC's bare
loop (iterate response records, read each payload), on the real WARCs in ../shared/data
and on a larger WARC it writes (the real pages and images repeated), gzip and
uncompressed. FastWARC is timed both given the path (its own file I/O, its fastest) and
given a Python file object.

    python benchmarks/warc.py [--records 4000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastwarc.warc import ArchiveIterator, WarcRecordType

from flamboyance.crawl.warc import iter_records
from flamboyance.crawl.warc_writer import WarcWriter

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "wiki-ray-charles"


def _fastwarc_count(source: Any) -> int:
    count = 0
    for record in ArchiveIterator(source, record_types=WarcRecordType.response):
        record.reader.read()
        count += 1
    return count


def fastwarc_path(path: str) -> int:
    """FastWARC at its fastest: given the path, it reads the file with its own I/O."""
    return _fastwarc_count(path)


def fastwarc_file(path: str) -> int:
    """FastWARC reading through a Python file object, as with a stream from fsspec."""
    with open(path, "rb") as stream:
        return _fastwarc_count(stream)


def ours(path: str) -> int:
    return sum(1 for _ in iter_records(path))


def best_rate(read: Callable[[str], int], path: str, repeat: int) -> tuple[int, float]:
    """Records and records/s of the fastest of ``repeat`` runs (CPU time of this process,
    so that other work on a shared machine does not count)."""
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        count = read(path)
        best = min(best, time.process_time() - began)
    return count, count / best


def write_larger(folder: str, records: int) -> list[str]:
    """A WARC of ``records`` responses cycling through the real pages and images."""
    sources = [record for name in ("pages.warc.gz", "images.warc.gz") for record in iter_records(str(SHARED / name))]
    paths = []
    for gzip, name in ((True, "larger.warc.gz"), (False, "larger.warc")):
        path = os.path.join(folder, name)
        with WarcWriter(path, gzip=gzip) as warc:
            for index in range(records):
                source = sources[index % len(sources)]
                headers = [("Content-Type", source.http_headers.get("content-type", "text/html"))]
                warc.write_response(f"{source.target_uri}?copy={index}", 200, headers, source.body)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=4000, help="records in the generated WARC")
    parser.add_argument("--repeat", type=int, default=5, help="runs per reader and file; the best counts")
    args = parser.parse_args()
    readers = {"ours": ours, "fastwarc(path)": fastwarc_path, "fastwarc(file)": fastwarc_file}
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(SHARED / "pages.warc.gz"), str(SHARED / "images.warc.gz"), *write_larger(folder, args.records)]
        print(f"{'file':<16} {'records':>7} " + " ".join(f"{name + ' rec/s':>20}" for name in readers), end="")
        print(f" {'ratio(path)':>11} {'ratio(file)':>11}")
        for path in paths:
            results = {name: best_rate(read, path, args.repeat) for name, read in readers.items()}
            counts = {count for count, _ in results.values()}
            if len(counts) != 1:
                raise SystemExit(f"{path}: the readers disagree on the number of records: {results}")
            rates = {name: rate for name, (_, rate) in results.items()}
            print(f"{os.path.basename(path):<16} {counts.pop():>7} ", end="")
            print(" ".join(f"{rate:>20.0f}" for rate in rates.values()), end="")
            print(f" {rates['ours'] / rates['fastwarc(path)']:>11.2f} {rates['ours'] / rates['fastwarc(file)']:>11.2f}")


if __name__ == "__main__":
    main()
