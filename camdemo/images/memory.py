"""How much memory decoding an image into an RGB array takes, estimated from its header alone.

The model: Pillow's decoded frame (1, 2 or 4 bytes per pixel by mode), plus the larger of what the
format's decoder holds while decoding and, afterwards, what it keeps alive plus the 3-byte-per-pixel
RGB result (the conversion itself works in strips of under 1 MB). ``python -m benchmarks.decode``
measures the real peaks: for every kind it makes, they are at most a few MB above this estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

RESULT_BYTES_PER_PIXEL = 3  # the H×W×3 uint8 array that load_image returns

# TIFF tags
BITS_PER_SAMPLE, PHOTOMETRIC, ROWS_PER_STRIP, PLANAR_CONFIGURATION = 258, 262, 278, 284
TILE_WIDTH, TILE_LENGTH = 322, 323
PHOTOMETRIC_YCBCR = 6


@dataclass(frozen=True)
class DecodeCost:
    """Estimated peak bytes of decoding one image to RGB, and the kind of file, for messages."""

    peak: int
    kind: str


def frame_bytes_per_pixel(mode: str) -> int:
    """Bytes per pixel of a decoded Pillow frame: 1 for 1/L/P, 2 for 16-bit, else 4 (RGB is stored as RGBX)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def decode_cost(image: Image.Image) -> DecodeCost:
    """Peak memory of decoding the opened (not yet loaded) ``image`` and converting it to RGB."""
    width, height = image.size
    pixels = width * height
    during, kept, kind = _decoder_bytes(image)
    frame = frame_bytes_per_pixel(image.mode) * pixels
    return DecodeCost(frame + max(during, kept + RESULT_BYTES_PER_PIXEL * pixels), kind)


def _decoder_bytes(image: Image.Image) -> tuple[int, int, str]:
    """(bytes the decoder holds while decoding, bytes it keeps alive afterwards, kind of file) beside the frame.

    Formats not listed decode straight into the frame, a few kB at a time.
    """
    width, height = image.size
    if image.format in ("JPEG", "MPO") and "progressive" in image.info:
        # libjpeg keeps every DCT coefficient of a progressive image: 2 bytes each, 64 per 8×8 block,
        # blocks counted per component at its sampling (4:2:0 YCbCr: 3 bytes per pixel, 4:4:4: 6, CMYK: 8).
        layers = image.layer  # type: ignore[attr-defined]  # a JpegImageFile's: (id, h, v, table) per component
        h_max = max(h for _, h, _, _ in layers)
        v_max = max(v for _, _, v, _ in layers)
        blocks = sum(math.ceil(width * h / (8 * h_max)) * math.ceil(height * v / (8 * v_max))
                     for _, h, v, _ in layers)
        return 128 * blocks, 0, "a progressive JPEG"
    if image.format == "TIFF" and image.tile and image.tile[0].codec_name == "libtiff":  # type: ignore[attr-defined]
        return _tiff_block_bytes(image), 0, "a compressed TIFF"  # libtiff decodes a whole strip or tile at once
    if image.format == "WEBP":
        # Measured, lossless and lossy alike: libwebp's canvas and working buffers while decoding, then
        # its 4-byte canvas and Pillow's 4-byte copy of it, which stay alive as long as the image.
        return 12 * width * height, 8 * width * height, "a WebP image"
    return 0, 0, "this kind of image"


def _tiff_block_bytes(image: Image.Image) -> int:
    """Bytes of the largest strip or tile that libtiff decodes in one go."""
    tags = image.tag_v2  # type: ignore[attr-defined]  # a TiffImageFile's
    width, height = image.size
    bits = tags.get(BITS_PER_SAMPLE, (1,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    # With separate planes (configuration 2) each strip holds one sample.
    bits_per_pixel = max(bits) if tags.get(PLANAR_CONFIGURATION, 1) == 2 else sum(bits)
    if TILE_WIDTH in tags:
        block_width, block_rows = tags[TILE_WIDTH], tags.get(TILE_LENGTH, height)
    else:
        block_width, block_rows = width, min(tags.get(ROWS_PER_STRIP, height), height)
    row_bytes = math.ceil(block_width * bits_per_pixel / 8)
    if tags.get(PHOTOMETRIC) == PHOTOMETRIC_YCBCR:  # Pillow may have libtiff decode YCbCr as RGBA
        row_bytes = max(row_bytes, 4 * block_width)
    return row_bytes * block_rows
