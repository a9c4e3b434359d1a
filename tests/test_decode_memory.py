"""Small files with many pixels must not make decoding take gigabytes (the "Safe to serve" issue).

The peaks are measured by ``python -m benchmarks.decode`` in a fresh process: each file is decoded
in its own forked child, and the number is its peak resident memory above where it started.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

import camdemo.images.decode
from camdemo import CamdemoError, load_image
from benchmarks.decode import KINDS
from camdemo.images.memory import decode_cost

SIDE = 2500  # 6.25 MP: seconds for all kinds, and far enough above the fixed costs to tell them apart
SLACK_MB = 12  # strips in flight (under 1 MB each), first-use imports and allocator noise: 2 to 7 MB measured

# Bytes per pixel that decoding each kind may take: Pillow's frame (1 byte for L/P, 2 for 16-bit, 4 for
# the rest, RGB included) plus the 3-byte RGB result, plus what a format's decoder holds (libjpeg's
# coefficients for progressive files: 3 bytes at 4:2:0, 6 at 4:4:4, 8 for CMYK; a one-strip TIFF's
# 4-byte strip; libwebp's buffers). Before the strip-wise conversion these took 11 to 36 bytes.
ALLOWED_BYTES_PER_PIXEL = {
    "8-bit RGB PNG": 7, "8-bit RGBA PNG": 7, "8-bit gray PNG": 4, "palette PNG, transparency": 4,
    "JPEG": 7, "progressive JPEG": 7, "JPEG, EXIF rotated": 7, "progressive JPEG, 4:4:4": 10,
    "progressive CMYK JPEG": 12, "CMYK JPEG": 7, "WebP (lossless)": 16, "WebP (lossy, alpha)": 16,
    "animated GIF": 4, "animated PNG (RGBA)": 7, "16-bit gray PNG": 5, "16-bit RGB PNG": 7, "16-bit TIFF": 5,
    "32-bit integer TIFF": 7, "float32 TIFF": 7, "float32 TIFF, one strip": 8,
}


@pytest.fixture(scope="module")
def measured() -> dict[str, dict]:
    done = subprocess.run([sys.executable, "-m", "benchmarks.decode", "--json", "--side", str(SIDE)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {row["kind"]: row for row in json.loads(done.stdout)}


@pytest.mark.slow
def test_every_kind_is_measured(measured):
    assert set(measured) == set(KINDS) == set(ALLOWED_BYTES_PER_PIXEL)


@pytest.mark.parametrize("kind", list(ALLOWED_BYTES_PER_PIXEL))
@pytest.mark.slow
def test_peak_decode_memory_per_upload_kind(measured, kind):
    row = measured[kind]
    assert row["status"] == "decoded", row["message"]
    assert row["file_kb"] < 1000  # small files, ...
    bound = ALLOWED_BYTES_PER_PIXEL[kind] * row["megapixels"] + SLACK_MB
    assert row["peak_mb"] <= bound, f"{kind}: {row['peak_mb']:.0f} MB > {bound:.0f} MB"  # ... bounded decodes
    assert row["peak_mb"] <= row["estimate_mb"] + SLACK_MB  # the estimate that refusals rely on is not low


def png_header(width: int, height: int, bit_depth: int, color_type: int) -> bytes:
    """A PNG's signature, IHDR chunk and the start of its pixels: enough for Pillow to open it, not to decode it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    fields = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", fields) + chunk(b"IDAT", b"")


def test_the_budget_is_what_a_50_megapixel_rgb_photo_needs():
    """4 bytes a pixel of Pillow's frame and 3 of the result: 7 × 50 MP = 350 MB, so such a photo still fits."""
    assert camdemo.images.decode.MAX_DECODE_BYTES == 350_000_000
    costs = {name: decode_cost(Image.open(io.BytesIO(png_header(10_000, 5_000, depth, color)))).peak
             for name, (depth, color) in {"RGB": (8, 2), "RGBA": (8, 6), "gray": (8, 0), "16-bit gray": (16, 0),
                                           "16-bit RGB": (16, 2)}.items()}
    assert costs == {"RGB": 350_000_000, "RGBA": 350_000_000, "gray": 200_000_000, "16-bit gray": 250_000_000,
                     "16-bit RGB": 350_000_000}


def test_the_float_tiff_from_the_issue_is_refused_from_its_header_with_the_limit(tmp_path):
    """49 MP of float32 in one compressed strip (~190 kB): 4 (frame) + 4 (strip) bytes a pixel = 392 MB > 350 MB."""
    path = tmp_path / "float.tif"
    path.write_bytes(KINDS["float32 TIFF, one strip"](7000))
    assert path.stat().st_size < 300_000
    with pytest.raises(CamdemoError) as caught:
        load_image(path)
    message = str(caught.value)
    assert "7000×7000" in message and "49.0 megapixels" in message and "392 MB" in message
    assert "350 MB" in message and "43.8 megapixels" in message  # the limit for this kind of file
    assert "Traceback" not in message and len(message) < 600


