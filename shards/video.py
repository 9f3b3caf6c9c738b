"""Video-text samples, and ``flamboyance export-video-frames`` that makes them from video files.

Flamingo also trains on short videos with a caption (VTP, weight 0.03): a video is a
media item of T frames that the Perceiver Resampler reads together, shown to the
language model as one ``<image>`` followed by the caption, ``<image>caption<EOC>``.

Layout (shard set folder ``video/``), one sample per video::

    KEY.0.jpg ... KEY.{T-1}.jpg   the frames in time order (JPEG, shorter side <= size)
    KEY.txt                       the caption
    KEY.json                      provenance: source video, list row, frame times, duration

Which frames. Frames are taken at ``fps`` (1 per second, as in Flamingo) from the window
of ``T / fps`` seconds centred in the video: the middle of a clip is more often what a
whole-video caption describes than its opening titles. Frame k is the frame on screen at
``start + (k + 0.5) / fps``. A video shorter than that window is sampled *uniformly*
instead, at ``(k + 0.5) * duration / T``: every slot still shows a different moment, and
the model never sees a frozen tail that would tell it "this video was short". Frames repeat
only when the video has fewer than T distinct frames. ``json["sampling"]`` records which
rule was used.

Input of the command: a ``.jsonl`` (``{"video": ..., "caption": ...}`` per line) or
``.csv`` (header with ``video`` and ``caption`` columns) list. Video paths may be local
(relative paths are taken from the list's folder) or URLs fsspec can open; other columns
travel into the provenance under ``meta``. Videos that cannot be read are counted under
``videos/failed/<reason>`` in ``video/stats.json`` and skipped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shards import storage
from shards.layout import document_key
from shards.manifest import write_manifest
from shards.stats import Stats
from shards.writer import ShardWriter

VIDEO = "video"
_FRAME_FIELD = re.compile(r"^(\d+)\.jpg$")

HELP = "turn video files plus captions (a .jsonl or .csv list) into video-text shards of T frames"


@dataclass
class FrameConfig:
    """How frames are taken from a video (defaults: Flamingo's 8 frames at 1 frame/s)."""

    frames: int = 8
    fps: float = 1.0
    # Frames are stored with their shorter side at most this many pixels (never enlarged).
    size: int = 320
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.frames < 1 or self.fps <= 0 or self.size < 1:
            raise ValueError(f"frames, fps and size must be positive: {self}")


class VideoError(Exception):
    """A video that cannot become a sample; ``reason`` is counted as ``videos/failed/<reason>``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class Clip:
    """The frames taken from one video, and when."""

    frames: list[bytes]
    times: list[float]
    duration: float
    sampling: str  # "fps" (a centred window at the configured rate) or "uniform" (short video)


# --- layout -------------------------------------------------------------------------


def video_sample(key: str, frames: list[bytes], caption: str, provenance: dict[str, Any]) -> dict[str, Any]:
    """The webdataset sample of one video: ``KEY.{t}.jpg`` frames, ``KEY.txt``, ``KEY.json``."""
    if "." in key or "/" in key:
        raise ValueError(f"sample keys must not contain '.' or '/': {key!r}")
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


# --- frame extraction ---------------------------------------------------------------


def frame_times(duration: float, config: FrameConfig) -> tuple[list[float], str]:
    """The T moments (seconds from the start) to show, and the rule used (see the module doc)."""
    span = config.frames / config.fps
    if duration >= span:
        start = (duration - span) / 2
        return [start + (k + 0.5) / config.fps for k in range(config.frames)], "fps"
    return [(k + 0.5) * duration / config.frames for k in range(config.frames)], "uniform"


def extract_clip(path: str, config: FrameConfig) -> Clip:
    """Decode a video (local path or URL) and take its frames; raises VideoError for bad input."""
    import av

    try:
        with storage.open_input(path) as stream, av.open(stream) as container:
            if not container.streams.video:
                raise VideoError("no_video_stream")
            video = container.streams.video[0]
            start, duration = _timing(container, video)
            if duration <= 0:
                raise VideoError("no_frames")
            times, sampling = frame_times(duration, config)
            container.seek(0)
            frames = _frames_at(container.decode(video), [start + t for t in times], config)
    except FileNotFoundError as error:
        raise VideoError("not_found", str(error)) from None
    except av.FFmpegError as error:
        raise VideoError("decode_error", f"{type(error).__name__}: {error}") from None
    return Clip(frames, [round(t, 3) for t in times], round(duration, 3), sampling)


def _timing(container: Any, video: Any) -> tuple[float, float]:
    """(first timestamp, duration) in seconds, from the stream header or else from the packets."""
    import av

    start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
    if video.duration is not None:
        return start, float(video.duration * video.time_base)
    if container.duration is not None:
        return start, container.duration / av.time_base
    # No header says how long it is (some WebM/MKV): read packet timestamps, without decoding.
    end = start
    for packet in container.demux(video):
        if packet.pts is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return start, end - start


def _frames_at(decoded: Iterator[Any], times: list[float], config: FrameConfig) -> list[bytes]:
    """The JPEG of the frame on screen at each time (times ascending): the last frame shown by then."""
    chosen: list[bytes] = []
    previous, encoded = None, b""
    for frame in decoded:
        moment = frame.time if frame.time is not None else 0.0
        while len(chosen) < len(times) and moment > times[len(chosen)]:
            if previous is None:  # a moment before the first frame: show the first frame
                previous, encoded = frame, _jpeg(frame, config)
            chosen.append(encoded)
        if len(chosen) == len(times):
            return chosen
        previous, encoded = frame, b""
        # Encoded lazily: most decoded frames are never chosen.
        if len(chosen) < len(times) and _next_needs(frame, decoded):
            pass
        encoded = _jpeg(frame, config) if _shown_next(frame, times[len(chosen)]) else b""
    if previous is None:
        raise VideoError("no_frames")
    while len(chosen) < len(times):
        chosen.append(encoded or _jpeg(previous, config))
    return chosen
