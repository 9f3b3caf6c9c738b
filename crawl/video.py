"""``flamboyance export-video-frames``: video files plus captions to video-text shards.

The samples are laid out as ``shards/video.py`` describes (T frames, a caption, provenance).

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
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flamboyance.crawl.images import ImageConfig, target_size
from flamboyance.shards import storage
from flamboyance.shards.layout import document_key
from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.stats import Stats
from flamboyance.shards.video import VIDEO, video_sample
from flamboyance.shards.writer import ShardWriter

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


# --- frame extraction ---


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
            frames = _frames_at(container.decode(video), [start + t for t in times], config)
    except av.FFmpegError as error:
        raise VideoError("decode_error", f"{type(error).__name__}: {error}") from None
    except FileNotFoundError as error:
        raise VideoError("not_found", str(error)) from None
    except OSError as error:
        raise VideoError("read_error", f"{type(error).__name__}: {error}") from None
    return Clip(frames, [round(t, 3) for t in times], round(duration, 3), sampling)


def _timing(container: Any, video: Any) -> tuple[float, float]:
    """(first timestamp, duration) in seconds, from the stream header or else from the packets."""
    import av

    start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
    if video.duration is not None:
        return start, float(video.duration * video.time_base)
    if container.duration is not None:
        return start, container.duration / av.time_base
    # No header says how long it is (some WebM/MKV): read packet timestamps without
    # decoding, then go back to the start for the decoding pass.
    end = start
    for packet in container.demux(video):
        if packet.pts is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    container.seek(0)
    return start, end - start


def _frames_at(decoded: Iterator[Any], times: list[float], config: FrameConfig) -> list[bytes]:
    """The JPEG of the frame on screen at each of ``times`` (ascending): the last frame shown by then.

    Frames are encoded only when chosen; most decoded frames are not.
    """
    chosen: list[bytes] = []
    shown, shown_jpeg = None, None
    for frame in decoded:
        moment = frame.time if frame.time is not None else 0.0
        while len(chosen) < len(times) and moment > times[len(chosen)]:
            if shown is None:  # a moment before the first frame: show the first frame
                shown = frame
            if shown_jpeg is None:
                shown_jpeg = _jpeg(shown, config)
            chosen.append(shown_jpeg)
        if len(chosen) == len(times):
            return chosen
        if frame is not shown:
            shown, shown_jpeg = frame, None
    if shown is None:
        raise VideoError("no_frames")
    last = shown_jpeg if shown_jpeg is not None else _jpeg(shown, config)
    return chosen + [last] * (len(times) - len(chosen))


def _jpeg(frame: Any, config: FrameConfig) -> bytes:
    """A decoded frame as JPEG, its shorter side reduced to ``config.size`` (never enlarged)."""
    from PIL import Image

    image = frame.to_image()
    size = target_size(*image.size, ImageConfig(size=config.size))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=config.jpeg_quality)
    return out.getvalue()


# --- the export command -------------------------------------------------------------


@dataclass
class VideoRow:
    """One line of the input list: a video, its caption, and any other columns."""

    number: int
    video: str
    caption: str
    meta: dict[str, Any] = field(default_factory=dict)


def read_video_list(path: str, stats: Stats) -> Iterator[VideoRow]:
    """The rows of a ``.jsonl`` or ``.csv`` video list; rows without video or caption are counted and skipped."""
    folder = path.rsplit("/", 1)[0] if "/" in path else "."
    with storage.open_input(path, "r") as stream:
        if path.endswith(".csv"):
            records: Iterator[Any] = csv.DictReader(stream)
        elif path.endswith(".jsonl"):
            records = (_json_line(line) for line in stream)
        else:
            raise ValueError(f"{path}: a video list must be .jsonl or .csv")
        for number, record in enumerate(records):
            if record is None:  # a blank line
                continue
            video = str(record.get("video") or "").strip() if isinstance(record, dict) else ""
            caption = " ".join(str(record.get("caption") or "").split()) if isinstance(record, dict) else ""
            if not video or not caption:
                stats.add("videos/failed/bad_row")
                continue
            if storage.is_local(video) and not video.startswith("/"):
                video = storage.join(folder, video)
            meta = {k: v for k, v in record.items() if k not in ("video", "caption")}
            yield VideoRow(number, video, caption, meta)


def _json_line(line: str) -> Any:
    """A parsed line; a line that is not JSON becomes a row without fields (counted as bad)."""
    if not line.strip():
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return {}


def export_video_frames(
    video_list: str, output: str, config: FrameConfig | None = None, max_samples: int = 1000
) -> tuple[Stats, dict[str, Any]]:
    """Write ``output/video/`` (shards, manifest.json, sizes.json, stats.json); return (stats, manifest)."""
    config = config or FrameConfig()
    stats = Stats()
    folder = storage.join(output, VIDEO)
    with ShardWriter(folder, VIDEO, max_samples=max_samples) as writer:
        for row in read_video_list(video_list, stats):
            stats.add("videos/read")
            try:
                clip = extract_clip(row.video, config)
            except VideoError as error:
                stats.add(f"videos/failed/{error.reason}")
                continue
            key = document_key(row.video, f"{video_list}:{row.number}")
            provenance = {
                "key": key,
                "video": row.video,
                "list": video_list,
                "row": row.number,
                "duration": clip.duration,
                "times": clip.times,
                "sampling": clip.sampling,
                "fps": config.fps,
                "frames": config.frames,
                "meta": row.meta,
            }
            writer.write(video_sample(key, clip.frames, row.caption, provenance))
            stats.add(f"videos/sampling/{clip.sampling}")
            stats.add("videos/written")
    manifest = write_manifest(folder, [info.to_json() for info in writer.shards])
    storage.write_json(storage.join(folder, "stats.json"), stats.to_json())
    return stats, manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", help="a .jsonl or .csv list with 'video' and 'caption' columns")
    parser.add_argument("output", help="output folder (local or s3://...); shards go to OUTPUT/video/")
    parser.add_argument("--frames", type=int, default=FrameConfig.frames, help="frames per video (T)")
    parser.add_argument("--fps", type=float, default=FrameConfig.fps, help="frames per second of video")
    parser.add_argument("--size", type=int, default=FrameConfig.size, help="shorter side of stored frames, in pixels")
    parser.add_argument("--shard-samples", type=int, default=1000, help="videos per shard")


def run(args: argparse.Namespace) -> int:
    if not args.videos.endswith((".jsonl", ".csv")):
        print(f"flamboyance export-video-frames: error: {args.videos}: the list must be .jsonl or .csv", file=sys.stderr)
        return 2
    config = FrameConfig(frames=args.frames, fps=args.fps, size=args.size)
    stats, manifest = export_video_frames(args.videos, args.output, config, args.shard_samples)
    print(f"{manifest['samples']} video samples in {len(manifest['shards'])} shards under {storage.join(args.output, VIDEO)}")
    for reason, count in stats.under("videos/failed").items():
        print(f"  failed/{reason}: {count}")
    return 0 if manifest["samples"] else 1
