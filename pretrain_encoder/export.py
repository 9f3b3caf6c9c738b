"""The whole trained model as open_clip itself loads it, so any open_clip tool can use it.

``export_open_clip`` writes a folder with ``open_clip_config.json`` (model and
preprocessing config), ``open_clip_pytorch_model.bin`` (the state dict) and
``NAME.json`` (the bare model config), and, for a Hugging Face text tower, its
tokenizer files. Two ways to load it, neither downloading anything::

    model = open_clip.create_model("local-dir:FOLDER")
    open_clip.add_model_config("FOLDER/NAME.json")
    model = open_clip.create_model(NAME, pretrained="FOLDER/open_clip_pytorch_model.bin")

The config records absolute paths for a Hugging Face text tower's config and tokenizer
(this folder), so move the folder only together with a config edit.
"""

from __future__ import annotations

import copy
import shutil
from typing import Any

import torch

from flamboyance.shards import storage

WEIGHTS = "open_clip_pytorch_model.bin"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def export_open_clip(model: torch.nn.Module, model_config: dict[str, Any], folder: str, name: str) -> str:
    """Write the open_clip export of ``model`` into local ``folder``; returns the weights path."""
    config = copy.deepcopy(model_config)
    storage.makedirs(folder)
    tokenizer_dir = config["text_cfg"].get("hf_tokenizer_name")
    if tokenizer_dir:
        for file in TOKENIZER_FILES:
            source = storage.join(tokenizer_dir, file)
            if storage.exists(source):
                shutil.copyfile(source, storage.join(folder, file))
        config["text_cfg"]["hf_tokenizer_name"] = folder
    preprocess = dict(model.visual.preprocess_cfg)
    storage.write_json(storage.join(folder, "open_clip_config.json"), {"model_cfg": config, "preprocess_cfg": preprocess})
    storage.write_json(storage.join(folder, f"{name}.json"), config)
    weights = storage.join(folder, WEIGHTS)
    with storage.atomic_writer(weights) as stream:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, stream)
    return weights


def load_open_clip(folder: str, device: str = "cpu") -> tuple[torch.nn.Module, Any, Any]:
    """(model in eval mode, tokenizer, evaluation transform) of an export folder, offline.

    What a server or notebook needs to embed images and texts as the trained encoder
    does; the weights are read with ``weights_only=True``.
    """
    import open_clip

    if not storage.exists(storage.join(folder, "open_clip_config.json")):
        raise FileNotFoundError(f"{folder} is not an open_clip export (no open_clip_config.json)")
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}", device=device, weights_only=True)
    return model.eval(), open_clip.get_tokenizer(f"local-dir:{folder}"), preprocess
