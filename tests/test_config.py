"""Config loading: defaults, YAML files, dotted overrides, and clear errors for typos."""

from __future__ import annotations

from pathlib import Path

import pytest

from flamboyance.crawl.config import BuildConfig
from flamboyance.shards.config import ConfigError, load


def test_defaults_file_and_overrides(tmp_path):
    path = tmp_path / "build.yaml"
    path.write_text("images:\n  size: 224\nshards:\n  max_samples: 50\n")
    config = load(BuildConfig, str(path), ["shards.max_samples=7", "page_batch=8"])
    assert config.images.size == 224
    assert config.shards.max_samples == 7
    assert config.page_batch == 8
    assert config.images.jpeg_quality == BuildConfig().images.jpeg_quality


def test_shipped_build_config_loads(tmp_path):
    config = load(BuildConfig, str(Path(__file__).resolve().parent.parent / "configs" / "build.yaml"))
    assert config.images.size == 320


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(ConfigError, match="images.sise"):
        load(BuildConfig, None, ["images.sise=3"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        load(BuildConfig, None, ["novalue"])


def test_overriding_one_entry_of_a_mapping_keeps_the_others():
    config = load(BuildConfig, None, ["fetch.max_bytes.page=1000"])
    assert config.fetch.max_bytes == {**BuildConfig().fetch.max_bytes, "page": 1000}


def test_numbers_in_exponent_form_are_numbers():
    from flamboyance.pretrain_encoder.config import OptimConfig

    assert load(OptimConfig, None, ["lr=1e-3"]).lr == 0.001
    with pytest.raises(ConfigError, match="lr must be a number"):
        load(OptimConfig, None, ["lr=fast"])
