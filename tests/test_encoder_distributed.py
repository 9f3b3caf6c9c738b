"""Two real ranks (gloo, DDP, gathered features) train exactly like one rank with the doubled batch.

Both runs see the same pairs at every step: the two-rank set holds the pairs in order
(rank 0 reads the first half, rank 1 the second), and the one-rank set interleaves the
halves so that its batch k is rank 0's batch k followed by rank 1's batch k.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from flamboyance.pretrain_encoder.config import DatasetConfig, EncoderConfig
from flamboyance.pretrain_encoder.run_log import read_metrics
from flamboyance.pretrain_encoder.train import train
from flamboyance.shards.config import load
from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.synthetic import write_shape_pairs
from flamboyance.shards.tar_samples import iter_samples
from flamboyance.shards.writer import ShardWriter

BATCH, STEPS = 8, 4  # per rank


def _config(output: str, shards: str, batch: int) -> EncoderConfig:
    config = load(
        EncoderConfig,
        None,
        [
            f"output={output}",
            f"steps={STEPS}",
            f"data.batch_size={batch}",
            "data.num_workers=0",
            "data.shuffle_buffer=1",  # keep file order, so both runs meet the same pairs
            "data.augment.enabled=false",  # augmentation is seeded per reader slot, which differ
            "optim.warmup_steps=1",
            "log.every=1",
            "log.tensorboard=false",
            "checkpoint.every=0",
        ],
    )
    config.datasets = [DatasetConfig("shapes", [shards])]
    return config


def _rank(rank: int, port: int, output: str, shards: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    train(_config(output, shards, BATCH))
    dist.destroy_process_group()


def _write(folder: Path, samples: list[dict]) -> str:
    with ShardWriter(str(folder), "pairs", max_samples=len(samples)) as writer:
        for sample in samples:
            writer.write({k: v for k, v in sample.items() if k != "__url__"})
    write_manifest(str(folder), [info.to_json() for info in writer.shards])
    return str(folder / writer.shards[0].name)


@pytest.mark.slow  # two spawned ranks and a third run: 30-80 s on 2 busy cores
def test_two_ranks_match_one_rank_with_the_doubled_batch(tmp_path: Path) -> None:
    source = write_shape_pairs(str(tmp_path / "source"), 2 * BATCH * STEPS, seed=4)[0]
    samples = list(iter_samples(source))
    half = len(samples) // 2
    interleaved = []
    for step in range(STEPS):
        interleaved += samples[step * BATCH : (step + 1) * BATCH] + samples[half + step * BATCH : half + (step + 1) * BATCH]
    two_rank_shards, one_rank_shards = _write(tmp_path / "two", samples), _write(tmp_path / "one", interleaved)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_rank, args=(port, str(tmp_path / "ddp"), two_rank_shards), nprocs=2, join=True)
    train(_config(str(tmp_path / "single"), one_rank_shards, 2 * BATCH))

    ddp, single = read_metrics(str(tmp_path / "ddp")), read_metrics(str(tmp_path / "single"))
    assert sorted(ddp) == sorted(single) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert ddp[step]["loss"] == pytest.approx(single[step]["loss"], rel=1e-4), step
    assert single[STEPS]["loss"] != pytest.approx(single[1]["loss"], rel=1e-3)  # it did train
