"""The server's parts without models: the batcher and the search index (exact and HNSW)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from flamboyance.serve.batching import Batcher, Overloaded
from flamboyance.serve.search import SearchIndex, write_index


def test_concurrent_items_share_batches_and_get_their_own_results() -> None:
    seen: list[list[int]] = []

    def work(items: list[int]) -> list[int]:
        seen.append(items)
        return [item * 10 for item in items]

    batcher = Batcher(work, max_batch=8, max_wait=0.05)
    start = threading.Barrier(32)

    def one(item: int) -> int:
        start.wait()
        return batcher.submit(item)

    with ThreadPoolExecutor(32) as pool:
        assert list(pool.map(one, range(32))) == [item * 10 for item in range(32)]
    batcher.close()
    assert max(len(batch) for batch in seen) == 8 and len(seen) < 32
    assert sorted(item for batch in seen for item in batch) == list(range(32))


def test_one_failing_item_does_not_fail_its_batch_mates() -> None:
    def work(items: list[int]) -> list[int]:
        if -1 in items:
            raise ValueError("bad item")
        return items

    batcher = Batcher(work, max_batch=4, max_wait=0.05)
    start = threading.Barrier(4)

    def one(item: int) -> int | str:
        start.wait()
        try:
            return batcher.submit(item)
        except ValueError as error:
            return str(error)

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(one, [1, -1, 2, 3])) == [1, "bad item", 2, 3]
    batcher.close()


def test_a_full_queue_answers_overloaded_at_once() -> None:
    release = threading.Event()
    batcher = Batcher(lambda items: [release.wait() for _ in items], max_batch=1, max_wait=0, max_queue=1)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(batcher.submit, "a")  # taken by the worker, which blocks
        while batcher.stats()["queued"] or not batcher.sizes:
            threading.Event().wait(0.01)
        second = pool.submit(batcher.submit, "b")  # fills the queue
        while not batcher.stats()["queued"]:
            threading.Event().wait(0.01)
        with pytest.raises(Overloaded):
            batcher.submit("c")
        release.set()
        assert first.result() and second.result()
    batcher.close()


def unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_exact_and_hnsw_search_agree_on_the_nearest_items(tmp_path) -> None:
    embeddings = unit_rows(3000, 32, seed=0)
    items = [{"key": f"k{row}"} for row in range(len(embeddings))]
    assert write_index(str(tmp_path / "exact"), embeddings, items)["search"] == "exact"
    assert write_index(str(tmp_path / "ann"), embeddings, items, exact_limit=1000)["search"] == "hnsw"
    exact, ann = SearchIndex.load(str(tmp_path / "exact")), SearchIndex.load(str(tmp_path / "ann"))
    assert exact.exact and not ann.exact

    queries = unit_rows(50, 32, seed=1)
    recall = []
    for query in queries:
        truth = exact.search(query, 10)
        expected = np.argsort(-(embeddings @ query))[:10]
        assert [hit["key"] for hit in truth] == [f"k{row}" for row in expected]
        assert truth[0]["score"] == pytest.approx(float(embeddings[expected[0]] @ query), abs=1e-5)
        found = {hit["key"] for hit in ann.search(query, 10)}
        recall.append(len(found & {hit["key"] for hit in truth}) / 10)
    assert np.mean(recall) >= 0.9  # HNSW is approximate; at M=32, efSearch=64 it finds nearly all
    assert exact.search(embeddings[7], 1)[0]["key"] == "k7"  # an indexed vector finds itself


def test_a_query_from_another_encoder_is_refused(tmp_path) -> None:
    write_index(str(tmp_path / "index"), unit_rows(5, 8, seed=0), [{"key": str(n)} for n in range(5)])
    with pytest.raises(ValueError, match="another encoder"):
        SearchIndex.load(str(tmp_path / "index")).search(np.ones(4, dtype=np.float32), 3)
