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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"\w+")
EMPTY = np.uint32(0xFFFFFFFF)  # every position of the signature of a text with no words
_CHUNK_VALUES = 1 << 22  # shingles x permutations computed at once (32 MB of uint64)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_WORD_CACHE_LIMIT = 1 << 20


@dataclass(frozen=True)
class MinHashConfig:
    """Signature and banding parameters; ``bands * rows`` must not exceed ``num_perm``.

    The defaults put the LSH S-curve's steep part just below 0.8 (a pair at Jaccard 0.8
    becomes a candidate with probability 0.997, one at 0.5 with 0.13), and candidates
    are then kept only when their estimated similarity reaches ``threshold``.
    """

    num_perm: int = 256
    bands: int = 32
    rows: int = 8
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
        values = []
        for word in words:
            value = cache.get(word)
            if value is None:
                digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
                value = cache[word] = int.from_bytes(digest, "little")
            values.append(value)
        return np.fromiter(values, dtype=np.uint64, count=len(values))


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (xor-shift-multiply) so every input bit reaches every output bit."""
    values = values ^ (values >> np.uint64(33))
    values = values * _MIX
    return values ^ (values >> np.uint64(33))


def shingle_hashes(words: np.ndarray, size: int) -> np.ndarray:
    """The distinct 64-bit hashes of the ``size``-word windows of a sequence of word hashes.

    A text shorter than one window is a single shingle of all its words; no words, no
    shingles. Word positions are weighted by distinct odd multipliers, so the same words
    in another order give another shingle.
    """
    count = len(words)
    if count == 0:
        return np.empty(0, dtype=np.uint64)
    width = min(size, count)
    windows = count - width + 1
    combined = np.zeros(windows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(width):
            weight = np.uint64((0x9E3779B97F4A7C15 * (2 * offset + 1)) & 0xFFFFFFFFFFFFFFFF)
            combined = _mix(combined ^ (words[offset : offset + windows] * weight))
    return np.unique(combined)


class MinHasher:
    """Computes MinHash signatures (uint32, ``num_perm`` per document) for batches of texts."""

    def __init__(self, config: MinHashConfig = MinHashConfig()) -> None:
        self.config = config
        generator = np.random.Generator(np.random.PCG64(config.seed))
        high = np.iinfo(np.uint64).max
        self.multipliers = generator.integers(1, high, size=config.num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
        self.offsets = generator.integers(0, high, size=config.num_perm, dtype=np.uint64, endpoint=True)
        self.words = WordHasher()

    def shingles(self, text: str) -> np.ndarray:
        """The distinct shingle hashes of a text (lower-cased ``\\w+`` words)."""
        return shingle_hashes(self.words(WORD.findall(text.lower())), self.config.shingle)

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """An ``(len(texts), num_perm)`` uint32 matrix; a text without words gets all ``EMPTY``."""
        return self.signatures_of_shingles([self.shingles(text) for text in texts])

    def signatures_of_shingles(self, shingle_sets: Sequence[np.ndarray]) -> np.ndarray:
        num_perm = self.config.num_perm
        result = np.full((len(shingle_sets), num_perm), EMPTY, dtype=np.uint32)
        lengths = np.fromiter((len(s) for s in shingle_sets), dtype=np.int64, count=len(shingle_sets))
        if lengths.sum() == 0:
            return result
        values = np.concatenate(shingle_sets)
        owners = np.repeat(np.arange(len(shingle_sets)), lengths)
        step = max(1, _CHUNK_VALUES // num_perm)
        with np.errstate(over="ignore"):
            for start in range(0, len(values), step):
                chunk_owners = owners[start : start + step]
                hashed = values[start : start + step, None] * self.multipliers + self.offsets
                hashed = (hashed >> np.uint64(32)).astype(np.uint32)
                starts = np.concatenate(([0], np.flatnonzero(np.diff(chunk_owners)) + 1))
                minima = np.minimum.reduceat(hashed, starts, axis=0)
                documents = chunk_owners[starts]
                result[documents] = np.minimum(result[documents], minima)
        return result


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


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int, max_bucket: int = 64) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of rows that share at least one band, as a sorted ``(m, 2)`` array.

    Rows whose signature is ``EMPTY`` (no words) are never candidates. A bucket of more
    than ``max_bucket`` documents (a template shared by thousands of pages) would give a
    quadratic number of pairs; its members are paired with its first member and their
    predecessor only, which still joins them into one cluster when they verify.
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
            members = np.sort(valid[order[start:end]])
            if len(members) <= max_bucket:
                first, second = np.triu_indices(len(members), k=1)
                pairs.append(np.stack((members[first], members[second]), axis=1))
            else:
                pairs.append(np.stack((np.full(len(members) - 1, members[0]), members[1:]), axis=1))
                pairs.append(np.stack((members[:-1], members[1:]), axis=1))
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


def near_duplicate_pairs(signatures: np.ndarray, config: MinHashConfig, max_bucket: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs whose estimated Jaccard reaches ``config.threshold``, with the estimates."""
    pairs = candidate_pairs(signatures, config.bands, config.rows, max_bucket)
    if len(pairs) == 0:
        return pairs, np.empty(0)
    similarity = estimated_jaccard(signatures[pairs[:, 0]], signatures[pairs[:, 1]])
    keep = similarity >= config.threshold
    return pairs[keep], similarity[keep]
