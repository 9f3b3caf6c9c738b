"""The Gopher quality and repetition rules (Rae et al. 2021, MassiveText, section A.1.1).

M3W, Flamingo's interleaved data set, filtered its text with these rules. The thresholds
are the paper's. What a "word" is decides what several rules measure, so both steps take
a ``tokenizer``:

- ``"whitespace"`` (the default) reads the paper: words are the text split on
  whitespace, punctuation stays attached to its word ("Ray Charles (1930–2004)." is three
  words), a token of punctuation only (a lone "–" or "|") is no word at all, and the
  stop-word rule asks for two distinct stop words of the list, whatever their case
  ("The" is "the").
- ``"datatrove"`` reproduces datatrove, which splits with spaCy: punctuation marks are
  tokens of their own (``filter.words.tokens``), so a text rich in commas, brackets and
  dates has many tokens without a letter. The word count and mean word length skip
  tokens made of punctuation only, but the alphabetic-words ratio does not: the "Ray
  Charles" Wikipedia article scores 0.71 that way (0.93 split on whitespace) and is
  dropped at the paper's 0.8. Stop words are matched case-sensitively. The agreement
  test with datatrove uses this option.

In both, the top-n-gram rule measures the most frequent n-gram even when it occurs once
(as datatrove does). Both steps look at the text of a whole document, its text blocks
separated by blank lines, and stop at the first rule that fails.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate
from typing import Any

from flamboyance.filter.base import Filter, Rules, Verdict
from flamboyance.filter.words import tokens, whitespace_words
from flamboyance.filter.words import words as words_of

# The Gopher paper's stop words: a document must contain at least two of them.
GOPHER_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})

# Characters that make a token a "symbol" rather than a word: punctuation (Unicode P*),
# ASCII symbols and control characters. Other symbols (currency, emoji) count as words.
_SYMBOL_CHARS = frozenset(
    chr(c) for c in range(0x10000)
    if unicodedata.category(chr(c))[0] == "P" or c < 0x20 or 0x7F <= c < 0xA0
    or (c < 0x80 and unicodedata.category(chr(c))[0] == "S")
)
_ALPHA = re.compile(r"[^\W\d_]")
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAK = re.compile(r"\n+")


def _is_symbol(token: str) -> bool:
    return all(char in _SYMBOL_CHARS for char in token)


TOKENIZERS = {"whitespace": whitespace_words, "datatrove": tokens}


def _tokenizer(name: str) -> Callable[[str], tuple[str, ...]]:
    if name not in TOKENIZERS:
        raise ValueError(f"unknown Gopher tokenizer {name!r}; expected one of {sorted(TOKENIZERS)}")
    return TOKENIZERS[name]


class GopherQuality(Filter):
    """Document length, mean word length, symbols, bullets, ellipses, alphabetic words, stop words.

    The paper's rules: 50 to 100,000 words; mean word length 3 to 10 characters; at
    most 0.1 hash symbols and 0.1 ellipses per word; at most 90% of lines starting
    with a bullet and 30% ending with an ellipsis; at least 80% of words with an
    alphabetic character; at least two of the stop words. Words are whitespace-separated
    unless ``tokenizer="datatrove"`` (see the module docstring).
    """

    name = "gopher_quality"

    def __init__(self, min_words: int = 50, max_words: int = 100_000,
                 min_mean_word_length: float = 3, max_mean_word_length: float = 10,
                 max_symbol_ratio: float = 0.1, max_bullet_lines_ratio: float = 0.9,
                 max_ellipsis_lines_ratio: float = 0.3, min_alpha_words_ratio: float = 0.8,
                 min_stop_words: int = 2, stop_words: Sequence[str] = tuple(GOPHER_STOP_WORDS),
                 tokenizer: str = "whitespace", **options: Any) -> None:
        super().__init__(**options)
        self.tokenize, self.paper = _tokenizer(tokenizer), tokenizer == "whitespace"
        self.min_words, self.max_words = min_words, max_words
        self.min_mean_word_length, self.max_mean_word_length = min_mean_word_length, max_mean_word_length
        self.max_symbol_ratio = max_symbol_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(stop_words)

    def check(self, text: str) -> Verdict:
        toks = self.tokenize(text)
        words = [t for t in toks if not _is_symbol(t)]
        # What the per-word ratios divide by: the words (the paper), or every token (datatrove).
        toks = words if self.paper else toks
        rules = Rules()
        if drop := rules.check("gopher_words", len(words), self.min_words, self.max_words):
            return drop
        mean_length = sum(map(len, words)) / len(words)
        if drop := rules.check("gopher_mean_word_length", mean_length,
                               self.min_mean_word_length, self.max_mean_word_length):
            return drop
        if drop := rules.check("gopher_hash_ratio", text.count("#") / len(toks), high=self.max_symbol_ratio):
            return drop
        ellipses = (text.count("...") + text.count("…")) / len(toks)
        if drop := rules.check("gopher_ellipsis_ratio", ellipses, high=self.max_symbol_ratio):
            return drop
        lines = text.splitlines() or [""]
        bullets = sum(line.lstrip().startswith(("•", "-")) for line in lines) / len(lines)
        if drop := rules.check("gopher_bullet_lines_ratio", bullets, high=self.max_bullet_lines_ratio):
            return drop
        trailing = sum(line.rstrip().endswith(("...", "…")) for line in lines) / len(lines)
        if drop := rules.check("gopher_ellipsis_lines_ratio", trailing, high=self.max_ellipsis_lines_ratio):
            return drop
        alpha = sum(1 for t in toks if _ALPHA.search(t)) / len(toks)
        if drop := rules.check("gopher_alpha_words_ratio", alpha, low=self.min_alpha_words_ratio):
            return drop
        stops = len(self.stop_words.intersection(words_of(text) if self.paper else toks))
        return rules.check("gopher_stop_words", stops, low=self.min_stop_words) or rules.passed()


def _duplicates(parts: list[str]) -> tuple[int, int]:
    """How many parts repeat an earlier one, and how many characters those repeats hold."""
    seen: set[str] = set()
    count = chars = 0
    for part in parts:
        if part in seen:
            count += 1
            chars += len(part)
        else:
            seen.add(part)
    return count, chars


def _top_ngram_chars(toks: Sequence[str], n: int) -> int:
    """Characters covered by the most frequent n-gram (joined by spaces) times its count.

    Ties go to the n-gram seen first, as in datatrove.
    """
    counts = Counter(zip(*(toks[i:] for i in range(n))))
    gram, count = counts.most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count


def _repeated_ngram_chars(toks: Sequence[str], lengths: list[int], n: int) -> int:
    """Characters in n-grams that repeat an earlier n-gram, scanning without overlap.

    ``lengths`` holds the running sum of token lengths, so an n-gram's length (its tokens
    joined without spaces) is one subtraction.
    """
    grams = list(zip(*(toks[i:] for i in range(n))))
    seen: set[tuple[str, ...]] = set()
    repeated, index, last = 0, 0, len(grams)
    while index < last:
        gram = grams[index]
        if gram in seen:
            repeated += lengths[index + n] - lengths[index]
            index += n
        else:
            seen.add(gram)
            index += 1
    return repeated


class GopherRepetition(Filter):
    """Repeated paragraphs, lines and n-grams: boilerplate and generated spam.

    Paragraphs are split on blank lines, lines on line breaks; n-grams are over
    whitespace-separated words unless ``tokenizer="datatrove"`` (spaCy-like tokens).
    Character counts of an n-gram are its words' characters.
    """

    name = "gopher_repetition"

    def __init__(self, max_dup_para_frac: float = 0.3, max_dup_para_char_frac: float = 0.2,
                 max_dup_line_frac: float = 0.3, max_dup_line_char_frac: float = 0.2,
                 top_ngrams: Mapping[int, float] | None = None,
                 dup_ngrams: Mapping[int, float] | None = None, tokenizer: str = "whitespace",
                 **options: Any) -> None:
        super().__init__(**options)
        self.tokenize = _tokenizer(tokenizer)
        self.max_dup_para_frac, self.max_dup_para_char_frac = max_dup_para_frac, max_dup_para_char_frac
        self.max_dup_line_frac, self.max_dup_line_char_frac = max_dup_line_frac, max_dup_line_char_frac
        self.top_ngrams = dict(top_ngrams or {2: 0.20, 3: 0.18, 4: 0.16})
        self.dup_ngrams = dict(dup_ngrams or {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})

    def check(self, text: str) -> Verdict:
        if not text:
            return Verdict(False, "empty", 0.0)
        rules = Rules()
        paragraphs = _PARAGRAPH_BREAK.split(text.strip())
        count, chars = _duplicates(paragraphs)
        if drop := rules.check("gopher_dup_para_frac", count / len(paragraphs), high=self.max_dup_para_frac):
            return drop
        if drop := rules.check("gopher_dup_para_char_frac", chars / len(text), high=self.max_dup_para_char_frac):
            return drop
        lines = _LINE_BREAK.split(text)
        count, chars = _duplicates(lines)
        if drop := rules.check("gopher_dup_line_frac", count / len(lines), high=self.max_dup_line_frac):
            return drop
        if drop := rules.check("gopher_dup_line_char_frac", chars / len(text), high=self.max_dup_line_char_frac):
            return drop
        toks = self.tokenize(text)
        for n, limit in self.top_ngrams.items():
            if len(toks) >= n:
                share = _top_ngram_chars(toks, n) / len(text)
                if drop := rules.check(f"gopher_top_{n}_gram_char_frac", share, high=limit):
                    return drop
        lengths = [0, *accumulate(map(len, toks))]
        for n, limit in self.dup_ngrams.items():
            share = _repeated_ngram_chars(toks, lengths, n) / len(text)
            if drop := rules.check(f"gopher_dup_{n}_gram_char_frac", share, high=limit):
                return drop
        return rules.passed()
