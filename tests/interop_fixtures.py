"""What the interop and real-client tests share: the wiki pages built once, exports of them, a tiny open_clip model.

Import the fixtures by name (``from interop_fixtures import wiki_build``) in a test module.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.image_replay import build_index
from flamboyance.crawl.unit import run_unit
from flamboyance.crawl.units import warc_units
from flamboyance.shards.manifest import write_manifest

WIKI_DOCUMENTS = 85


@pytest.fixture(scope="session")
def wiki_build(wiki_site: Path, tmp_path_factory) -> Path:
    """The wiki pages built as the build does it (one unit, images replayed from their WARC), without Ray."""
    output = tmp_path_factory.mktemp("build")
    unit = warc_units([str(wiki_site / "pages.warc.gz")], 1 << 30)[0]
    marker = run_unit(unit, BuildConfig(filters=None), str(output), build_index([str(wiki_site / "images.warc.gz")]))
    for name, shards in marker["shards"].items():
        write_manifest(str(output / name), shards)
    return output


def command(module: ModuleType, argv: list[str]) -> int:
    """Run a CLI subcommand module (``HELP``/``add_arguments``/``run``) on ``argv``."""
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


def tiny_open_clip(folder: Path) -> Path:
    """A random-weight open_clip CLIP with open_clip's own BPE vocabulary, exported as pretrain_encoder exports.

    ``open_clip.create_model("local-dir:FOLDER")`` and ``open_clip_train --model
    local-dir:FOLDER`` load it without downloading anything.
    """
    import open_clip
    import torch
    from open_clip.model import set_model_preprocess_cfg

    from flamboyance.pretrain_encoder.export import export_open_clip

    torch.manual_seed(0)
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    model = open_clip.CLIP(**config)
    preprocess = {"size": 64, "mean": open_clip.OPENAI_DATASET_MEAN, "std": open_clip.OPENAI_DATASET_STD, "interpolation": "bicubic"}
    set_model_preprocess_cfg(model, preprocess | {"resize_mode": "shortest"})
    export_open_clip(model, config, str(folder), "tiny-clip")
    return folder


def openflamingo_data() -> ModuleType:
    """OpenFlamingo's own ``open_flamingo/train/data.py``, imported as its train.py does (beside ``data_utils``).

    The wheel's package ``__init__`` imports the model (einops, a pinned torch); the data
    code needs only webdataset, torch, torchvision and Pillow, so it is loaded by path.
    """
    spec = importlib.util.find_spec("open_flamingo")
    assert spec is not None and spec.submodule_search_locations, "open-flamingo is a test dependency: pip install --no-deps open-flamingo"
    train = Path(list(spec.submodule_search_locations)[0]) / "train"
    modules = {}
    for name, module_name in (("data_utils", "data_utils"), ("data", "open_flamingo_train_data")):
        module_spec = importlib.util.spec_from_file_location(module_name, train / f"{name}.py")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module  # data.py does ``from data_utils import *``
        module_spec.loader.exec_module(module)
        modules[name] = module
    return modules["data"]
