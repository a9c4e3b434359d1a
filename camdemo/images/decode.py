"""Decoding and validating the images a user gives us, with messages a person can act on.

``load_image`` accepts a file path, raw bytes, a PIL image or a numpy array and returns an
H×W×3 ``uint8`` RGB array, or raises ``CamdemoError`` saying what is wrong with the input.

Memory rule: decoding one upload may use at most what the largest accepted 8-bit RGB photo needs,
``MAX_DECODE_BYTES`` (Pillow's 4-byte-per-pixel frame plus the 3-byte RGB result, at 50 MP: 350 MB).
Whatever the bit depth, Pillow's frame is converted into the result a strip of rows at a time, so
16-bit and float images cost no more per pixel than 8-bit ones. Kinds of file whose decoder itself
needs more memory (progressive JPEGs without chroma subsampling, compressed TIFFs stored in very
large strips, WebP) are refused from their header above a proportionally lower pixel count, with a
message that gives both (the estimate is in ``decode_cost``; ``python -m benchmarks.decode``
measures the real peaks).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .memory import RESULT_BYTES_PER_PIXEL, decode_cost
from ..errors import CamdemoError

ImageInput = str | os.PathLike | bytes | Image.Image | np.ndarray

MIN_SIDE = 32
MAX_PIXELS = 50_000_000
MAX_DECODE_BYTES = (4 + RESULT_BYTES_PER_PIXEL) * MAX_PIXELS  # a 50 MP RGB photo: Pillow's frame + the result
STRIP_PIXELS = 1 << 16  # pixels converted at a time: working copies stay under 1 MB whatever the image size
MAX_ASPECT = 20  # a longer side over 20× the shorter one would be squashed beyond recognition
# Formats a browser user is likely to upload; MPO is what many cameras call their JPEGs.
SUPPORTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"}
SUPPORTED_TEXT = "JPEG, PNG, WebP, BMP, TIFF or GIF"
MODE_WORDS = {"1": "black and white", "L": "grayscale", "P": "palette", "RGB": "RGB", "RGBA": "RGB with transparency",
              "CMYK": "CMYK", "I": "32-bit integer", "F": "32-bit float"}


def load_image(source: ImageInput) -> np.ndarray:
    """Return ``source`` as an H×W×3 uint8 RGB array, or raise ``CamdemoError`` with the reason.

    Handles EXIF orientation, grayscale, palette, RGBA (composited on white), CMYK, 16-bit
    (rescaled to 8 bits, not clipped) and animated files (first frame). Refuses files that are not
    images, damaged or truncated files, images under 32 pixels on a side, over 50 megapixels (fewer
    for the kinds of file that take more memory to decode, see the module's docstring), or more
    than 20 times longer than wide.
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        _check_size(*source.size)
        return _pil_to_rgb(source)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise CamdemoError("The uploaded file is empty (0 bytes). Please choose an image file.")
        return _decode(io.BytesIO(source), name="the uploaded file")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise CamdemoError(f"No image file at '{path}'.")
        if path.stat().st_size == 0:
            raise CamdemoError(f"'{path.name}' is empty (0 bytes). Please choose an image file.")
        with open(path, "rb") as stream:
            return _decode(stream, name=f"'{path.name}'")
    raise CamdemoError(
        f"Cannot read an image from a {type(source).__name__}; give a file path, bytes, a PIL image or a numpy array."
    )


def _decode(stream: BinaryIO, name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except UnidentifiedImageError:
        raise CamdemoError(f"{name.capitalize()} is not an image camdemo can read. "
                           f"Please upload a {SUPPORTED_TEXT} file.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CamdemoError(_too_large_message(None)) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise CamdemoError(_damaged_message(name, error)) from None
    with image:
        if image.format not in SUPPORTED_FORMATS:
            raise CamdemoError(f"{name.capitalize()} is a {image.format} image; please upload a {SUPPORTED_TEXT} file.")
        width, height = image.size
        if width * height > MAX_PIXELS:  # checked from the header, before decoding any pixels
            raise CamdemoError(_too_large_message((width, height)))
        try:
            image.seek(0)  # animated GIF/WebP/PNG: the first frame
            _check_decode_memory(image)  # also from the header
            image.load()
            orientation = image.getexif().get(ORIENTATION, 1)
            _check_size(*((height, width) if orientation in TRANSPOSING else (width, height)))
            return _pil_to_rgb(image, orientation)
        except CamdemoError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise CamdemoError(_damaged_message(name, error)) from None


def _damaged_message(name: str, error: Exception) -> str:
    return (f"{name.capitalize()} is damaged or incomplete (perhaps the upload was cut short), so it cannot be "
            f"decoded. Please try the file again or choose another. Details: {error}")


def _too_large_message(size: tuple[int, int] | None) -> str:
    shown = f" ({size[0]}×{size[1]} = {size[0] * size[1] / 1e6:.0f} megapixels)" if size else ""
    return (
        f"The image is too large{shown}. camdemo accepts up to {MAX_PIXELS // 1_000_000} megapixels; "
        "please resize it and upload it again."
    )


def _check_size(width: int, height: int) -> None:
    """Refuse a (displayed) size that is too small, too large or too elongated, before converting any pixels."""
    if min(height, width) < MIN_SIDE:
        raise CamdemoError(
            f"The image is too small ({width}×{height} pixels). Each side must be at least {MIN_SIDE} pixels."
        )
    if height * width > MAX_PIXELS:
        raise CamdemoError(_too_large_message((width, height)))
    if max(height, width) > MAX_ASPECT * min(height, width):
        raise CamdemoError(
            f"The image is {width}×{height} pixels, more than {MAX_ASPECT} times longer than it is wide. The model "
            "sees a square, so it would be squashed beyond recognition; please crop it and upload it again."
        )


def _check_decode_memory(image: Image.Image) -> None:
    """Refuse, from the header, an image whose decoding would take more than ``MAX_DECODE_BYTES``."""
    cost = decode_cost(image)
    if cost.peak <= MAX_DECODE_BYTES:
        return
    width, height = image.size
    limit = MAX_DECODE_BYTES / cost.peak * width * height
    pixels = MODE_WORDS.get(image.mode, "16-bit" if image.mode.startswith("I;16") else f"{image.mode} mode")
    raise CamdemoError(
        f"The image is too large to decode safely: {width}×{height} pixels ({width * height / 1e6:.1f} megapixels) "
        f"as {cost.kind} ({pixels}) takes {cost.peak / 1e6:.0f} MB to decode. camdemo decodes up to "
        f"{MAX_DECODE_BYTES / 1e6:.0f} MB per image, which for this kind of file is {limit / 1e6:.1f} megapixels; "
        "please resize it (or save it as an ordinary JPEG or PNG) and upload it again."
    )


# --- conversion to RGB, a strip of rows at a time ------------------------------------------------------


ORIENTATION = 0x0112  # the EXIF tag
# What to do to the stored image to show it upright, per EXIF orientation (as ImageOps.exif_transpose).
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}
TRANSPOSING = (5, 6, 7, 8)  # orientations that swap width and height


def _upright_block(result: np.ndarray, orientation: int, top: int, bottom: int, height: int) -> np.ndarray:
    """The part of the upright ``result`` that the stored rows ``top:bottom`` (of ``height``) end up in."""
    if orientation in (3, 4):  # turned or flipped upside down: the rows come in reverse order
        return result[height - bottom:height - top]
    if orientation in (5, 8):  # stored rows become columns, first row first
        return result[:, top:bottom]
    if orientation in (6, 7):  # stored rows become columns, first row last
        return result[:, height - bottom:height - top]
    return result[top:bottom]


def _row_strips(height: int, width: int) -> Iterator[tuple[int, int]]:
    rows = max(1, STRIP_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        yield top, min(top + rows, height)


def _pil_to_rgb(image: Image.Image, orientation: int = 1) -> np.ndarray:
    """Convert any PIL mode to RGB uint8, upright: alpha over white, high bit depths rescaled, not clipped.

    Works a strip of rows at a time (turned upright by Pillow, then converted) into one preallocated
    result, so the only full-size arrays are Pillow's frame and the result, whatever the mode.
    """
    width, height = image.size
    result = np.empty((width, height, 3) if orientation in TRANSPOSING else (height, width, 3), np.uint8)

    def strips() -> Iterator[tuple[int, int, Image.Image]]:
        for top, bottom in _row_strips(height, width):
            yield top, bottom, image.crop((0, top, width, bottom))

    convert = _strip_converter(image, lambda: (np.asarray(strip) for _, _, strip in strips()))
    for top, bottom, strip in strips():
        if orientation in UPRIGHT:
            strip = strip.transpose(UPRIGHT[orientation])
        converted = convert(strip)
        block = _upright_block(result, orientation, top, bottom, height)
        block[...] = converted[:, :, None] if converted.ndim == 2 else converted
    return result


def _strip_converter(image: Image.Image, arrays: Callable[[], Iterator[np.ndarray]]
                     ) -> Callable[[Image.Image], np.ndarray]:
    """How to turn one strip of ``image`` (a PIL image) into RGB uint8 (or a 2-D gray array)."""
    mode = image.mode
    if mode.startswith("I"):  # 16-bit PNG/TIFF: the full 0–65535 range maps to 0–255
        return lambda strip: _rescale_16_bit(np.asarray(strip))
    if mode == "F":
        scale = _value_scaler(np.dtype(np.float32), arrays)
        return lambda strip: scale(np.asarray(strip))
    if (mode == "P" and "transparency" in image.info) or mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _over_white
    if mode != "RGB":
        return lambda strip: np.asarray(strip.convert("RGB"))
    return np.asarray


def _over_white(strip: Image.Image) -> np.ndarray:
    strip = strip.convert("RGBA")
    background = Image.new("RGBA", strip.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(background, strip).convert("RGB"))


def _rescale_16_bit(values: np.ndarray) -> np.ndarray:
    """0–65535 to 0–255 (v / 257, rounded), values outside clipped; exact in integers, no float copy."""
    clipped = np.clip(values, 0, 65535).astype(np.uint32)
    return ((clipped + 128) // 257).astype(np.uint8)


def _value_scaler(dtype: np.dtype, arrays: Callable[[], Iterator[np.ndarray]]
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """How to bring values of ``dtype`` to uint8; decided from the whole image, read strip by strip from ``arrays``.

    uint8 stays; uint16 (and other integers above 255) is rescaled from 0–65535; smaller integers are
    kept; booleans become 0/255; floats in [0, 1] are scaled by 255, other floats stretched from
    [min(0, lowest), max(0, highest)] to 0–255, NaN counting as 0.
    """
    if dtype == np.uint8:
        return lambda values: values
    if dtype == np.bool_:
        return lambda values: values.astype(np.uint8) * 255
    if np.issubdtype(dtype, np.integer):
        if dtype == np.uint16 or max((int(values.max(initial=0)) for values in arrays()), default=0) > 255:
            return _rescale_16_bit
        return lambda values: values.astype(np.uint8)
    if np.issubdtype(dtype, np.floating):
        low = high = 0.0
        for values in arrays():
            finite = _finite_float64(values)
            low, high = min(low, float(finite.min(initial=0.0))), max(high, float(finite.max(initial=0.0)))
        if low >= 0.0 and high <= 1.0:
            low, span = 0.0, 1.0
        else:  # an unscaled float image: stretch its range to 0–255
            span = max(high - low, 1e-12)
        return lambda values: _stretch(values, low, span)
    raise CamdemoError(f"Unsupported image array type {dtype}.")


def _finite_float64(values: np.ndarray) -> np.ndarray:
    """A float64 copy of one strip, NaN as 0 and infinities as the largest float64: the one temporary per strip."""
    return np.nan_to_num(values.astype(np.float64), copy=False)


def _stretch(values: np.ndarray, low: float, span: float) -> np.ndarray:
    """(values − low) / span × 255, rounded, in place in one float64 copy of the strip."""
    work = _finite_float64(values)
    work -= low
    work /= span
    work *= 255.0
    return np.round(work, out=work).astype(np.uint8)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Normalize a numpy image (H×W, H×W×1, H×W×3 or H×W×4; uint8, uint16, int or float) to RGB uint8."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise CamdemoError(f"An image array must be H×W, H×W×3 or H×W×4; got shape {array.shape}.")
    height, width = array.shape[:2]
    _check_size(width, height)
    strips = list(_row_strips(height, width))
    scale = _value_scaler(array.dtype, lambda: (array[top:bottom] for top, bottom in strips))
    result = np.empty((height, width, 3), np.uint8)
    for top, bottom in strips:
        scaled = scale(array[top:bottom])
        if scaled.ndim == 2:
            result[top:bottom] = scaled[:, :, None]
        elif scaled.shape[2] == 4:
            alpha = scaled[:, :, 3:4].astype(np.float32) / 255.0
            result[top:bottom] = (scaled[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round()
        else:
            result[top:bottom] = scaled
    return result
