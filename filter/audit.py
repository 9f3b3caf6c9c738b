"""Filter statistics that can be audited, merged across units and stored with them.

A filter decision nobody can inspect cannot be trusted or tuned. Every step therefore
keeps, per unit of work: how many items it saw, kept and dropped (by reason), a
histogram of each score it thresholded, and a bounded random sample of the items it
dropped with their reason and score, so a person can read what a threshold removes.

All three parts merge exactly, so the totals of a build are the merge of its per-unit
files whatever the order or the number of resumes:

- counts add;
- histograms have fixed bin edges chosen by score name, so bins add one to one;
- the sample is a *bottom-k* sample: each dropped item gets a pseudo-random key from a
  hash of (seed, step, item, occurrence) and the sample holds the k smallest keys. The
  k smallest keys of a union are the k smallest of the per-unit k smallest, so a merged
  sample holds the k smallest keys over all drops of all units, whatever the order of
  merging, and is still uniform. Keys are hashes, not draws from a generator, so re-running a unit after a
  resume draws the same sample. Give each unit its own seed (derived from its name)
  so that the same item dropped in two units gets independent keys.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flamboyance.shards.stats import Stats

SAMPLE_SIZE = 32

_RATIO_EDGES = tuple(round(i / 20, 2) for i in range(21))  # 0.00, 0.05, ... 1.00
_COUNT_EDGES = (0,) + tuple(2**i for i in range(25))  # 0, 1, 2, 4, ... 16M
_LENGTH_EDGES = tuple(float(i) for i in range(21))  # mean word length, entropy bits, ...
_ASPECT_EDGES = tuple(2 ** (i / 4) for i in range(-16, 17))  # 1/16 .. 16, four bins an octave


def default_edges(score: str) -> tuple[float, ...]:
    """Bin edges for a score, chosen from its name so every unit uses the same bins.

    Ratios and fractions live in [0, 1]; counts, sizes and lengths in pixels spread over
    orders of magnitude and get powers of two; aspect ratios get four bins an octave
    from 1/16 to 16; the rest (mean word length, entropy in bits) get unit-wide bins
    from 0 to 20.
    """
    if "aspect" in score:
        return _ASPECT_EDGES
    if score.endswith(("ratio", "frac", "fraction", "confidence")):
        return _RATIO_EDGES
    if score.endswith(("words", "count", "side", "documents", "chars", "images", "texts")):
        return _COUNT_EDGES
    return _LENGTH_EDGES


@dataclass
class Histogram:
    """Counts of a score in fixed bins; values outside the edges go to under/overflow.

    ``counts[i]`` counts values in ``[edges[i], edges[i+1])``; the last bin is closed.
    ``low`` and ``high`` are the thresholds the score was compared with (None: none),
    for the report to draw on the histogram.
    """

    edges: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    underflow: int = 0
    overflow: int = 0
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        self.edges = tuple(float(e) for e in self.edges)
        if len(self.edges) < 2 or list(self.edges) != sorted(set(self.edges)):
            raise ValueError(f"histogram edges must be at least two increasing values: {self.edges}")
        if not self.counts:
            self.counts = [0] * (len(self.edges) - 1)
        if len(self.counts) != len(self.edges) - 1:
            raise ValueError("histogram has one count per bin")

    def add(self, value: float) -> None:
        if math.isnan(value):
            self.overflow += 1
        elif value < self.edges[0]:
            self.underflow += 1
        elif value > self.edges[-1]:
            self.overflow += 1
        else:
            index = min(bisect.bisect_right(self.edges, value) - 1, len(self.counts) - 1)
            self.counts[index] += 1

    def total(self) -> int:
        return sum(self.counts) + self.underflow + self.overflow

    def merge(self, other: Histogram) -> Histogram:
        if other.edges != self.edges:
            raise ValueError("cannot merge histograms with different bin edges")
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.underflow += other.underflow
        self.overflow += other.overflow
        self.low = other.low if self.low is None else self.low
        self.high = other.high if self.high is None else self.high
        return self

    def to_json(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "counts": list(self.counts),
                "underflow": self.underflow, "overflow": self.overflow, "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Histogram:
        return cls(tuple(data["edges"]), [int(c) for c in data["counts"]],
                   int(data.get("underflow", 0)), int(data.get("overflow", 0)),
                   data.get("low"), data.get("high"))


def sample_key(seed: int, *parts: Any) -> float:
    """A reproducible pseudo-random number in [0, 1) for an item (see the module docstring)."""
    text = "\0".join(str(part) for part in (seed, *parts))
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class Reservoir:
    """A uniform random sample of at most ``size`` records that merges exactly (bottom-k)."""

    size: int = SAMPLE_SIZE
    # (key, record) pairs, kept as a max-heap on key through negation.
    entries: list[tuple[float, str]] = field(default_factory=list)

    def offer(self, key: float, record: Mapping[str, Any]) -> None:
        if self.size <= 0:
            return
        item = (-key, json.dumps(record, sort_keys=True, ensure_ascii=False))
        if len(self.entries) < self.size:
            heapq.heappush(self.entries, item)
        elif key < -self.entries[0][0]:
            heapq.heapreplace(self.entries, item)

    def records(self) -> list[dict[str, Any]]:
        """The sampled records, in key order (a stable, random-looking order)."""
        return [json.loads(record) for _, record in sorted(self.entries, key=lambda e: -e[0])]

    def merge(self, other: Reservoir) -> Reservoir:
        self.size = min(self.size, other.size)
        smallest = sorted(self.entries + other.entries, key=lambda e: (-e[0], e[1]))[: self.size]
        self.entries = list(smallest)
        heapq.heapify(self.entries)
        return self

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size,
                "sample": [{"key": -negkey, **json.loads(record)}
                           for negkey, record in sorted(self.entries, key=lambda e: -e[0])]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reservoir:
        reservoir = cls(int(data["size"]))
        for entry in data["sample"]:
            record = {k: v for k, v in entry.items() if k != "key"}
            reservoir.entries.append((-float(entry["key"]), json.dumps(record, sort_keys=True, ensure_ascii=False)))
        heapq.heapify(reservoir.entries)
        return reservoir


@dataclass
class StepStats:
    """What one filter step did: inputs, keeps, drops by reason, score histograms, drop sample.

    ``volume_in`` and ``volume_dropped`` sum what the items seen and dropped carried
    (``documents``, ``images``, ``words``): a step counts paragraphs or images, but
    a report follows documents, images and words through the whole pipeline.
    """

    name: str
    seed: int = 0
    inputs: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, Histogram] = field(default_factory=dict)
    sample: Reservoir = field(default_factory=Reservoir)
    volume_in: Counter[str] = field(default_factory=Counter)
    volume_dropped: Counter[str] = field(default_factory=Counter)

    def observe(self, score: str, value: float, limits: tuple[float | None, float | None] | None = None) -> None:
        histogram = self.histograms.get(score)
        if histogram is None:
            histogram = self.histograms[score] = Histogram(default_edges(score))
        if limits is not None:
            histogram.low, histogram.high = limits
        histogram.add(value)

    def record(self, keep: bool, reason: str, score: float | None, item: Any,
               volume: Mapping[str, int] | None = None) -> None:
        """Count one decision; a drop is offered to the sample with its reason and score."""
        self.inputs += 1
        self.volume_in.update(volume or {})
        if keep:
            self.kept += 1
            return
        self.volume_dropped.update(volume or {})
        self.dropped[reason] += 1
        occurrence = self.dropped[reason]
        self.sample.offer(sample_key(self.seed, self.name, reason, item, occurrence),
                          {"reason": reason, "score": score, "item": item})

    def merge(self, other: StepStats) -> StepStats:
        if other.name != self.name:
            raise ValueError(f"cannot merge stats of step {other.name!r} into {self.name!r}")
        self.seed = min(self.seed, other.seed)  # only keys new drops; min keeps merges symmetric
        self.inputs += other.inputs
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.volume_in.update(other.volume_in)
        self.volume_dropped.update(other.volume_dropped)
        for score, histogram in other.histograms.items():
            if score in self.histograms:
                self.histograms[score].merge(histogram)
            else:
                self.histograms[score] = Histogram.from_json(histogram.to_json())
        self.sample.merge(other.sample)
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "inputs": self.inputs,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "histograms": {k: h.to_json() for k, h in sorted(self.histograms.items())},
            "sample": self.sample.to_json(),
            "volume_in": dict(sorted(self.volume_in.items())),
            "volume_dropped": dict(sorted(self.volume_dropped.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepStats:
        return cls(
            name=data["name"],
            seed=int(data.get("seed", 0)),
            inputs=int(data["inputs"]),
            kept=int(data["kept"]),
            dropped=Counter({str(k): int(v) for k, v in data["dropped"].items()}),
            histograms={k: Histogram.from_json(v) for k, v in data.get("histograms", {}).items()},
            sample=Reservoir.from_json(data["sample"]),
            volume_in=Counter({str(k): int(v) for k, v in data.get("volume_in", {}).items()}),
            volume_dropped=Counter({str(k): int(v) for k, v in data.get("volume_dropped", {}).items()}),
        )


class FilterReport:
    """The stats of every step of a pipeline, by step name: one per unit, merged for a build."""

    def __init__(self, steps: Iterable[StepStats] = ()) -> None:
        self.steps: dict[str, StepStats] = {}
        for step in steps:
            self.add(step)

    def add(self, step: StepStats) -> None:
        if step.name in self.steps:
            self.steps[step.name].merge(StepStats.from_json(step.to_json()))
        else:
            self.steps[step.name] = StepStats.from_json(step.to_json())

    def merge(self, other: FilterReport) -> FilterReport:
        for step in other.steps.values():
            self.add(step)
        return self

    def __getitem__(self, name: str) -> StepStats:
        return self.steps[name]

    def counters(self, prefix: str = "filter") -> Stats:
        """The counts as ``shards.stats.Stats`` counters: ``filter/STEP/in|kept|dropped/REASON``."""
        stats = Stats()
        for name, step in self.steps.items():
            stats.add(f"{prefix}/{name}/in", step.inputs)
            stats.add(f"{prefix}/{name}/kept", step.kept)
            for reason, count in step.dropped.items():
                stats.add(f"{prefix}/{name}/dropped/{reason}", count)
        return stats

    def to_json(self) -> dict[str, Any]:
        return {"steps": [step.to_json() for step in self.steps.values()]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FilterReport:
        return cls(StepStats.from_json(step) for step in data["steps"])

    @classmethod
    def total(cls, reports: Iterable[FilterReport]) -> FilterReport:
        result = cls()
        for report in reports:
            result.merge(report)
        return result
