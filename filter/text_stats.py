"""Measurements of a text that the text filters threshold (pure functions).

The definitions follow the BigScience ROOTS / OBELICS filters, whose thresholds we use,
so a threshold means here what it meant there; each function says what it counts.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

from flamboyance.filter.words import words

# Marks that end or split a clause: what a text written as sentences contains.
PUNCTUATION_MARKS = frozenset(".,!?;:…。，！？；：")


def char_repetition_ratio(text: str, n: int = 10) -> float:
    """Share of character n-gram occurrences taken by the most repeated n-grams.

    The n-grams are ranked by frequency and the top sqrt(#distinct) of them counted, but
    only those that occur more than once (the ROOTS rule): a text without a repeated
    n-gram scores 0, a text that is one phrase over and over scores near 1.
    """
    counts = Counter(text[i : i + n] for i in range(len(text) - n + 1))
    if not counts:
        return 0.0
    frequencies = sorted(counts.values(), reverse=True)
    repeated = sum(1 for f in frequencies if f > 1)
    top = min(int(math.sqrt(len(frequencies))), repeated)
    return sum(frequencies[:top]) / sum(frequencies)


def word_repetition_ratio(tokens: Sequence[str], n: int = 5) -> float:
    """Share of word n-gram occurrences that belong to an n-gram occurring more than once."""
    counts = Counter(zip(*(tokens[i:] for i in range(n))))
    total = sum(counts.values())
    if not total:
        return 0.0
    return sum(c for c in counts.values() if c > 1) / total


def special_char_ratio(text: str) -> float:
    """Share of characters that are whitespace, digits, punctuation or symbols (emoji too)."""
    if not text:
        return 0.0
    special = sum(1 for char in text if char.isspace() or char.isdigit()
                  or unicodedata.category(char)[0] in "PS")
    return special / len(text)


def wordlist_ratio(text: str, wordlist: AbstractSet[str]) -> float:
    """Share of the words of ``text`` (``filter.words.words``) found in ``wordlist``."""
    found = words(text)
    if not found:
        return 0.0
    return sum(1 for word in found if word in wordlist) / len(found)


def alphabetic_wordlist_ratio(text: str, wordlist: AbstractSet[str]) -> float:
    """Like ``wordlist_ratio`` but over words with a letter: numbers are in no word list."""
    found = [word for word in words(text) if any(char.isalpha() for char in word)]
    if not found:
        return 0.0
    return sum(1 for word in found if word in wordlist) / len(found)


def punctuation_ratio(text: str) -> float:
    """Clause-ending punctuation marks (``PUNCTUATION_MARKS``) per word."""
    count = len(words(text))
    if not count:
        return 0.0
    return sum(1 for char in text if char in PUNCTUATION_MARKS) / count
