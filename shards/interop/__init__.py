"""Our interleaved shards to and from the layouts other projects publish and train on.

``obelics``  HuggingFaceM4/OBELICS: parquet rows of parallel ``images``/``texts`` lists.
``mmc4``     allenai/mmc4 as OpenFlamingo reads it: tars of JSON documents whose images
             (base64) are matched to sentences of ``text_list``.

Export makes our data usable by their trainers; import makes data people already have
(OBELICS, MMC4) usable by ours, as an output folder shaped like a build's
(``interleaved/`` and ``pairs/`` with manifest.json and sizes.json). Each format module
provides ``export(documents, output, stats, per_file)`` and ``read(paths, stats)``;
``documents.py`` holds what both directions share.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FORMATS = ("obelics", "mmc4")


def format_module(name: str) -> ModuleType:
    """The module that converts ``name`` (one of FORMATS); imported on demand (pyarrow is heavy)."""
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}: expected one of {FORMATS}")
    return importlib.import_module(f"flamboyance.shards.interop.{name}")
