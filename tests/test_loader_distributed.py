"""Two real ranks (gloo, separate processes), two DataLoader workers each, over odd, uneven shards."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from loader_fixtures import key_of, write_shards

from flamboyance.shards.loader.reader import LoaderConfig, ShardLoader

SHARD_SIZES = [3, 17, 8, 11, 26]  # five shards, 65 samples
CONFIG = LoaderConfig(batch_size=3, num_workers=2, seed=7, shuffle_buffer=4, multiprocessing_context="fork")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rank(rank: int, world_size: int, port: int, folder: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    pattern = f"{folder}/*.tar"

    # An uninterrupted epoch, with a collective after every batch as DDP's backward does:
    # a rank with fewer batches would leave the other one waiting here forever.
    loader = ShardLoader(pattern, key_of, list, CONFIG)
    uninterrupted = []
    for batch in loader:
        dist.all_reduce(torch.ones(1))
        uninterrupted.append(batch)
    second_epoch = list(loader)

    # The same epoch interrupted after 5 batches; its state goes through JSON like a checkpoint.
    interrupted = ShardLoader(pattern, key_of, list, CONFIG)
    batches = iter(interrupted)
    before = [next(batches) for _ in range(5)]
    state = json.loads(json.dumps(interrupted.state_dict()))
    del batches
    restored = ShardLoader(pattern, key_of, list, CONFIG)
    restored.load_state_dict(state)
    after = list(restored)

    result = {"length": len(loader), "epoch": uninterrupted, "second_epoch": second_epoch, "resumed": before + after}
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


def test_two_ranks_two_workers_balanced_disjoint_and_resumable(tmp_path: Path) -> None:
    write_shards(tmp_path / "shards", SHARD_SIZES)
    mp.spawn(_rank, args=(2, _free_port(), str(tmp_path / "shards"), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]

    # 65 samples over 2 ranks x 2 workers in batches of 3: 15 samples = 5 batches per worker.
    assert [len(r["epoch"]) for r in ranks] == [10, 10]
    assert [r["length"] for r in ranks] == [10, 10]
    assert all(len(batch) == 3 for r in ranks for batch in r["epoch"])

    seen = [key for r in ranks for batch in r["epoch"] for key in batch]
    assert len(seen) == 60 and len(set(seen)) == 60

    for r in ranks:
        assert r["resumed"] == r["epoch"]
        assert r["second_epoch"] != r["epoch"] and len(r["second_epoch"]) == 10
