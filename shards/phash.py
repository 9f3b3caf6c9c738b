"""A perceptual hash of an image: the same picture after re-encoding, resizing or mild edits hashes alike.

The build stores one per image (``crawl/images.py``); dedup compares them to find
repeated pictures (``filter/dedup/images.py``).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

_HASH_SIDE = 32
_HASH_FREQUENCIES = 8


def _dct_basis(n: int, keep: int) -> np.ndarray:
    """The first ``keep`` rows of the orthonormal DCT-II matrix of size ``n``."""
    k = np.arange(keep)[:, None]
    x = np.arange(n)[None, :]
    basis = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * math.sqrt(2 / n)
    basis[0] /= math.sqrt(2)
    return basis.astype(np.float32)


_DCT_ROWS = _dct_basis(_HASH_SIDE, _HASH_FREQUENCIES)


def phash(image: Image.Image) -> str:
    """A 64-bit DCT perceptual hash as 16 hex digits.

    The algorithm (after Zauner's pHash): shrink to 32x32 greyscale with an area
    filter, so only the coarse structure survives; take the 2-D DCT-II and keep the
    8x8 block of lowest frequencies (computed directly as ``C @ X @ C.T`` with the 8
    first basis rows, 8x32 each); threshold each coefficient at the median of the 63
    AC coefficients. The DC term is left out of the median because it only measures
    overall brightness and is an order of magnitude larger than the rest; its bit is
    still emitted (row-major order, most significant bit first). Re-encoding, resizing
    and mild colour changes flip few bits; different pictures differ in about half.
    """
    grey = image.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float32)
    low = _DCT_ROWS @ pixels @ _DCT_ROWS.T
    flat = low.ravel()
    bits = flat > np.median(flat[1:])
    return f"{int.from_bytes(np.packbits(bits).tobytes(), 'big'):016x}"


def phash_distance(a: str, b: str) -> int:
    """The Hamming distance between two hashes from ``phash`` (0 = same picture)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
