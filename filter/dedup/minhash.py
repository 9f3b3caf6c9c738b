"""MinHash signatures of word shingles and LSH banding, vectorised over many documents.

Near-duplicate detection compares documents by the Jaccard similarity of their sets of
word n-grams ("shingles", 5 words by default, as in Gopher, OBELICS and FineWeb). A
MinHash signature of ``num_perm`` numbers estimates it: the fraction of positions where
two signatures agree is an unbiased estimate of the Jaccard similarity. Locality
sensitive hashing cuts a signature into ``bands`` of ``rows`` numbers; two documents
become candidates when any band is identical, which happens with probability
``1 - (1 - J**rows) ** bands`` -- an S-curve around the chosen threshold.

Why it is fast (see ``benchmarks/dedup.py``): words are hashed once each (a cache keeps
a stable 64-bit hash per distinct word), shingle hashes are combined from word hashes
with numpy, and the permutations are *multiply-shift* hashes ``(a*x + b) mod 2**64 >>
32``, which are plain wrapping uint64 arithmetic. So a whole batch of documents becomes
one matrix of ``shingles x num_perm`` values, reduced to per-document minima with
``np.minimum.reduceat``, in chunks that bound memory. Python's own ``hash`` is salted
per process, so it is never used: signatures must be equal on every worker and every run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"\w+")
EMPTY = np.uint32(0xFFFFFFFF)  # every position of the signature of a text with no words
_CHUNK_VALUES = 1 << 22  # shingles x permutations computed at once (32 MB of uint64)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_WORD_CACHE_LIMIT = 1 << 20
PREFILTER_MARGIN = 0.15
MAX_BUCKET = 64  # larger LSH buckets give a star and a chain of pairs, not all pairs


@dataclass(frozen=True)
class MinHashConfig:
    """Signature and banding parameters; ``bands * rows`` must not exceed ``num_perm``.

    The defaults put the LSH S-curve's steep part well below 0.8: a pair at Jaccard 0.8
    becomes a candidate with probability 0.998, one at 0.5 with 0.27, one at 0.3 with
    0.015. Candidates are then kept only when their exact similarity reaches ``threshold``.
    """

    num_perm: int = 128
    bands: int = 20
    rows: int = 6
    shingle: int = 5
    threshold: float = 0.8
    seed: int = 1

    def __post_init__(self) -> None:
        if min(self.num_perm, self.bands, self.rows, self.shingle) < 1:
            raise ValueError("num_perm, bands, rows and shingle must be positive")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")


class WordHasher:
    """Stable 64-bit hashes of words, each distinct word hashed once (blake2b, cached)."""

    def __init__(self) -> None:
        self._cache: dict[str, int] = {}

    def __call__(self, words: Sequence[str]) -> np.ndarray:
        cache = self._cache
        if len(cache) > _WORD_CACHE_LIMIT:
            cache.clear()
        for word in {word for word in words if word not in cache}:
            digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            cache[word] = int.from_bytes(digest, "little")
        values = [cache[word] for word in words]
        return np.fromiter(values, dtype=np.uint64, count=len(values))


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (xor-shift-multiply) so every input bit reaches every output bit."""
    values = values ^ (values >> np.uint64(33))
    values = values * _MIX
    return values ^ (values >> np.uint64(33))


def _windows(words: np.ndarray, width: int) -> np.ndarray:
    """One hash per ``width``-word window of ``words``; positions weigh in by distinct odd factors."""
    count = len(words) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(width):
            weight = np.uint64((0x9E3779B97F4A7C15 * (2 * offset + 1)) & 0xFFFFFFFFFFFFFFFF)
            combined = _mix(combined ^ (words[offset : offset + count] * weight))
    return combined


@dataclass
class Sketches:
    """What near-duplicate detection keeps of a batch of texts.

    ``signatures`` is an ``(n, num_perm)`` uint32 matrix (rows of ``EMPTY`` for texts
    without words), for LSH. ``shingles[i]`` is the sorted set of text i's shingles as
    32-bit hashes, to verify candidate pairs with their exact Jaccard similarity (32
    bits make a false match between two shingles of a pair about one in 4 billion).
    """

    signatures: np.ndarray
    shingles: list[np.ndarray]


