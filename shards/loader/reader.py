"""Streaming training loader over webdataset shards: split, shuffled, equal on every rank, resumable.

``ShardLoader`` reads a list of shards (local paths, globs, ``s3://``, ``https://``) and
yields batches. What it guarantees, and how:

* **Same number of batches on every rank.** Every (rank, DataLoader worker) slot reads
  exactly the same number of samples per epoch, a whole number of batches, computed
  from the shard sample counts (``sizes.json``) alone (see ``shards/loader/plan.py``). So
  ``len(loader)`` is the same on all ranks and DDP never waits on a rank that ran dry.
  This holds even when samples are dropped (a corrupt image, a truncated shard): a slot
  that loses samples fills its batches from the start of its own piece again, and the
  refill is counted (``loader/wrapped``). All ranks must use the same ``num_workers``.
* **No sample twice in an epoch** without resampling and without drops: the slots'
  pieces are disjoint. With ``resample=True`` shards are drawn with replacement instead.
* **Seeded shuffling**: shard order per epoch, and samples in blocks of
  ``shuffle_buffer`` (``plan.block_permutation``). Per-sample randomness (token window,
  attend-to-next flag) comes from a generator seeded by the sample's position, so a
  resumed run makes the same choices.
* **Resumable mid-epoch**: ``state_dict()`` records the epoch and, per worker, the batches
  it has delivered and its read cursor (shuffle block and offset in it). After
  ``load_state_dict()`` the loader continues with exactly the batches an uninterrupted
  epoch would have produced next, in the same order; it re-reads at most one shuffle
  block per worker to get there (skipped samples' payloads are not read). The order
  relies on PyTorch's in-order round-robin over workers, which the loader restores by
  rotating worker roles. Drop counters (``loader.stats``) are part of the state, so they
  survive a resume too. Under DDP every rank saves its own state (its cursors differ),
  e.g. gathered with ``torch.distributed.all_gather_object`` into the checkpoint.

Sample functions decide what a raw sample becomes (``flamingo_model/examples.py``, ``pretrain_encoder/data.py``); they raise
``DropSample`` (or ``ValueError``/``KeyError``/``OSError`` for bad data) to drop a
sample, which is counted under ``loader/dropped/<reason>`` instead of stopping the job.
"""

from __future__ import annotations

import random
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from flamboyance.shards import storage
from flamboyance.shards.distributed import rank_and_world
from flamboyance.shards.loader.plan import (
    Segment,
    block_permutation,
    samples_per_slot,
    seeded_rng,
    slot_segments,
)
from flamboyance.shards.manifest import SIZES
from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import count_samples, iter_samples

RawSample = dict[str, Any]
SampleFn = Callable[[RawSample, random.Random], Any]
CollateFn = Callable[[list[Any]], Any]


