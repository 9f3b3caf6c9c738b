"""Video-text samples: the shard layout Flamingo's video data (VTP) is stored in.

Flamingo also trains on short videos with a caption (VTP, weight 0.03): a video is a
media item of T frames that the Perceiver Resampler reads together, shown to the
language model as one ``<image>`` followed by the caption, ``<image>caption<EOC>``.

Layout (shard set folder ``video/``), one sample per video::

    KEY.0.jpg ... KEY.{T-1}.jpg   the frames in time order (JPEG, shorter side <= size)
    KEY.txt                       the caption
    KEY.json                      provenance: source video, list row, frame times, duration

``crawl/video.py`` makes these samples from video files (``flamboyance export-video-frames``).
"""

from __future__ import annotations

import json
import re
from typing import Any

VIDEO = "video"
_FRAME_FIELD = re.compile(r"^(\d+)\.jpg$")



def video_sample(key: str, frames: list[bytes], caption: str, provenance: dict[str, Any]) -> dict[str, Any]:
    """The webdataset sample of one video: ``KEY.{t}.jpg`` frames, ``KEY.txt``, ``KEY.json``."""
    if not frames:
        raise ValueError("a video sample needs at least one frame")
    sample: dict[str, Any] = {
        "__key__": key,
        "txt": caption.encode("utf-8"),
        "json": json.dumps(provenance, ensure_ascii=False).encode("utf-8"),
    }
    for number, payload in enumerate(frames):
        sample[f"{number}.jpg"] = payload
    return sample


def read_frames(sample: dict[str, Any]) -> list[bytes]:
    """The frames of a raw video sample in time order; ValueError unless they are 0..T-1."""
    numbered = {int(match.group(1)): value for name, value in sample.items() if (match := _FRAME_FIELD.match(name))}
    if not numbered or sorted(numbered) != list(range(len(numbered))):
        raise ValueError(f"video sample {sample.get('__key__')!r} has frames {sorted(numbered)}, not 0..T-1")
    return [numbered[number] for number in range(len(numbered))]
