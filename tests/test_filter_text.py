"""Text filters at paragraph and document level, and the presets on a real page."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import lxml.html
import pytest

from flamboyance.filter.presets import build_pipeline, load_config, load_pipeline
from flamboyance.filter.text import (
    C4Document,
    C4Lines,
    CharacterRepetition,
    CommonWords,
    FlaggedWords,
    Language,
    Punctuation,
    SpecialCharacters,
    StopWords,
    WordCount,
    WordRepetition,
)
from flamboyance.shards.document import Document, ImageNode, TextNode

SENTENCE = "The singer recorded the album in New York with a small band of old friends."


def test_each_text_step_says_why_it_drops() -> None:
    assert WordCount(min_words=4).check("Read more").reason == "words_below"
    assert CharacterRepetition(max_ratio=0.1).check("buy cheap shoes " * 40).reason == "char_repetition_ratio_above"
    assert CharacterRepetition(max_ratio=0.1).check(SENTENCE).keep
    assert WordRepetition(max_ratio=0.2).check("click here to win a prize " * 5).reason == "word_repetition_ratio_above"
    assert WordRepetition(max_ratio=0.2).check(SENTENCE).keep
    assert SpecialCharacters(max_ratio=0.3).check("$$$ 100 % !!! 2023-01-01 ###").reason == "special_char_ratio_above"
    assert StopWords(min_ratio=0.3).check("cheap shoes red shoes discount shoes").reason == "stop_word_ratio_below"
    assert StopWords(min_ratio=0.3).check(SENTENCE).keep
    assert FlaggedWords(max_ratio=0.01).check("hot porn videos xxx").reason == "flagged_word_ratio_above"
    assert FlaggedWords(max_ratio=0.01).check(SENTENCE).keep
    assert Punctuation(min_ratio=0.03).check("home about contact shop blog news faq login").reason == "punctuation_ratio_below"
    assert Punctuation(min_ratio=0.001, min_words=12).check("home about").keep  # too short to judge
    assert CommonWords(min_ratio=0.8).check("xqzv blorptang fizzwik quonk").reason == "common_word_ratio_below"
    assert CommonWords(min_ratio=0.8).check(SENTENCE).keep


def test_language_is_identified_with_the_shipped_model() -> None:
    english = Language(languages=["en"], min_confidence=0.5)
    assert english.check(SENTENCE).keep
    verdict = english.check("Le chanteur a enregistré l'album à New York avec un petit groupe de vieux amis.")
    assert (verdict.keep, verdict.reason) == (False, "language_fr")
    assert verdict.score > 0.5


def test_c4_rules_are_available_as_an_option() -> None:
    lines = C4Lines()
    assert lines.check("Please enable JavaScript to view this page.").reason == "c4_javascript"
    assert lines.check("Privacy policy and terms of use.").reason == "c4_policy"
    assert lines.check("Read more").reason == "c4_no_terminal_punctuation"
    assert lines.check(SENTENCE).keep
    assert C4Document().check("function f() { return 1; }").reason == "c4_curly_bracket"
    assert C4Document().check(" ".join([SENTENCE] * 5)).keep


def wiki_document(path: Path) -> Document:
    """A real page as an interleaved document: its paragraphs and images in DOM order."""
    tree = lxml.html.parse(str(path))
    nodes: list = []
    for element in tree.iter("p", "img"):
        if element.tag == "img":
            width, height = element.get("width"), element.get("height")
            nodes.append(ImageNode(url="https://en.wikipedia.org/I/m/" + unquote(element.get("src").split("/")[-1]),
                                   alt=element.get("alt") or "",
                                   rendered_width=int(width) if width else None,
                                   rendered_height=int(height) if height else None))
        elif element.text_content().strip():
            nodes.append(TextNode(element.text_content().strip()))
    return Document(key=path.stem, url=f"https://en.wikipedia.org/A/{path.name}", nodes=nodes)


def test_obelics_preset_on_real_pages_keeps_articles_and_explains_every_drop(wiki_site: Path) -> None:
    pipeline = load_pipeline("obelics", seed=7)
    documents = [wiki_document(path) for path in sorted((wiki_site / "site" / "A").glob("*.html"))]
    kept = [result for result in map(pipeline, documents) if result is not None]
    assert 20 < len(kept) < len(documents)
    for result in kept:
        assert 1 <= len(result.images()) <= 30 and result.texts()
        assert all("logo" not in node.url and "icon" not in node.url.lower() for node in result.images())
    report = pipeline.report()
    assert report["paragraphs/word_count"].inputs == sum(len(doc.texts()) for doc in documents)
    # Long articles stay (the preset's cap is Gopher's 100,000 words, not OBELICS' 2,000).
    assert "Ray_Charles" in {result.key for result in kept}
    assert report["documents/word_count"].dropped["words_above"] == 0
    assert report["paragraphs/flagged_words"].dropped == {}
    for step in report.steps.values():  # every drop is counted, and sampled with its reason
        assert step.inputs == step.kept + sum(step.dropped.values())
        assert {record["reason"] for record in step.sample.records()} <= set(step.dropped)
    stored = json.loads(json.dumps(report.to_json()))
    assert [step["name"] for step in stored["steps"]][:2] == ["url/url_ban_words", "url/image_format"]


def test_document_steps_drop_pages_without_images_or_text() -> None:
    text_only = Document(key="k", url="u", nodes=[TextNode(SENTENCE * 10)])
    obelics_final = build_pipeline({"final": load_config("obelics")["final"]})
    assert obelics_final(text_only) is None
    assert obelics_final.report()["final/text_and_image"].dropped == {"no_image": 1}
    # M3W asks for no image (a page whose images were all furniture stays as text),
    # but its Gopher rules drop a sentence repeated ten times.
    m3w = load_pipeline("m3w")
    assert load_config("m3w")["final"] == []
    assert m3w(text_only) is None
    report = m3w.report()
    assert report["documents/gopher_quality"].kept == 1
    assert sum(report["documents/gopher_repetition"].dropped.values()) == 1


def test_configs_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown filter step"):
        build_pipeline({"documents": [{"step": "gopher_qualty"}]})
    with pytest.raises(ValueError, match="needs image_url_counts"):
        build_pipeline({"url": [{"step": "frequent_image_urls"}]})
    with pytest.raises(ValueError, match="cannot run in stage"):
        build_pipeline({"paragraphs": [{"step": "image_size"}]})
    with pytest.raises(ValueError, match="unique"):
        build_pipeline({"documents": [{"step": "word_count"}, {"step": "word_count"}]})
