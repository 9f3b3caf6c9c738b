"""The image index ``/v1/search`` answers from: unit-length embeddings, searched exactly or with HNSW.

Below ``EXACT_LIMIT`` items the search is exact: one matrix-vector product over all
embeddings (20,000 x 512 floats is 40 MB and well under 10 ms on one core). Above it,
``flamboyance index`` also builds a FAISS HNSW graph (inner product, M=32), searched
with ``efSearch`` at least 64; its recall is approximate, its cost grows with log(N).
Files: ``embeddings.npy`` (float32, read with ``allow_pickle=False``), ``items.jsonl``
(key, caption, shard of each row), ``index.json`` (counts, settings) and, when built,
``hnsw.faiss`` (FAISS's own binary format, nothing unpickled).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

EXACT_LIMIT = 20_000
HNSW_NEIGHBOURS = 32
MIN_EF_SEARCH = 64


def write_index(folder: str, embeddings: np.ndarray, items: list[dict[str, Any]], exact_limit: int = EXACT_LIMIT, encoder: str = "") -> dict[str, Any]:
    """Write an index of ``embeddings`` [N, D] (unit rows) and their ``items``; returns its description."""
    if len(embeddings) != len(items) or embeddings.ndim != 2 or not len(items):
        raise ValueError(f"need as many embedding rows as items, and at least one: {embeddings.shape} vs {len(items)}")
    os.makedirs(folder, exist_ok=True)
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    np.save(os.path.join(folder, "embeddings.npy"), embeddings, allow_pickle=False)
    with open(os.path.join(folder, "items.jsonl"), "w", encoding="utf-8") as stream:
        stream.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    ann = len(items) > exact_limit
    if ann:
        import faiss

        graph = faiss.IndexHNSWFlat(embeddings.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        graph.add(embeddings)
        faiss.write_index(graph, os.path.join(folder, "hnsw.faiss"))
    description = {"count": len(items), "dim": int(embeddings.shape[1]), "exact_limit": exact_limit, "search": "hnsw" if ann else "exact", "encoder": encoder}
    with open(os.path.join(folder, "index.json"), "w", encoding="utf-8") as stream:
        json.dump(description, stream, indent=2)
    return description


class SearchIndex:
    """Top-k search by cosine similarity over an index folder written by ``write_index``."""

    def __init__(self, embeddings: np.ndarray, items: list[dict[str, Any]], description: dict[str, Any], graph: Any = None) -> None:
        self.embeddings, self.items, self.description, self.graph = embeddings, items, description, graph

    @classmethod
    def load(cls, folder: str) -> SearchIndex:
        if not os.path.exists(os.path.join(folder, "index.json")):
            raise FileNotFoundError(f"{folder} is not an index (no index.json): build one with flamboyance index")
        with open(os.path.join(folder, "index.json"), encoding="utf-8") as stream:
            description = json.load(stream)
        embeddings = np.load(os.path.join(folder, "embeddings.npy"), allow_pickle=False)
        with open(os.path.join(folder, "items.jsonl"), encoding="utf-8") as stream:
            items = [json.loads(line) for line in stream]
        graph = None
        if description["search"] == "hnsw":
            import faiss

            graph = faiss.read_index(os.path.join(folder, "hnsw.faiss"))
        return cls(embeddings, items, description, graph)

    @property
    def exact(self) -> bool:
        return self.graph is None

    def search(self, query: np.ndarray, k: int) -> list[dict[str, Any]]:
        """The ``k`` items most similar to ``query`` [D] (unit length), best first, with their scores."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"query has {query.shape[1]} dimensions, the index {self.embeddings.shape[1]}: another encoder built it")
        k = min(k, len(self.items))
        if self.graph is None:
            scores = self.embeddings @ query[0]
            top = np.argpartition(-scores, k - 1)[:k]
            order = top[np.argsort(-scores[top])]
            pairs = [(float(scores[i]), int(i)) for i in order]
        else:
            import faiss

            # Per-call parameters: request threads search the one graph concurrently.
            params = faiss.SearchParametersHNSW(efSearch=max(MIN_EF_SEARCH, 2 * k))
            found_scores, found = self.graph.search(query, k, params=params)
            pairs = [(float(s), int(i)) for s, i in zip(found_scores[0], found[0]) if i >= 0]
        return [{"score": score, **self.items[row]} for score, row in pairs]
