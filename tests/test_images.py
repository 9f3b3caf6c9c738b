"""Image normalisation: real web images, hostile inputs, every colour mode, and the hash."""

from __future__ import annotations

import hashlib
import io
import itertools
import random
import statistics
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flamboyance.crawl.images import REASONS, ImageConfig, ImageError, process_image, target_size
from flamboyance.shards.phash import phash_distance


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def decoded(result) -> Image.Image:
    image = Image.open(io.BytesIO(result.jpeg))
    image.load()
    return image


def reason(data: bytes, config: ImageConfig | None = None) -> str:
    with pytest.raises(ImageError) as caught:
        process_image(data, config or ImageConfig())
    assert caught.value.reason in REASONS
    return caught.value.reason


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring ``width`` x ``height`` 1-bit pixels, with an empty image stream.

    Decoding it would fail as truncated, so a ``decompression_bomb`` answer proves the
    size was checked from the header before any pixel was decoded.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def real_images(wiki_site: Path) -> dict[str, bytes]:
    """Every file under site/I of the real Wikipedia site (photos, icons, flags, SVGs)."""
    return {
        str(path.relative_to(wiki_site / "site")): path.read_bytes()
        for path in sorted((wiki_site / "site" / "I").rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def photos(real_images: dict[str, bytes]) -> dict[str, bytes]:
    """The real JPEG photos and album covers at least 100 px on each side."""
    return {
        name: data
        for name, data in real_images.items()
        if name.lower().endswith(".jpg") and min(Image.open(io.BytesIO(data)).size) >= 100
    }


def test_every_real_image_is_normalised_or_rejected_as_svg(real_images):
    assert len(real_images) == 211
    outcomes = {}
    for name, data in real_images.items():
        try:
            result = process_image(data)
        except ImageError as error:
            outcomes[name] = error.reason
            continue
        outcomes[name] = "ok"
        image = decoded(result)
        assert image.format == "JPEG" and image.mode == "RGB"
        assert image.size == (result.width, result.height)
        assert min(result.width, result.height) <= 320 or min(result.original_width, result.original_height) > 320
        assert result.sha256 == hashlib.sha256(data).hexdigest()
        assert len(result.phash) == 16
    rejected = {name: why for name, why in outcomes.items() if why != "ok"}
    assert set(rejected.values()) == {"svg"}
    assert set(rejected) == {name for name in real_images if name.endswith(".svg")}
    assert list(outcomes.values()).count("ok") == 211 - len(rejected) > 150


def test_formats_are_sniffed_from_content_not_names(real_images):
    result = process_image(real_images["I/favicon.png"])
    assert result.original_format == "PNG"
    gif = next(data for name, data in real_images.items() if name.endswith(".gif"))
    assert process_image(gif).original_format == "GIF"


def test_resize_keeps_aspect_ratio_and_never_upscales():
    photo = encode(Image.new("RGB", (1000, 500), (10, 120, 200)), "PNG")
    small = encode(Image.new("RGB", (100, 50), (10, 120, 200)), "PNG")

    shorter = process_image(photo, ImageConfig(resize_mode="keep_ratio", size=320))
    assert (shorter.width, shorter.height) == (640, 320)
    assert (shorter.original_width, shorter.original_height) == (1000, 500)
    longest = process_image(photo, ImageConfig(resize_mode="longest_side", size=320))
    assert (longest.width, longest.height) == (320, 160)
    kept = process_image(photo, ImageConfig(resize_mode="none"))
    assert (kept.width, kept.height) == (1000, 500)

    assert (process_image(small).width, process_image(small).height) == (100, 50)
    enlarged = process_image(small, ImageConfig(upscale=True))
    assert (enlarged.width, enlarged.height) == (640, 320)
    assert decoded(enlarged).size == (640, 320)


def test_large_jpeg_shrinks_to_the_exact_target_close_to_a_full_quality_resize(photos):
    name, data = max(photos.items(), key=lambda item: len(item[1]))
    big = Image.open(io.BytesIO(data)).convert("RGB").resize((2400, 1800), Image.Resampling.BICUBIC)
    result = process_image(encode(big, "JPEG", quality=90), ImageConfig(size=300))
    assert (result.width, result.height) == (400, 300)
    reference = big.resize((400, 300), Image.Resampling.LANCZOS)
    error = np.mean((np.asarray(decoded(result), float) - np.asarray(reference, float)) ** 2)
    assert 10 * np.log10(255**2 / error) > 32, name  # PSNR in dB: no visible difference


def test_target_size_rounds_and_keeps_at_least_one_pixel():
    assert target_size(4000, 3, ImageConfig(resize_mode="longest_side", size=320)) == (320, 1)
    assert target_size(333, 500, ImageConfig(size=320)) == (320, 480)


def test_tiny_image_passes_through():
    result = process_image(encode(Image.new("RGB", (1, 1), (255, 0, 0)), "PNG"))
    assert (result.width, result.height) == (1, 1)
    assert decoded(result).getpixel((0, 0))[0] > 200


def test_exif_orientation_is_applied_and_swaps_sides():
    stored = Image.new("RGB", (400, 200), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 200, 200))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    result = process_image(encode(stored, "JPEG", exif=exif.tobytes()))
    assert (result.original_width, result.original_height) == (200, 400)
    assert (result.width, result.height) == (200, 400)
    shown = decoded(result)
    assert shown.getpixel((100, 50))[0] > 200  # the red half is now on top
    assert shown.getpixel((100, 350))[2] > 200


def test_exif_orientation_with_resize_targets_the_displayed_shape():
    exif = Image.Exif()
    exif[0x0112] = 8
    result = process_image(encode(Image.new("RGB", (1600, 800), "gray"), "JPEG", exif=exif.tobytes()))
    assert (result.original_width, result.original_height) == (800, 1600)
    assert (result.width, result.height) == (320, 640) == decoded(result).size


def test_cmyk_jpeg_becomes_rgb():
    cyan = Image.new("CMYK", (64, 48), (255, 0, 0, 0))
    result = process_image(encode(cyan, "JPEG"))
    red, green, blue = decoded(result).getpixel((32, 24))
    assert red < 40 and green > 200 and blue > 200


def test_alpha_is_composited_on_white():
    image = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 20, 20))
    shown = decoded(process_image(encode(image, "PNG")))
    assert shown.getpixel((30, 10)) == pytest.approx((255, 255, 255), abs=3)
    assert shown.getpixel((10, 10)) == pytest.approx((200, 0, 0), abs=6)