def test_costly_kinds_get_a_lower_pixel_limit_and_cheap_ones_do_not(monkeypatch):
    """With a 7 MB budget (as if 1 MP were the limit): a 1 MP JPEG fits, a progressive CMYK one (12 MB) does not."""
    monkeypatch.setattr(camdemo.images.decode, "MAX_DECODE_BYTES", 7_000_000)
    assert load_image(KINDS["JPEG"](1000)).shape == (1000, 1000, 3)
    assert load_image(KINDS["16-bit TIFF"](1000)).shape == (1000, 1000, 3)
    with pytest.raises(CamdemoError, match=r"progressive JPEG .* 12 MB .* 0\.6 megapixels"):
        load_image(KINDS["progressive CMYK JPEG"](1000))


def test_decode_cost_matches_the_decoders_buffers():
    """Progressive JPEG coefficients: 2 bytes × 64 per 8×8 block; 4:2:0 has 1.5 blocks per 64 pixels, CMYK 4."""
    def cost(kind: str, side: int = 800) -> int:
        return decode_cost(Image.open(io.BytesIO(KINDS[kind](side)))).peak

    pixels = 800 * 800
    assert cost("JPEG") == (4 + 3) * pixels
    assert cost("progressive JPEG") == 4 * pixels + 128 * (100 * 100 + 2 * 50 * 50)
    assert cost("progressive CMYK JPEG") == 4 * pixels + 128 * 4 * 100 * 100
    assert cost("16-bit gray PNG") == (2 + 3) * pixels
    assert cost("float32 TIFF, one strip") == (4 + 4) * pixels
    assert cost("WebP (lossless)") == (4 + 12) * pixels


# --- the strip-wise conversion gives what a whole-image conversion gave ---------------------------


@pytest.fixture
def small_strips(monkeypatch):
    """Strips of 997 pixels, so that even small test images are converted in many strips."""
    monkeypatch.setattr(camdemo.images.decode, "STRIP_PIXELS", 997)


def gradient(mode: str, size=(90, 70)) -> Image.Image:
    """An image whose every pixel differs in every channel, so a misplaced strip or row shows."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    channels = [(x * 3 + y * 5) % 256, (x * 7 + y * 2) % 256, (x * 11 + y * 13) % 256, (x + y * 3) % 256]
    rgba = np.stack(channels, axis=2).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA").convert(mode)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "RGB", "L", "1", "CMYK", "YCbCr", "P"])
def test_strip_conversion_equals_whole_image_conversion(mode, small_strips):
    image = gradient(mode)
    if mode in ("RGBA", "LA", "PA"):
        whole = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA")).convert("RGB")
    else:
        whole = image.convert("RGB")
    assert np.array_equal(load_image(image), np.asarray(whole))


def test_palette_transparency_survives_the_strips(small_strips):
    image = gradient("P")
    image.info["transparency"] = int(np.asarray(image)[0, 0])
    expected = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA")).convert("RGB")
    rgb = load_image(image)
    assert np.array_equal(rgb, np.asarray(expected)) and tuple(rgb[0, 0]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "I;16"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation, mode, small_strips):
    image = gradient("RGB") if mode == "RGB" else gradient("RGBA")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(gradient("L")).astype(np.uint16) * 257)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif.tobytes())
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue())))
    assert upright.mode == mode
    assert np.array_equal(load_image(buffer.getvalue()), load_image(upright))  # PIL images are taken as they are


def test_16_bit_values_map_to_the_nearest_8_bit_value(small_strips):
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    expected = np.round(values / 257.0).astype(np.uint8)
    assert np.array_equal(load_image(values)[..., 0], expected)
    opened_as = {  # what 16-bit PNGs and TIFFs open as
        "I;16": Image.fromarray(values),
        "I;16B": Image.frombytes("I;16B", (256, 256), values.astype(">u2").tobytes()),
        "I": Image.fromarray(values.astype(np.int32)),
    }
    for mode, image in opened_as.items():
        assert image.mode == mode
        assert np.array_equal(load_image(image)[..., 0], expected), mode
    signed = np.array([[-5, 70000]], np.int64).repeat(40, axis=0).repeat(20, axis=1)
    assert tuple(load_image(signed)[0, [0, 39], 0]) == (0, 255)  # clipped to 0–65535 first


def test_float_images_are_scaled_from_the_whole_images_range(small_strips):
    """The range is the whole image's, not each strip's: [-2, 6] → 0–255 everywhere; NaN counts as 0."""
    values = np.linspace(-2.0, 6.0, 80 * 60, dtype=np.float32).reshape(80, 60)
    values[5, 5] = np.nan
    finite = np.nan_to_num(values.astype(np.float64))
    expected = ((finite + 2.0) / 8.0 * 255.0).round().astype(np.uint8)
    assert np.array_equal(load_image(values)[..., 0], expected)
    assert np.array_equal(load_image(Image.fromarray(values, "F"))[..., 0], expected)
    unit = np.linspace(0.0, 1.0, 80 * 60, dtype=np.float32).reshape(80, 60)
    assert np.array_equal(load_image(unit)[..., 1], (unit.astype(np.float64) * 255.0).round().astype(np.uint8))
