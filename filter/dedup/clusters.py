"""Which copy of a duplicate survives: one deterministic order, used by every rule.

Records are ranked newest first (by ``fetch_date``, ISO 8601, so strings sort as dates;
a missing date counts as oldest), then by key, then by their position in the sorted
input. The survivor of a group of duplicates is its best-ranked member. Nothing depends
on the order in which Ray tasks finished, so two runs make the same choices.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np


def rank_order(keys: Sequence[str], fetch_dates: Sequence[str | None]) -> np.ndarray:
    """``rank[i]`` is record i's place in the order newest first, then smallest key."""
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    order.sort(key=lambda i: fetch_dates[i] or "", reverse=True)  # stable: keys stay sorted in a date
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    return rank


def exact_duplicates(values: Sequence[Hashable | None], candidates: Iterable[int], rank: np.ndarray) -> dict[int, int]:
    """``{duplicate: survivor}`` over records with equal, non-None values among ``candidates``."""
    best: dict[Hashable, int] = {}
    for record in sorted(candidates, key=lambda i: rank[i]):
        value = values[record]
        if value is not None:
            best.setdefault(value, record)
    return {
        record: best[values[record]]
        for record in candidates
        if values[record] is not None and best[values[record]] != record
    }


class UnionFind:
    """Disjoint sets over ``0..n-1``, with path halving."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, item: int) -> int:
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


def cluster_duplicates(pairs: np.ndarray, rank: np.ndarray) -> dict[int, int]:
    """``{duplicate: survivor}`` for the connected components of the similar ``pairs``.

    Similarity is not transitive, so a component may join two documents that are not
    near each other through a chain of ones that are; every member but the survivor
    still goes, as in FineWeb's and datatrove's MinHash dedup, since each is close to
    something kept or dropped for the same reason.
    """
    forest = UnionFind(len(rank))
    for a, b in pairs.tolist():
        forest.union(a, b)
    members = sorted({int(i) for i in np.unique(pairs)}, key=lambda i: rank[i])
    survivor: dict[int, int] = {}
    for record in members:
        survivor.setdefault(forest.find(record), record)
    return {record: survivor[forest.find(record)] for record in members if survivor[forest.find(record)] != record}
