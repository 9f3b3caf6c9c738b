"""Deduplication across a whole dataset: a pass over a finished build, on Ray.

Duplicates can only be found with the whole dataset in view, so this runs after the
per-unit build, in three resumable phases (``stage.py``):

1. ``records.py``: one Ray task per build unit reads its shards and writes a compact
   record per document (hashes, MinHash sketch, paragraph hashes, image hashes);
2. ``distributed.py``: Ray map and reduce tasks, partitioned by hash (``shuffle.py``),
   decide deterministically which documents, paragraphs and images go (rules in
   ``exact.py``, ``minhash.py``, ``clusters.py``, ``paragraphs.py``, ``images.py``), and
   write the decisions per unit; the driver only counts. ``resolve.py`` makes the same
   decisions in one process: the oracle the tests hold the partitioned steps to;
3. ``rewrite.py``: one Ray task per build unit rewrites its shards without them.

The output folder has the layout of a build (``shards/executor.py``) plus ``dedup.json``,
the audit of every drop (``filter/audit.py``), with the item each one duplicates.
"""
