"""Splitting text into words, and the word lists the text filters compare words with.

Two splits, for two families of rules:

``tokens`` follows the conventions of spaCy's English tokenizer closely enough for the
Gopher rules to take the same decisions as datatrove (which runs spaCy): punctuation,
symbols and ``n't``/``'s`` are tokens of their own; numbers keep their inner ``.,:/``;
a hyphen is its own token unless a letter precedes it and a digit follows (``COVID-19``);
common abbreviations and initials keep their period. It is one regular expression, an order of
magnitude faster than spaCy.

``whitespace_words`` is the text split on whitespace, punctuation attached: the words
of the Gopher paper's rules.

``words`` is what the OBELICS-style ratios count: whitespace-separated words,
lower-cased, with the punctuation around them removed.

Both are cached on the text, since a paragraph goes through several filters in a row.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

WORDLISTS = Path(__file__).resolve().parent / "wordlists"

# Abbreviations that keep their period (spaCy's English tokenizer exceptions).
_ABBREVIATIONS = [
    "Adm", "Ak", "Ala", "Apr", "Ariz", "Ark", "Aug", "Bros", "Calif", "Co", "Colo", "Conn",
    "Corp", "Dec", "Del", "Dr", "Feb", "Fla", "Ga", "Gen", "Gov", "Ia", "Id", "Ill", "Inc",
    "Ind", "Jan", "Jr", "Jul", "Jun", "Kan", "Kans", "Ky", "La", "Ltd", "Mar", "Mass", "Md",
    "Messrs", "Mich", "Minn", "Miss", "Mo", "Mont", "Mr", "Mrs", "Ms", "Mt", "Neb", "Nebr",
    "Nev", "Nov", "Oct", "Okla", "Ore", "Pa", "Prof", "Rep", "Rev", "Sen", "Sep", "Sept",
    "St", "Tenn", "Va", "Wash", "Wis", "co", "vs",
]
_CONTRACTION = r"(?:s|re|ve|ll|d|m)\b"
_TOKEN = re.compile(
    rf"""
      https?://\S+?(?=[.,;:!?)\]"'”’]*(?:\s|$))      # a URL, without trailing punctuation
    | (?:[^\W\d_]\.){{2,}}                            # abbreviations: U.S. e.g.
    | (?<!\w)(?-i:{"|".join(_ABBREVIATIONS)})\.        # Mr. Nov. Ill.
    | (?<!\w)[^\W\d_]\.(?!\w)                          # initials: John Q. Public
    | \w+?(?=n['’]t\b)                                # do|n't
    | n['’]t\b
    | ['’]{_CONTRACTION}                              # 's 're 've 'll 'd 'm
    | \w+(?:(?:[.,:/](?=\d)|(?<=[^\W\d_])-(?=\d)|\.(?=[^\W\d_])|['’](?!{_CONTRACTION})(?=\w))\w+)*
    | \.\.\.
    | [^\w\s]                                         # any other symbol, alone
    """,
    re.VERBOSE | re.IGNORECASE,
)


@lru_cache(maxsize=256)
def tokens(text: str) -> tuple[str, ...]:
    """spaCy-like word and punctuation tokens (for the Gopher rules)."""
    return tuple(_TOKEN.findall(text))


@lru_cache(maxsize=256)
def whitespace_words(text: str) -> tuple[str, ...]:
    """The text split on whitespace, punctuation attached (for the Gopher rules as the paper reads)."""
    return tuple(text.split())


# Every punctuation mark and symbol of the Basic Multilingual Plane (Unicode P* and S*).
_STRIP = "".join(chr(c) for c in range(0x10000) if unicodedata.category(chr(c))[0] in "PS")


@lru_cache(maxsize=256)
def words(text: str) -> tuple[str, ...]:
    """Lower-cased whitespace-separated words without surrounding punctuation (OBELICS ratios)."""
    stripped = (word.strip(_STRIP) for word in text.lower().split())
    return tuple(word for word in stripped if word)


@cache
def load_wordlist(name: str) -> frozenset[str]:
    """A word list shipped in ``filter/wordlists/NAME.txt[.gz]`` (one word a line, ``#`` comments).

    A path to another file works too, for lists of other languages.
    """
    if "/" in name or name.endswith((".txt", ".gz")):
        path = Path(name)
    else:
        path = WORDLISTS / f"{name}.txt"
        if not path.is_file():
            path = WORDLISTS / f"{name}.txt.gz"
    if not path.is_file():
        raise FileNotFoundError(f"word list not found: {path}")
    entries = set()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as stream:
        for line in stream:
            word = line.split("#", 1)[0].strip().lower()
            if word:
                entries.add(word)
    return frozenset(entries)