def test_transparent_palette_gif_is_white_not_black():
    spacer = Image.new("P", (10, 10), 0)
    spacer.putpalette([0, 0, 0] * 256)
    result = process_image(encode(spacer, "GIF", transparency=0))
    assert decoded(result).getpixel((5, 5)) == pytest.approx((255, 255, 255), abs=3)


def test_animated_gif_keeps_its_first_frame():
    frames = [Image.new("RGB", (30, 30), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    result = process_image(data)
    assert result.original_format == "GIF"
    red, _, blue = decoded(result).getpixel((15, 15))
    assert red > 200 and blue < 60


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    ramp = Image.new("I;16", (256, 4))
    ramp.putdata([x * 256 for x in range(256)] * 4)
    data = encode(ramp, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    shown = decoded(process_image(data))
    assert shown.getpixel((128, 2))[0] == pytest.approx(128, abs=6)
    assert shown.getpixel((10, 2))[0] < 30


def test_every_pillow_mode_becomes_rgb():
    for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "F", "PA", "CMYK", "YCbCr", "LAB"):
        fmt = "PNG" if mode in ("1", "L", "LA", "P", "RGB", "RGBA") else "TIFF"
        data = encode(Image.new(mode, (8, 6)), fmt)
        assert Image.open(io.BytesIO(data)).mode == mode
        result = process_image(data)
        assert decoded(result).mode == "RGB", mode
        assert (result.width, result.height) == (8, 6), mode


def test_decompression_bomb_is_rejected_from_its_header():
    bomb = png_header_only(20000, 20000)
    assert len(bomb) < 200
    assert reason(bomb) == "decompression_bomb"
    # A limit below Pillow's own one is ours alone, checked before decoding (decoding
    # this file would say "truncated").
    assert reason(png_header_only(9000, 9000), ImageConfig(max_pixels=50_000_000)) == "decompression_bomb"
    assert reason(png_header_only(9000, 9000)) == "truncated"


def test_upscaling_past_the_pixel_limit_is_refused():
    sliver = encode(Image.new("L", (1, 2000)), "PNG")
    assert reason(sliver, ImageConfig(upscale=True, max_pixels=10_000_000)) == "decompression_bomb"


def test_truncated_jpeg(photos):
    data = next(iter(photos.values()))
    assert reason(data[: len(data) // 2]) == "truncated"


def test_bad_inputs_get_their_own_reasons(real_images):
    rng = random.Random(7)
    svg = next(data for name, data in real_images.items() if name.endswith(".svg"))
    png = encode(Image.new("RGB", (20, 20)), "PNG")
    broken_png = png[:40] + bytes(rng.randrange(256) for _ in range(len(png) - 40))

    assert reason(b"") == "empty"
    assert reason(rng.randbytes(5000)) == "not_an_image"
    assert reason(b"<!DOCTYPE html><html><body>Not found</body></html>") == "not_an_image"
    assert reason(svg) == "svg"
    assert reason(b'\xef\xbb\xbf<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>') == "svg"
    assert reason(encode(Image.new("RGB", (16, 16)), "ICO")) == "format_not_allowed"
    assert reason(png, ImageConfig(allowed_formats=["JPEG"])) == "format_not_allowed"
    assert reason(png, ImageConfig(max_bytes=len(png) - 1)) == "too_large_bytes"
    assert reason(broken_png) in {"decode_error", "truncated"}
    assert reason(b"\xff\xd8\xff" + bytes(200)) == "decode_error"


def test_config_is_checked():
    for bad in ({"resize_mode": "square"}, {"size": 0}, {"jpeg_quality": 101}, {"allowed_formats": ["SVG"]}):
        with pytest.raises(ValueError):
            ImageConfig(**bad)


def test_phash_survives_recompression_and_resizing(photos):
    for name, data in photos.items():
        original = process_image(data)
        image = Image.open(io.BytesIO(data)).convert("RGB")
        smaller = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
        for copy in (encode(image, "JPEG", quality=50), encode(smaller, "PNG")):
            altered = process_image(copy)
            assert phash_distance(original.phash, altered.phash) <= 6, name
            assert altered.sha256 != original.sha256


def test_phash_tells_different_pictures_apart(photos):
    hashes = [process_image(data).phash for data in photos.values()]
    distances = [phash_distance(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert len(hashes) > 50
    assert statistics.median(distances) >= 24  # unrelated 64-bit hashes differ in ~32 bits
    assert sum(distance <= 6 for distance in distances) <= 2  # only true near-duplicates
    assert phash_distance(hashes[0], hashes[0]) == 0
