"""Connected components of the verified near-duplicate pairs, without one process seeing them all.

Min-label propagation over vertex partitions: every document in a pair starts labelled
with itself, and each round every document whose label improved sends it to its
neighbours, which keep the best label they hear of. "Best" is the survivor order
(``clusters.py``), so when no label changes any more, each document's label is the
best-ranked member of its component: the survivor the oracle's union-find picks
(``clusters.cluster_duplicates``). Rounds: the largest distance from a survivor to a
member, small for near-duplicate clusters (LSH buckets give cliques, or a star and a
chain for large buckets).

Edges arrive from ``near_steps.pairs_reduce`` partitioned by source; each round a
partition reads its state and incoming messages and writes its new state and outgoing
messages (``work/resolve/cc/``), so a round is one Ray task per partition.
"""

from __future__ import annotations

import pyarrow as pa

from flamboyance.filter.dedup.drops import SCHEMA as DROPS
from flamboyance.filter.dedup.drops import write_drops
from flamboyance.filter.dedup.near_steps import EDGES
from flamboyance.filter.dedup.shuffle import folder, int_partitions, read_part, read_table, write_parts, write_table

STATE = pa.schema([("vertex", pa.int64()), ("order", pa.binary()), ("key", pa.string()), ("label", pa.int64()),
                   ("url", pa.string()), ("best", pa.float64())])
MESSAGES = pa.schema([("vertex", pa.int64()), ("order", pa.binary()), ("key", pa.string()), ("label", pa.int64()),
                      ("url", pa.string())])

# The best member heard of: (order key, key, id, url); tuples compare in survivor order.
Label = tuple[bytes, str, int, str]


def _state_path(output: str, round_number: int, part: int) -> str:
    return folder(output, "cc", f"state-{round_number:05d}", f"p{part:05d}.parquet")


def _messages(output: str, round_number: int) -> str:
    return folder(output, "cc", f"messages-{round_number:05d}")


def _send(output: str, round_number: int, part: int, parts: int, messages: list[tuple[int, Label]]) -> int:
    table = pa.table({
        "vertex": pa.array([vertex for vertex, _ in messages], pa.int64()),
        "order": pa.array([label[0] for _, label in messages], pa.binary()),
        "key": pa.array([label[1] for _, label in messages], pa.string()),
        "label": pa.array([label[2] for _, label in messages], pa.int64()),
        "url": pa.array([label[3] for _, label in messages], pa.string()),
    }, schema=MESSAGES)
    write_parts(_messages(output, round_number), f"p{part:05d}", table, int_partitions(table.column("vertex").to_numpy(), parts))
    return len(messages)


def _write_state(output: str, round_number: int, part: int, labels: dict[int, Label], best: dict[int, float]) -> None:
    vertices = sorted(labels)
    write_table(_state_path(output, round_number, part), pa.table({
        "vertex": pa.array(vertices, pa.int64()), "order": pa.array([labels[v][0] for v in vertices], pa.binary()),
        "key": pa.array([labels[v][1] for v in vertices], pa.string()),
        "label": pa.array([labels[v][2] for v in vertices], pa.int64()),
        "url": pa.array([labels[v][3] for v in vertices], pa.string()),
        "best": pa.array([best[v] for v in vertices], pa.float64()),
    }, schema=STATE))


def _read_state(output: str, round_number: int, part: int) -> tuple[dict[int, Label], dict[int, float]]:
    table = read_table(_state_path(output, round_number, part), STATE)
    columns = [table.column(name).to_pylist() for name in ("vertex", "order", "key", "label", "url", "best")]
    labels = {vertex: (order, key, label, url) for vertex, order, key, label, url in zip(*columns[:5])}
    return labels, dict(zip(columns[0], columns[5]))


def _neighbours(output: str, part: int) -> dict[int, list[int]]:
    table = read_part(folder(output, "edges"), part, EDGES)
    found: dict[int, list[int]] = {}
    for src, dst in zip(table.column("src").to_pylist(), table.column("dst").to_pylist()):
        found.setdefault(src, []).append(dst)
    return found


def start(output: str, part: int, parts: int) -> int:
    """Round 0: label each document of the partition with itself, tell its neighbours; return messages sent."""
    table = read_part(folder(output, "edges"), part, EDGES)
    labels: dict[int, Label] = {}
    best: dict[int, float] = {}
    messages = []
    for src, dst, similarity, order, key, url in zip(*(table.column(name).to_pylist() for name in EDGES.names)):
        labels[src] = (order, key, src, url)
        best[src] = max(best.get(src, 0.0), round(similarity, 4))
        messages.append((dst, labels[src]))
    _write_state(output, 0, part, labels, best)
    return _send(output, 1, part, parts, messages)


def propagate(output: str, round_number: int, part: int, parts: int) -> int:
    """Keep the best label heard in this round; pass on the labels that improved; return messages sent."""
    labels, best = _read_state(output, round_number - 1, part)
    incoming = read_part(_messages(output, round_number), part, MESSAGES)
    improved = set()
    for vertex, order, key, label, url in zip(*(incoming.column(name).to_pylist() for name in MESSAGES.names)):
        heard = (order, key, label, url)
        if heard < labels[vertex]:
            labels[vertex] = heard
            improved.add(vertex)
    _write_state(output, round_number, part, labels, best)
    neighbours = _neighbours(output, part) if improved else {}
    messages = [(dst, labels[vertex]) for vertex in sorted(improved) for dst in neighbours[vertex]]
    return _send(output, round_number + 1, part, parts, messages)


def finish(output: str, round_number: int, part: int) -> int:
    """Drop every document whose label is another document (``near``); return how many."""
    labels, best = _read_state(output, round_number, part)
    dropped = sorted(vertex for vertex, label in labels.items() if label[2] != vertex)
    write_drops(output, "near", f"p{part:05d}", pa.table({
        "id": pa.array(dropped, pa.int64()), "survivor_key": pa.array([labels[v][1] for v in dropped], pa.string()),
        "survivor_url": pa.array([labels[v][3] for v in dropped], pa.string()),
        "score": pa.array([best[v] for v in dropped], pa.float64()),
    }, schema=DROPS))
    return len(dropped)