class DropSample(Exception):
    """Raised by a sample function for a sample that cannot become a training example."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_BAD_DATA = (DropSample, ValueError, KeyError, OSError)


@dataclass
class LoaderConfig:
    """How to read a shard set. ``epoch_samples`` is global (all ranks); None means all samples."""

    batch_size: int
    num_workers: int = 2
    seed: int = 0
    shuffle_shards: bool = True
    # Samples are shuffled in blocks of this many; 1 keeps shard order.
    shuffle_buffer: int = 1000
    resample: bool = False
    epoch_samples: int | None = None
    pin_memory: bool = False
    prefetch_factor: int = 2
    # "fork", "spawn" or "forkserver" for the workers; None keeps Python's default. A process
    # that was itself spawned (torch.multiprocessing.spawn) defaults to spawn, which
    # re-imports torch in every worker at every epoch: "fork" starts much faster there.
    multiprocessing_context: str | None = None


def shard_sizes(urls: list[str]) -> list[int]:
    """Sample count of each shard, from the ``sizes.json`` beside it, else by reading its headers.

    ``sizes.json`` maps shard file names to sample counts, as open_clip expects; the
    build writes one per shard folder. Counting is the slow fallback for shards a
    ``sizes.json`` does not list.
    """
    folders: dict[str, dict[str, int]] = {}
    sizes = []
    for url in urls:
        folder, name = url.rsplit("/", 1) if "/" in url else (".", url)
        if folder not in folders:
            path = storage.join(folder, SIZES)
            folders[folder] = storage.read_json(path) if storage.exists(path) else {}
        known = folders[folder].get(name)
        sizes.append(int(known) if known is not None else count_samples(url))
    return sizes


def _source(urls: list[str], segments: list[Segment], start: int, stats: Stats) -> Iterator[RawSample | None]:
    """The slot's raw samples from position ``start`` on, cycling over its plan without end.

    Positions stay aligned with the plan whatever happens to a shard: samples a shard
    fails to deliver come out as ``None`` (counted), so a saved cursor always points at
    the same sample.
    """
    length = sum(len(segment) for segment in segments)
    cycle, offset = divmod(start, length)
    while True:
        if cycle > 0:
            stats.add("loader/wrapped")
        position = 0
        for segment in segments:
            if offset >= position + len(segment):
                position += len(segment)
                continue
            wanted = position + len(segment) - offset
            delivered = 0
            samples = iter_samples(urls[segment.shard], segment.start + offset - position, stats)
            try:
                for sample in samples:
                    yield sample
                    delivered += 1
                    if delivered == wanted:
                        break
            except (OSError, EOFError, tarfile.TarError) as error:
                stats.add(f"loader/failed_shards/{type(error).__name__}")
            finally:
                samples.close()
            if delivered < wanted:
                stats.add("loader/missing_samples", wanted - delivered)
                for _ in range(wanted - delivered):
                    yield None
            position += len(segment)
            offset = position
        cycle, offset = cycle + 1, 0


@dataclass
class _Epoch(IterableDataset):
    """One epoch of one rank, as DataLoader workers see it: yields (batch, cursor) pairs."""

    urls: list[str]
    sizes: list[int]
    config: LoaderConfig
    sample_fn: SampleFn
    collate_fn: CollateFn
    rank: int
    world_size: int
    epoch: int
    budget: int
    resume: dict[int, dict[str, Any]]
    rotation: int

    def __iter__(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        info = get_worker_info()
        workers = max(1, self.config.num_workers)
        worker = ((info.id if info else 0) + self.rotation) % workers
        slot = self.rank * workers + worker
        state = self.resume.get(worker, {})
        stats = Stats.from_json(state.get("stats", {}))
        batches, block, offset = state.get("batches", 0), state.get("block", 0), state.get("offset", 0)
        total = self.budget // self.config.batch_size
        if batches >= total:
            return
        segments = slot_segments(
            self.sizes,
            seed=self.config.seed,
            epoch=self.epoch,
            slot=slot,
            slots=self.world_size * workers,
            budget=self.budget,
            shuffle=self.config.shuffle_shards,
            resample=self.config.resample,
        )
        # Blocks never straddle the end of the plan, so a refill starts on a fresh block.
        size = max(1, self.config.shuffle_buffer)
        per_cycle = -(-self.budget // size)
        cycle, inner = divmod(block, per_cycle)
        source = _source(self.urls, segments, cycle * self.budget + inner * size, stats)
        batch: list[Any] = []
        fruitless = 0
        resuming = bool(state)
        while True:
            cycle, inner = divmod(block, per_cycle)
            start, length = cycle * self.budget + inner * size, min(size, self.budget - inner * size)
            before = Counter(stats.counts) if resuming else None
            items = list(islice(source, length))
            if resuming:  # the saved counters already hold this block's read failures
                stats.counts, resuming = before, False
            order = block_permutation(length, self.config.seed, self.epoch, slot, block)
            for position in order[offset:]:
                offset += 1
                example = self._example(items[position], (slot, start + position), stats)
                if example is None:
                    fruitless += 1
                    if fruitless > self.budget:
                        raise RuntimeError(f"slot {slot}: no usable sample in a whole pass over its shards ({stats})")
                    continue
                fruitless = 0
                batch.append(example)
                if len(batch) == self.config.batch_size:
                    batches += 1
                    cursor = {"worker": worker, "batches": batches, "block": block, "offset": offset}
                    yield self.collate_fn(batch), {**cursor, "stats": stats.to_json()}
                    batch = []
                    if batches == total:
                        return
            block, offset = block + 1, 0

    def _example(self, raw: RawSample | None, where: tuple[int, int], stats: Stats) -> Any:
        if raw is None:
            return None
        rng = seeded_rng(self.config.seed, self.epoch, *where)
        try:
            return self.sample_fn(raw, rng)
        except _BAD_DATA as error:
            reason = error.reason if isinstance(error, DropSample) else type(error).__name__
            stats.add(f"loader/dropped/{reason}")
            return None


class ShardLoader:
    """Batches from a shard set for one rank; iterate it once per epoch (see the module doc).

    ``sample_fn(raw_sample, rng)`` turns a raw sample (dict of bytes) into an example;
    ``collate_fn(examples)`` makes a batch. Both run in the DataLoader workers. Iterating
    again after a break continues the same epoch where the last batch left off.
    """

    def __init__(
        self,
        urls: str | list[str],
        sample_fn: SampleFn,
        collate_fn: CollateFn,
        config: LoaderConfig,
        rank: int | None = None,
        world_size: int | None = None,
        sizes: list[int] | None = None,
    ) -> None:
        self.urls = storage.expand([urls] if isinstance(urls, str) else list(urls))
        self.sizes = list(sizes) if sizes is not None else shard_sizes(self.urls)
        if len(self.sizes) != len(self.urls):
            raise ValueError(f"{len(self.sizes)} sizes for {len(self.urls)} shards")
        default_rank, default_world = rank_and_world()
        self.rank = default_rank if rank is None else rank
        self.world_size = default_world if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside a world of {self.world_size}")
        self.sample_fn, self.collate_fn, self.config = sample_fn, collate_fn, config
        self.workers = max(1, config.num_workers)
        epoch_samples = sum(self.sizes) if config.epoch_samples is None else config.epoch_samples
        self.budget = samples_per_slot(epoch_samples, self.world_size * self.workers, config.batch_size)
        self.epoch = 0
        self._batches = 0
        self._cursors: dict[int, dict[str, Any]] = {}
        self._past_stats = Stats()

    def __len__(self) -> int:
        """Batches per epoch on this rank (the same on every rank)."""
        return self.workers * (self.budget // self.config.batch_size)

    def __iter__(self) -> Iterator[Any]:
        dataset = _Epoch(
            urls=self.urls,
            sizes=self.sizes,
            config=self.config,
            sample_fn=self.sample_fn,
            collate_fn=self.collate_fn,
            rank=self.rank,
            world_size=self.world_size,
            epoch=self.epoch,
            budget=self.budget,
            resume=dict(self._cursors),
            rotation=self._batches % self.workers,
        )
        loader = DataLoader(
            dataset,
            batch_size=None,
            num_workers=self.config.num_workers,
            pin_memory=self.config.pin_memory,
            prefetch_factor=self.config.prefetch_factor if self.config.num_workers else None,
            persistent_workers=False,
            multiprocessing_context=self.config.multiprocessing_context if self.config.num_workers else None,
        )
        for batch, cursor in loader:
            self._cursors[cursor["worker"]] = cursor
            self._batches += 1
            yield batch
        if self._batches == len(self):
            self.set_epoch(self.epoch + 1)

    @property
    def stats(self) -> Stats:
        """Drops, failures and refills counted by all workers of this rank so far (all epochs)."""
        return Stats.total([self._past_stats, *(Stats.from_json(c["stats"]) for c in self._cursors.values())])

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning (the counters so far are kept)."""
        self._past_stats = self.stats
        self.epoch, self._batches, self._cursors = epoch, 0, {}

    def _geometry(self) -> dict[str, Any]:
        return {
            "shards": len(self.urls),
            "world_size": self.world_size,
            "rank": self.rank,
            "workers": self.workers,
            "batch_size": self.config.batch_size,
            "budget": self.budget,
            "seed": self.config.seed,
            "shuffle_buffer": self.config.shuffle_buffer,
            "resample": self.config.resample,
        }

    def state_dict(self) -> dict[str, Any]:
        """This rank's position, JSON-serialisable, to store in a training checkpoint (one per rank)."""
        return {
            "geometry": self._geometry(),
            "epoch": self.epoch,
            "batches": self._batches,
            "cursors": {str(worker): cursor for worker, cursor in self._cursors.items()},
            "stats": self._past_stats.to_json(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; the loader must be built with the same shards and settings."""
        if state["geometry"] != self._geometry():
            raise ValueError(f"loader state was saved for {state['geometry']}, this loader is {self._geometry()}")
        self.epoch, self._batches = int(state["epoch"]), int(state["batches"])
        self._cursors = {int(worker): dict(cursor) for worker, cursor in state["cursors"].items()}
        self._past_stats = Stats.from_json(state["stats"])

