"""Which samples each reader reads in an epoch: the arithmetic behind the loader's guarantees.

Training reads a shard set with ``world_size`` ranks of ``num_workers`` DataLoader
workers each; every (rank, worker) pair is a *slot*. Shards rarely hold equal numbers of
samples and rarely divide evenly among slots, and a rank that runs out of data before
the others makes DDP hang at the next collective. So the plan splits *samples*, not
shards: from the shard sample counts (``sizes.json``) it gives every slot exactly the
same budget of samples, a whole number of batches, and the same number of batches to
every rank.

Without resampling, an epoch shuffles the shard order (seeded by ``seed`` and the
epoch), lays the shards end to end and cuts the sequence into one contiguous piece per
slot. Pieces are disjoint, so no sample is read twice in an epoch; the few samples past
``slots * budget`` are left out of that epoch (a different few each epoch, since the
order changes). A shard cut between two slots is read by both, each its own part.

With resampling, each slot draws shards with replacement (seeded by ``seed``, epoch and
slot) until its budget is filled, as webdataset's resampled shards do; the budget still
defines the epoch.

Everything here is a pure function of its arguments: a restarted job recomputes the
same plan, which is what makes a saved position meaningful.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """Samples ``[start, stop)`` of shard number ``shard`` (an index into the shard list)."""

    shard: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def seeded_rng(*parts: object) -> random.Random:
    """A generator seeded by the given parts, the same in every process and Python run."""
    return random.Random("/".join(str(part) for part in parts))


def samples_per_slot(epoch_samples: int, slots: int, batch_size: int) -> int:
    """The budget of every slot: the largest whole number of batches that fits the epoch."""
    if epoch_samples < 0 or slots < 1 or batch_size < 1:
        raise ValueError(f"bad epoch geometry: {epoch_samples} samples, {slots} slots, batch {batch_size}")
    budget = epoch_samples // slots // batch_size * batch_size
    if budget == 0:
        raise ValueError(
            f"an epoch of {epoch_samples} samples cannot give {slots} readers "
            f"(ranks x workers) one batch of {batch_size} each; use fewer workers or a smaller batch"
        )
    return budget


def slot_segments(
    sizes: list[int],
    *,
    seed: int,
    epoch: int,
    slot: int,
    slots: int,
    budget: int,
    shuffle: bool = True,
    resample: bool = False,
) -> list[Segment]:
    """The pieces of shards that ``slot`` reads in ``epoch``, in reading order; they hold ``budget`` samples."""
    if not 0 <= slot < slots:
        raise ValueError(f"slot {slot} outside 0..{slots - 1}")
    if sum(sizes) == 0:
        raise ValueError("the shard list holds no samples")
    if resample:
        return _resampled(sizes, seeded_rng(seed, epoch, slot, "resample"), budget)
    if slots * budget > sum(sizes):
        raise ValueError(f"{slots} slots x {budget} samples exceed the {sum(sizes)} samples of the shards")
    order = list(range(len(sizes)))
    if shuffle:
        seeded_rng(seed, epoch, "shards").shuffle(order)
    first, last = slot * budget, (slot + 1) * budget
    segments, offset = [], 0
    for shard in order:
        low, high = max(first, offset), min(last, offset + sizes[shard])
        if low < high:
            segments.append(Segment(shard, low - offset, high - offset))
        offset += sizes[shard]
    return segments


def _resampled(sizes: list[int], rng: random.Random, budget: int) -> list[Segment]:
    candidates = [shard for shard, size in enumerate(sizes) if size > 0]
    segments, total = [], 0
    while total < budget:
        shard = rng.choice(candidates)
        take = min(sizes[shard], budget - total)
        segments.append(Segment(shard, 0, take))
        total += take
    return segments


def block_permutation(size: int, *parts: object) -> list[int]:
    """The order in which one shuffle block of ``size`` samples is emitted.

    The loader shuffles samples in consecutive blocks of its shuffle-buffer size rather
    than with a sliding buffer: the mixing is as local (a sample moves at most one buffer
    away), but the emitted order after any point is a function of the block number alone,
    so a resumed reader rebuilds its state by re-reading one block instead of everything
    before it.
    """
    order = list(range(size))
    seeded_rng(*parts, "block").shuffle(order)
    return order