class MinHasher:
    """Computes MinHash sketches of batches of texts (lower-cased ``\\w+`` words)."""

    def __init__(self, config: MinHashConfig = MinHashConfig()) -> None:
        self.config = config
        generator = np.random.Generator(np.random.PCG64(config.seed))
        high = np.iinfo(np.uint64).max
        multipliers = generator.integers(1, high, size=config.num_perm, dtype=np.uint64, endpoint=True)
        self.multipliers = (multipliers | np.uint64(1))[:, None]
        self.offsets = generator.integers(0, high, size=config.num_perm, dtype=np.uint64, endpoint=True)[:, None]
        self.words = WordHasher()

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        return self.sketch(texts).signatures

    def sketch(self, texts: Sequence[str]) -> Sketches:
        owners, shingles = self._shingles(texts)
        return Sketches(self._signatures(len(texts), owners, shingles), _split_sets(len(texts), owners, shingles))

    def _shingles(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(owner text, 64-bit shingle hash) of every distinct shingle, sorted by owner then hash."""
        size = self.config.shingle
        per_text = [WORD.findall(text.lower()) for text in texts]
        lengths = np.fromiter((len(words) for words in per_text), dtype=np.int64, count=len(per_text))
        flat = self.words([word for words in per_text for word in words])
        firsts = np.cumsum(lengths) - lengths
        owners = np.repeat(np.arange(len(texts)), lengths)
        # Every window of ``size`` words that starts and ends inside one text.
        padded = np.concatenate((flat, np.zeros(size - 1, dtype=np.uint64)))
        starts = np.flatnonzero(np.arange(len(flat)) - firsts[owners] <= lengths[owners] - size)
        hashes, owners = [_windows(padded, size)[starts]], [owners[starts]]
        # A text shorter than one window is one shingle of all its words.
        for text in np.flatnonzero((lengths > 0) & (lengths < size)):
            hashes.append(_windows(flat[firsts[text] : firsts[text] + lengths[text]], int(lengths[text])))
            owners.append(np.array([text]))
        hashes_all, owners_all = np.concatenate(hashes), np.concatenate(owners)
        order = np.lexsort((hashes_all, owners_all))
        hashes_all, owners_all = hashes_all[order], owners_all[order]
        distinct = np.ones(len(order), dtype=bool)
        distinct[1:] = (hashes_all[1:] != hashes_all[:-1]) | (owners_all[1:] != owners_all[:-1])
        return owners_all[distinct], hashes_all[distinct]

    def _signatures(self, count: int, owners: np.ndarray, shingles: np.ndarray) -> np.ndarray:
        """Minima of the permuted shingle hashes per text; ``>> 32`` is monotone, so it comes last."""
        num_perm = self.config.num_perm
        result = np.full((num_perm, count), np.iinfo(np.uint64).max, dtype=np.uint64)
        step = max(1, _CHUNK_VALUES // num_perm)
        buffer = np.empty((num_perm, min(step, len(shingles))), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for start in range(0, len(shingles), step):
                values = shingles[start : start + step]
                chunk_owners = owners[start : start + step]
                hashed = buffer[:, : len(values)]
                np.multiply(self.multipliers, values[None, :], out=hashed)
                hashed += self.offsets
                starts = np.concatenate(([0], np.flatnonzero(np.diff(chunk_owners)) + 1))
                minima = np.minimum.reduceat(hashed, starts, axis=1)
                texts = chunk_owners[starts]
                result[:, texts] = np.minimum(result[:, texts], minima)
        return np.ascontiguousarray((result >> np.uint64(32)).astype(np.uint32).T)


def _split_sets(count: int, owners: np.ndarray, shingles: np.ndarray) -> list[np.ndarray]:
    """Per text, the sorted distinct high 32 bits of its shingle hashes."""
    high = (shingles >> np.uint64(32)).astype(np.uint32)
    keep = np.ones(len(high), dtype=bool)
    keep[1:] = (high[1:] != high[:-1]) | (owners[1:] != owners[:-1])
    bounds = np.searchsorted(owners[keep], np.arange(count + 1))
    high = high[keep]
    return [high[bounds[i] : bounds[i + 1]] for i in range(count)]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The exact Jaccard similarity of two sorted sets of distinct shingle hashes."""
    union = len(a) + len(b)
    if union == 0:
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (union - common)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The fraction of agreeing positions of signature rows ``a`` and ``b`` (broadcasts)."""
    return np.mean(a == b, axis=-1)


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """An ``(n, bands)`` uint64 matrix: one hash of each band of each signature."""
    n = len(signatures)
    result = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for row in range(rows):
            column = signatures[:, row : bands * rows : rows].astype(np.uint64)
            result = _mix(result ^ (column + np.uint64(row + 1) * np.uint64(0x9E3779B97F4A7C15)))
    return result


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int, max_bucket: int = MAX_BUCKET) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of rows that share at least one band, as a sorted ``(m, 2)`` array.

    Rows whose signature is ``EMPTY`` (no words) are never candidates; large buckets
    give a star and a chain (``bucket_pairs``).
    """
    valid = np.flatnonzero(~np.all(signatures == EMPTY, axis=1))
    if len(valid) < 2:
        return np.empty((0, 2), dtype=np.int64)
    hashes = band_hashes(signatures[valid], bands, rows)
    pairs = []
    for band in range(bands):
        order = np.argsort(hashes[:, band], kind="stable")
        sorted_hashes = hashes[order, band]
        boundaries = np.flatnonzero(np.diff(sorted_hashes)) + 1
        starts = np.concatenate(([0], boundaries))
        ends = np.concatenate((boundaries, [len(order)]))
        for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
            pairs.append(bucket_pairs(np.sort(valid[order[start:end]]), max_bucket))
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


def bucket_pairs(members: np.ndarray, max_bucket: int) -> np.ndarray:
    """The candidate pairs of one LSH bucket, ``members`` sorted: all pairs, or a star and a chain.

    A bucket of more than ``max_bucket`` documents (a template shared by thousands of
    pages) would give a quadratic number of pairs; its members are paired with its first
    member and their predecessor only, which still joins them into one cluster.
    """
    if len(members) <= max_bucket:
        first, second = np.triu_indices(len(members), k=1)
        return np.stack((members[first], members[second]), axis=1)
    return np.concatenate((np.stack((np.full(len(members) - 1, members[0]), members[1:]), axis=1),
                           np.stack((members[:-1], members[1:]), axis=1)))


def likely_pairs(signatures: np.ndarray, config: MinHashConfig, max_bucket: int = MAX_BUCKET) -> np.ndarray:
    """LSH candidates whose estimated Jaccard is not far below the threshold.

    Far means ``PREFILTER_MARGIN`` (0.15, over 4 standard deviations of a 128-permutation
    estimate at 0.8): such pairs would fail the exact check anyway, and skipping them
    saves reading their shingle sets.
    """
    pairs = candidate_pairs(signatures, config.bands, config.rows, max_bucket)
    if len(pairs) == 0:
        return pairs
    estimate = estimated_jaccard(signatures[pairs[:, 0]], signatures[pairs[:, 1]])
    return pairs[estimate >= config.threshold - PREFILTER_MARGIN]


def verified_pairs(pairs: np.ndarray, shingles: Mapping[int, np.ndarray] | Sequence[np.ndarray], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs whose exact shingle Jaccard reaches ``threshold``, and that similarity.

    An estimate from 128 permutations is off by about 0.035 at 0.8, which near the
    threshold would cost precision and recall alike; the exact check costs neither.
    """
    similarity = np.array([jaccard(shingles[i], shingles[j]) for i, j in pairs.tolist()], dtype=np.float64)
    keep = similarity >= threshold if len(pairs) else np.zeros(0, dtype=bool)
    return pairs[keep], similarity[keep]


def near_duplicate_pairs(
    signatures: np.ndarray, shingles: Sequence[np.ndarray], config: MinHashConfig, max_bucket: int = MAX_BUCKET
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, at exact Jaccard >= ``config.threshold``, with their similarity."""
    return verified_pairs(likely_pairs(signatures, config, max_bucket), shingles, config.threshold)
