"""open_clip models from a config name, built from scratch and offline.

A model config is open_clip's JSON format (``embed_dim``, ``vision_cfg``, ``text_cfg``).
Names are looked up in ``model_configs/`` here first (small test models and the
Flamingo-like one), then in open_clip's own registry (``ViT-B-32``, ``RN50``, ...); a
name ending in ``.json`` is the path of a config file.

Nothing is downloaded: timm image towers are built with random weights, and a Hugging
Face text tower is built from a local ``config.json`` (``model_configs/hf/NAME/``)
instead of ``from_pretrained``. Its tokenizer is trained on the run's captions
(``tokenizer.py``); the resolved config records where, so the exported model is complete.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.model import CLIP, CustomTextCLIP, set_model_preprocess_cfg
from open_clip.transform import PreprocessCfg

CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
HF_CONFIG_DIR = CONFIG_DIR / "hf"


def model_config(name: str, image_size: int | None = None, context_length: int | None = None) -> dict[str, Any]:
    """The open_clip model config called ``name``, with local paths resolved and overrides applied."""
    ours = Path(name) if name.endswith(".json") else CONFIG_DIR / f"{name}.json"
    if ours.is_file():
        config = json.loads(ours.read_text())
    else:
        config = open_clip.get_model_config(name)
        if config is None:
            known = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
            raise ValueError(f"unknown model config {name!r}; ours: {known}; open_clip's: open_clip.list_models()")
    config = copy.deepcopy(config)
    vision, text = config["vision_cfg"], config["text_cfg"]
    vision["timm_model_pretrained"] = False
    if image_size is not None:
        vision["image_size"] = image_size
    if context_length is not None:
        text["context_length"] = context_length
    hf_name = text.get("hf_model_name")
    if hf_name:
        local = HF_CONFIG_DIR / hf_name
        if (local / "config.json").is_file():
            text["hf_model_name"] = str(local)
        elif not (Path(hf_name) / "config.json").is_file():
            raise ValueError(f"text tower {hf_name!r}: no config.json under {HF_CONFIG_DIR} or at that path (nothing is downloaded)")
        text["hf_model_pretrained"] = False
    return config


def uses_hf_text(config: dict[str, Any]) -> bool:
    return bool(config["text_cfg"].get("hf_model_name"))


def build_model(config: dict[str, Any]) -> torch.nn.Module:
    """A randomly initialised CLIP (or CustomTextCLIP for a Hugging Face text tower) from a resolved config.

    The model carries open_clip's preprocessing config (``model.visual.preprocess_cfg``),
    sized to the tower's input, as ``open_clip.create_model`` would set it.
    """
    kind = CustomTextCLIP if uses_hf_text(config) or config.get("custom_text") else CLIP
    arguments = {k: v for k, v in config.items() if k != "custom_text"}
    model = kind(**arguments)
    preprocess = asdict(PreprocessCfg())
    preprocess["size"] = model.visual.image_size
    set_model_preprocess_cfg(model, preprocess)
    return model
