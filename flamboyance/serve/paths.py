"""What a server serves, and where the demo leaves it (kept free of heavy imports: the CLI's --help reads it)."""

from __future__ import annotations

import os
from dataclasses import dataclass

# Where ``flamboyance demo`` leaves its models, relative to its working folder.
DEMO_FLAMINGO = "flamingo.yaml"
DEMO_ENCODER = os.path.join("encoder", "export", "open_clip")
DEMO_INDEX = "index"


@dataclass(frozen=True)
class ModelPaths:
    """What to serve: a Flamingo TrainConfig YAML, an open_clip export folder, an index folder (each optional)."""

    flamingo: str | None = None
    encoder: str | None = None
    index: str | None = None

    @classmethod
    def in_folder(cls, folder: str, flamingo: str | None = None, encoder: str | None = None, index: str | None = None) -> ModelPaths:
        """The given paths, and for each one not given the demo's, if ``folder`` holds it."""

        def default(given: str | None, relative: str) -> str | None:
            if given:
                if not os.path.exists(given):
                    raise FileNotFoundError(f"{given} does not exist")
                return given
            path = os.path.join(folder, relative)
            return path if os.path.exists(path) else None

        return cls(default(flamingo, DEMO_FLAMINGO), default(encoder, DEMO_ENCODER), default(index, DEMO_INDEX))
