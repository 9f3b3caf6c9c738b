"""Video-text samples: real videos encoded with PyAV, exported to shards, read as Flamingo batches."""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image

from flamboyance.crawl import video
from flamboyance.crawl.video import FrameConfig, export_video_frames, extract_clip, frame_times
from flamboyance.flamingo_model.examples import FlamingoVideoExamples
from flamboyance.flamingo_model.tokens import FlamingoTokenizer, TokenConfig, train_tokenizer
from flamboyance.shards.loader.examples import collate
from flamboyance.shards.loader.reader import DropSample, LoaderConfig, ShardLoader
from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig
from flamboyance.shards.manifest import shard_paths
from flamboyance.shards.synthetic import COLOURS, Drawing, draw
from flamboyance.shards.tar_samples import iter_samples

av = pytest.importorskip("av")

# Each second of a test video shows a shape of its own colour that moves right 12 px per second.
PALETTE = list(COLOURS)
TILE, FPS, CANVAS = 48, 10, (160, 64)


def shown_at(second: int) -> tuple[str, int]:
    """(colour name, left edge of the tile) of what the test video shows during ``second``."""
    return PALETTE[second % len(PALETTE)], 12 * second


def write_video(path: Path, seconds: float, container: str = "mp4", codec: str = "libx264") -> Path:
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *CANVAS, "yuv420p"
        for number in range(round(seconds * FPS)):
            colour, left = shown_at(number // FPS)
            frame = Image.new("RGB", CANVAS, (128, 128, 128))
            frame.paste(draw(Drawing("square", colour, "shaded"), (TILE, TILE), random.Random(number)), (left, 8))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def second_shown(jpeg: bytes, scale: float = 1.0) -> int:
    """Which second of the test video a frame comes from: the tile of the right colour at the right place."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    for second in range(20):
        colour, left = shown_at(second)
        x, y = round((left + TILE / 2) * scale), round((8 + TILE / 2) * scale)
        if x >= image.width:
            break
        if all(abs(a - b) < 40 for a, b in zip(image.getpixel((x, y)), COLOURS[colour])):
            return second
    raise AssertionError("frame shows no tile of the test video")


def test_frame_times_take_a_centred_window_at_the_rate_or_spread_a_short_video() -> None:
    assert frame_times(20.0, FrameConfig()) == ([6.5 + k for k in range(8)], "fps")
    assert frame_times(4.0, FrameConfig(frames=4, fps=2.0)) == ([1.25, 1.75, 2.25, 2.75], "fps")
    assert frame_times(4.0, FrameConfig()) == ([0.25 + 0.5 * k for k in range(8)], "uniform")


def test_long_video_gives_one_frame_per_second_from_its_middle(tmp_path: Path) -> None:
    clip = extract_clip(str(write_video(tmp_path / "long.mp4", 12)), FrameConfig())
    assert clip.sampling == "fps" and clip.duration == 12.0
    assert clip.times == [2.5 + k for k in range(8)]
    assert [second_shown(frame) for frame in clip.frames] == list(range(2, 10))


def test_short_video_is_sampled_uniformly_not_padded(tmp_path: Path) -> None:
    clip = extract_clip(str(write_video(tmp_path / "short.webm", 3, "webm", "libvpx")), FrameConfig())
    assert clip.sampling == "uniform" and len(clip.frames) == 8
    assert [second_shown(frame) for frame in clip.frames] == [0, 0, 0, 1, 1, 2, 2, 2]
    assert len(set(clip.frames)) == 8  # every slot is a different moment, no repeated tail


def test_frames_are_reduced_to_the_configured_size(tmp_path: Path) -> None:
    clip = extract_clip(str(write_video(tmp_path / "v.mp4", 9)), FrameConfig(frames=2, size=32))
    image = Image.open(io.BytesIO(clip.frames[0]))
    assert image.size == (80, 32)
    assert second_shown(clip.frames[0], scale=0.5) == 4


def write_list(folder: Path) -> Path:
    write_video(folder / "walk.mp4", 10)
    write_video(folder / "short.mp4", 2)
    (folder / "broken.mp4").write_bytes(b"this is not a video")
    rows = [
        {"video": "walk.mp4", "caption": "A square walks  to the right.", "license": "cc0"},
        {"video": "short.mp4", "caption": "A quick square."},
        {"video": "broken.mp4", "caption": "Nothing to see."},
        {"video": "missing.mp4", "caption": "Gone."},
        {"video": "walk.mp4"},
    ]
    path = folder / "videos.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n{not json\n")
    return path


def test_export_writes_video_shards_and_counts_bad_videos(tmp_path: Path) -> None:
    videos = write_list(tmp_path)
    stats, manifest = export_video_frames(str(videos), str(tmp_path / "out"), FrameConfig(frames=4))
    assert manifest["samples"] == 2
    assert stats.under("videos/failed") == {"bad_row": 2, "decode_error": 1, "not_found": 1}
    assert json.loads((tmp_path / "out/video/stats.json").read_text())["videos/written"] == 2
    assert json.loads((tmp_path / "out/video/sizes.json").read_text()) == {"video-00000.tar": 2}

    samples = list(iter_samples(shard_paths(str(tmp_path / "out/video"))[0]))
    first = samples[0]
    assert sorted(k for k in first if not k.startswith("__")) == ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "json", "txt"]
    assert first["txt"] == b"A square walks to the right."
    provenance = json.loads(first["json"])
    assert provenance["video"] == str(tmp_path / "walk.mp4") and provenance["row"] == 0
    assert provenance["times"] == [3.5, 4.5, 5.5, 6.5] and provenance["sampling"] == "fps"
    assert provenance["meta"] == {"license": "cc0"}
    assert [second_shown(first[f"{t}.jpg"]) for t in range(4)] == [3, 4, 5, 6]
    assert json.loads(samples[1]["json"])["sampling"] == "uniform"


def test_csv_list_through_the_command(tmp_path: Path, capsys) -> None:
    write_video(tmp_path / "a.mp4", 3)
    (tmp_path / "videos.csv").write_text('video,caption\na.mp4,"A red square, then an orange one."\n')
    parser = argparse.ArgumentParser()
    video.add_arguments(parser)
    assert video.run(parser.parse_args([str(tmp_path / "videos.csv"), str(tmp_path / "out"), "--frames", "3"])) == 0
    assert "1 video samples in 1 shards" in capsys.readouterr().out
    assert video.run(parser.parse_args([str(tmp_path / "videos.txt"), str(tmp_path / "out")])) == 2
    assert "must be .jsonl or .csv" in capsys.readouterr().err
    sample = next(iter_samples(str(tmp_path / "out/video/video-00000.tar")))
    assert sample["txt"] == b"A red square, then an orange one." and "2.jpg" in sample and "3.jpg" not in sample


def test_video_shards_to_flamingo_batches(tmp_path: Path) -> None:
    export_video_frames(str(write_list(tmp_path)), str(tmp_path / "out"), FrameConfig(frames=4))
    tokenizer = train_tokenizer(["A square walks to the right.", "A quick square."] * 20, vocab_size=300)
    flamingo = FlamingoTokenizer(tokenizer, TokenConfig(max_tokens=16, max_images=1, attend_next_probability=0.0))
    examples = FlamingoVideoExamples(flamingo, ImageTransform(ImageTransformConfig(size=32)), frames=4)
    loader = ShardLoader(str(tmp_path / "out/video/video-00000.tar"), examples, collate, LoaderConfig(batch_size=2, num_workers=0, shuffle_buffer=1))

    batch = next(iter(loader))
    assert batch["images"].shape == (2, 1, 4, 3, 32, 32)
    assert batch["image_mask"].all()
    # The frames differ from one another: the shape moves between them.
    assert (batch["images"][0, 0, 0] - batch["images"][0, 0, 3]).abs().mean() > 0.05
    text = tokenizer.decode(batch["input_ids"][0][batch["attention_mask"][0].bool()])
    assert text == "<image>A square walks to the right.<EOC>"

    # A trainer configured for 8 frames drops (and the loader counts) 4-frame samples.
    wrong_length = FlamingoVideoExamples(flamingo, ImageTransform(ImageTransformConfig(size=32)), frames=8)
    sample = next(iter_samples(str(tmp_path / "out/video/video-00000.tar")))
    with pytest.raises(DropSample, match="frame_count"):
        wrong_length(sample, random.Random(0))
