"""How datasets share a step: weights, a weight of zero, merged batches and round-robin turns."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from flamboyance.pretrain_encoder.config import DatasetConfig, EncoderConfig
from flamboyance.pretrain_encoder.run_log import read_metrics
from flamboyance.pretrain_encoder.strategies import batch_sizes
from flamboyance.pretrain_encoder.train import train
from flamboyance.shards.config import load
from flamboyance.shards.synthetic import write_shape_pairs


@pytest.fixture(scope="module")
def pair_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("pairs")
    return {name: write_shape_pairs(str(root / name), 48, seed=seed)[0] for seed, name in enumerate(("a", "b"))}


def run(output: Path, datasets: list[DatasetConfig], strategy: str = "accumulation", steps: int = 3) -> dict[str, torch.Tensor]:
    """A few in-process steps of the tiny ViT; returns the trained weights."""
    config = load(
        EncoderConfig,
        None,
        [f"output={output}", f"steps={steps}", f"strategy={strategy}", "data.batch_size=8", "data.num_workers=0", "log.every=1"],
    )
    config.datasets = datasets
    config.log.tensorboard = False
    train(config)
    return torch.load(output / "checkpoints" / f"step-{steps:08d}.pt", weights_only=True)["model"]


def test_a_dataset_of_weight_zero_moves_no_weight(tmp_path: Path, pair_sets: dict[str, str]) -> None:
    alone = run(tmp_path / "alone", [DatasetConfig("a", [pair_sets["a"]])])
    muted = run(tmp_path / "muted", [DatasetConfig("a", [pair_sets["a"]]), DatasetConfig("b", [pair_sets["b"]], weight=0.0)])
    both = run(tmp_path / "both", [DatasetConfig("a", [pair_sets["a"]]), DatasetConfig("b", [pair_sets["b"]], weight=1.0)])
    assert all(torch.equal(alone[name], muted[name]) for name in alone)
    assert not all(torch.equal(alone[name], both[name]) for name in alone)
    # The muted dataset was never even read: only dataset a has losses in the log.
    assert all("loss/b" not in entry for entry in read_metrics(str(tmp_path / "muted")).values())
    assert all("loss/b" in entry for entry in read_metrics(str(tmp_path / "both")).values())


def test_accumulation_sums_the_weighted_losses(tmp_path: Path, pair_sets: dict[str, str]) -> None:
    run(tmp_path / "run", [DatasetConfig("a", [pair_sets["a"]], 1.0), DatasetConfig("b", [pair_sets["b"]], 0.25)], steps=2)
    for entry in read_metrics(str(tmp_path / "run")).values():
        assert entry["loss"] == pytest.approx(entry["loss/a"] + 0.25 * entry["loss/b"])


def test_round_robin_takes_turns(tmp_path: Path, pair_sets: dict[str, str]) -> None:
    run(tmp_path / "run", [DatasetConfig("a", [pair_sets["a"]]), DatasetConfig("b", [pair_sets["b"]])], "round_robin", steps=4)
    turns = [[name for name in entry if name.startswith("loss/")] for _, entry in sorted(read_metrics(str(tmp_path / "run")).items())]
    assert turns == [["loss/a"], ["loss/b"], ["loss/a"], ["loss/b"]]


def test_merged_batches_split_by_weight(tmp_path: Path, pair_sets: dict[str, str]) -> None:
    datasets = [DatasetConfig("a", [pair_sets["a"]], 3.0), DatasetConfig("b", [pair_sets["b"]], 1.0)]
    assert batch_sizes("merged", datasets, 8) == [6, 2]
    assert batch_sizes("merged", datasets, 2) == [1, 1]
    assert batch_sizes("accumulation", datasets, 8) == [8, 8]
    run(tmp_path / "run", datasets, "merged", steps=2)
    assert all(set(entry) >= {"loss/a+b"} for entry in read_metrics(str(tmp_path / "run")).values())
