"""Filter pipelines from YAML configs, and the presets ``m3w`` and ``obelics``.

A config lists steps per stage (``url``, ``fetched``, ``pixels``, ``paragraphs``,
``documents``); each step is ``{step: KIND, ...options}`` with KIND one of ``STEPS``.
A step is named ``STAGE/KIND`` unless the config gives ``name``, so the same kind can
run at paragraph and document level with separate stats. The presets are the files
``filter/preset_configs/NAME.yaml``, shipped with the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from flamboyance.filter.documents import ImageCount, TextAndImage
from flamboyance.filter.gopher import GopherQuality, GopherRepetition
from flamboyance.filter.images import (
    AspectRatio,
    FrequentImageUrls,
    ImageFormat,
    ImageSize,
    LowInformation,
    UrlBanWords,
)
from flamboyance.filter.pipeline import STAGES, FilterPipeline
from flamboyance.filter.safety import SafetyClassifier
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

PRESETS = Path(__file__).resolve().parent / "preset_configs"

STEPS = {cls.name: cls for cls in (
    WordCount, CharacterRepetition, WordRepetition, SpecialCharacters, StopWords, FlaggedWords,
    CommonWords, Punctuation, Language, C4Lines, C4Document, GopherQuality, GopherRepetition,
    ImageFormat, ImageSize, AspectRatio, UrlBanWords, LowInformation, FrequentImageUrls,
    ImageCount, TextAndImage, SafetyClassifier,
)}


def build_pipeline(config: Mapping[str, Any], image_url_counts: Mapping[str, int] | None = None,
                   seed: int = 0) -> FilterPipeline:
    """A pipeline from a config mapping.

    ``image_url_counts`` (from ``filter.images.count_image_urls`` over the dataset) is
    required by a ``frequent_image_urls`` step; ``seed`` seeds the drop samples (give
    each unit its own).
    """
    unknown = set(config) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown filter stages {sorted(unknown)}; expected some of {STAGES}")
    stages: dict[str, list] = {}
    for stage in STAGES:
        stages[stage] = []
        for entry in config.get(stage) or []:
            options = dict(entry)
            kind = options.pop("step", None)
            if kind not in STEPS:
                raise ValueError(f"unknown filter step {kind!r} in stage {stage!r}; known: {sorted(STEPS)}")
            options.setdefault("name", f"{stage}/{kind}")
            if kind == FrequentImageUrls.name:
                if image_url_counts is None:
                    raise ValueError("the frequent_image_urls step needs image_url_counts (see count_image_urls)")
                options["counts"] = image_url_counts
            stages[stage].append(STEPS[kind](seed=seed, **options))
    return FilterPipeline(**stages)


def load_config(name_or_path: str) -> dict[str, Any]:
    """A preset's config (``m3w``, ``obelics``) or any YAML file's."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESETS / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"filter config not found: {path}")
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream) or {}


def load_pipeline(name_or_path: str, image_url_counts: Mapping[str, int] | None = None,
                  seed: int = 0) -> FilterPipeline:
    """The pipeline of a preset name or a YAML config file."""
    return build_pipeline(load_config(name_or_path), image_url_counts, seed)
