"""Text filter steps. Each takes a string: a paragraph (a TextNode's text) or a whole
document's text; the pipeline decides which (``filter/pipeline.py``), and the preset
gives each level its own thresholds (OBELICS is stricter on documents than paragraphs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from flamboyance.filter.base import Filter, Rules, Verdict, threshold
from flamboyance.filter.text_stats import (
    alphabetic_wordlist_ratio,
    char_repetition_ratio,
    punctuation_ratio,
    special_char_ratio,
    word_repetition_ratio,
    wordlist_ratio,
)
from flamboyance.filter.words import load_wordlist, words


class WordCount(Filter):
    """Too short to be prose (menus, captions, buttons) or too long to be one page."""

    name = "word_count"

    def __init__(self, min_words: int | None = None, max_words: int | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.min_words, self.max_words = min_words, max_words

    def check(self, text: str) -> Verdict:
        return threshold("words", len(words(text)), self.min_words, self.max_words)


class CharacterRepetition(Filter):
    """Repeated character n-grams: spam, keyword stuffing, repeated boilerplate."""

    name = "character_repetition"

    def __init__(self, max_ratio: float = 0.1, n: int = 10, **options: Any) -> None:
        super().__init__(**options)
        self.max_ratio, self.n = max_ratio, n

    def check(self, text: str) -> Verdict:
        return threshold("char_repetition_ratio", char_repetition_ratio(text, self.n), high=self.max_ratio)


class WordRepetition(Filter):
    """Repeated word n-grams: the same sentence or phrase over and over."""

    name = "word_repetition"

    def __init__(self, max_ratio: float = 0.1, n: int = 5, **options: Any) -> None:
        super().__init__(**options)
        self.max_ratio, self.n = max_ratio, n

    def check(self, text: str) -> Verdict:
        return threshold("word_repetition_ratio", word_repetition_ratio(words(text), self.n), high=self.max_ratio)


class SpecialCharacters(Filter):
    """Too many digits, symbols and spaces: tables of numbers, code, garbled text."""

    name = "special_characters"

    def __init__(self, max_ratio: float = 0.3, **options: Any) -> None:
        super().__init__(**options)
        self.max_ratio = max_ratio

    def check(self, text: str) -> Verdict:
        return threshold("special_char_ratio", special_char_ratio(text), high=self.max_ratio)


class _WordListFilter(Filter):
    """A threshold on the share of words found in a word list (``filter/wordlists``)."""

    default_wordlist = ""

    def __init__(self, min_ratio: float | None = None, max_ratio: float | None = None,
                 wordlist: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.min_ratio, self.max_ratio = min_ratio, max_ratio
        self.wordlist_name = wordlist or self.default_wordlist

    @cached_property
    def wordlist(self) -> frozenset[str]:
        return load_wordlist(self.wordlist_name)


class StopWords(_WordListFilter):
    """Too few stop words: not running text (lists, keywords, tables)."""

    name = "stop_words"
    default_wordlist = "stop_words_en"

    def check(self, text: str) -> Verdict:
        return threshold("stop_word_ratio", wordlist_ratio(text, self.wordlist), self.min_ratio, self.max_ratio)


class FlaggedWords(_WordListFilter):
    """Too many sexually explicit words."""

    name = "flagged_words"
    default_wordlist = "flagged_words_en"

    def check(self, text: str) -> Verdict:
        return threshold("flagged_word_ratio", wordlist_ratio(text, self.wordlist), self.min_ratio, self.max_ratio)


class CommonWords(_WordListFilter):
    """Too few common words: gibberish, misspellings, another language, lists of names."""

    name = "common_words"
    default_wordlist = "common_words_en"

    def check(self, text: str) -> Verdict:
        ratio = alphabetic_wordlist_ratio(text, self.wordlist)
        return threshold("common_word_ratio", ratio, self.min_ratio, self.max_ratio)


class Punctuation(Filter):
    """Too little punctuation: not written as sentences (menus, tag clouds).

    Texts shorter than ``min_words`` are kept unmeasured: a short heading has no
    punctuation and is no worse for it.
    """

    name = "punctuation"

    def __init__(self, min_ratio: float = 0.001, min_words: int = 0, **options: Any) -> None:
        super().__init__(**options)
        self.min_ratio, self.min_words = min_ratio, min_words

    def check(self, text: str) -> Verdict:
        if len(words(text)) < self.min_words:
            return Verdict(True)
        return threshold("punctuation_ratio", punctuation_ratio(text), low=self.min_ratio)


class Language(Filter):
    """Keep texts in the given languages, identified by py3langid's shipped model.

    Drops are ``language_XX`` for a text identified as language XX, or
    ``language_confidence_below`` when the model is unsure. The model (a numpy archive
    inside the py3langid package, loaded without pickle) is loaded once per process, on
    first use.
    """

    name = "language"

    def __init__(self, languages: Sequence[str] = ("en",), min_confidence: float = 0.0,
                 **options: Any) -> None:
        super().__init__(**options)
        self.languages = frozenset(languages)
        self.min_confidence = min_confidence

    def check(self, text: str) -> Verdict:
        language, confidence = identify_language(text)
        if language not in self.languages:
            return Verdict(False, f"language_{language}", confidence, {"language_confidence": confidence})
        return threshold("language_confidence", confidence, low=self.min_confidence)


_IDENTIFIER = None


def identify_language(text: str) -> tuple[str, float]:
    """The most likely language of ``text`` (ISO 639-1) and its probability."""
    global _IDENTIFIER
    if _IDENTIFIER is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _IDENTIFIER = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    language, probability = _IDENTIFIER.classify(text)
    return str(language), float(probability)


_TERMINAL = tuple(".!?\"'”’…")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


class C4Lines(Filter):
    """C4's line rules, on paragraphs: keep lines that read as sentences of body text.

    A paragraph is dropped when it does not end in terminal punctuation, has fewer than
    ``min_words`` words, mentions JavaScript (a "please enable JavaScript" notice), is a
    cookie or policy notice, or holds a word longer than ``max_word_length`` characters.
    """

    name = "c4_lines"

    def __init__(self, min_words: int = 3, max_word_length: int = 1000, **options: Any) -> None:
        super().__init__(**options)
        self.min_words, self.max_word_length = min_words, max_word_length

    def check(self, text: str) -> Verdict:
        line = text.strip()
        lowered = line.lower()
        if not line.endswith(_TERMINAL):
            return Verdict(False, "c4_no_terminal_punctuation")
        rules = Rules()
        if drop := rules.check("c4_words", len(line.split()), low=self.min_words):
            return drop
        if "javascript" in lowered:
            return Verdict(False, "c4_javascript")
        if any(phrase in lowered for phrase in _POLICY):
            return Verdict(False, "c4_policy")
        if max(map(len, line.split())) > self.max_word_length:
            return Verdict(False, "c4_long_word")
        return rules.passed()


_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)")


class C4Document(Filter):
    """C4's document rules: placeholder text, code, and too few sentences."""

    name = "c4_document"

    def __init__(self, min_sentences: int = 5, **options: Any) -> None:
        super().__init__(**options)
        self.min_sentences = min_sentences

    def check(self, text: str) -> Verdict:
        lowered = text.lower()
        if "lorem ipsum" in lowered:
            return Verdict(False, "c4_lorem_ipsum")
        if "{" in text:
            return Verdict(False, "c4_curly_bracket")
        return threshold("sentences_count", len(_SENTENCE_END.findall(text)), low=self.min_sentences)
