"""Decoding and validating the images a user gives us, with messages a person can act on.

``load_image`` accepts a file path, raw bytes, a PIL image or a numpy array and returns an
H×W×3 ``uint8`` RGB array, or raises ``CamdemoError`` saying what is wrong with the input.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CamdemoError

ImageInput = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]

MIN_SIDE = 32
MAX_PIXELS = 50_000_000
MAX_ASPECT = 20  # a longer side over 20× the shorter one would be squashed beyond recognition
# Formats a browser user is likely to upload; MPO is what many cameras call their JPEGs.
SUPPORTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"}
SUPPORTED_TEXT = "JPEG, PNG, WebP, BMP, TIFF or GIF"


def load_image(source: ImageInput) -> np.ndarray:
    """Return ``source`` as an H×W×3 uint8 RGB array, or raise ``CamdemoError`` with the reason.

    Handles EXIF orientation, grayscale, palette, RGBA (composited on white), CMYK, 16-bit
    (rescaled to 8 bits, not clipped) and animated files (first frame). Refuses files that are not
    images, damaged or truncated files, images under 32 pixels on a side, over 50 megapixels, or
    more than 20 times longer than wide.
    """
    if isinstance(source, np.ndarray):
        return _check_size(_array_to_rgb(source))
    if isinstance(source, Image.Image):
        return _check_size(_pil_to_rgb(source))
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


def _decode(stream: io.BufferedIOBase, name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except UnidentifiedImageError:
        raise CamdemoError(f"{name.capitalize()} is not an image camdemo can read. Please upload a {SUPPORTED_TEXT} file.") from None
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
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = _pil_to_rgb(image)
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise CamdemoError(_damaged_message(name, error)) from None
    return _check_size(rgb)


def _damaged_message(name: str, error: Exception) -> str:
    return (f"{name.capitalize()} is damaged or incomplete (perhaps the upload was cut short), so it cannot be "
            f"decoded. Please try the file again or choose another. Details: {error}")


def _too_large_message(size: tuple[int, int] | None) -> str:
    shown = f" ({size[0]}×{size[1]} = {size[0] * size[1] / 1e6:.0f} megapixels)" if size else ""
    return (
        f"The image is too large{shown}. camdemo accepts up to {MAX_PIXELS // 1_000_000} megapixels; "
        "please resize it and upload it again."
    )


def _check_size(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
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
    return rgb


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any PIL mode to RGB uint8: alpha over white, high bit depths rescaled, not clipped."""
    mode = image.mode
    if mode.startswith("I"):  # 16-bit PNG/TIFF: the full 0–65535 range maps to 0–255
        return _array_to_rgb(np.asarray(image, dtype=np.int64).clip(0, 65535).astype(np.uint16))
    if mode == "F":
        return _array_to_rgb(np.asarray(image, dtype=np.float32))
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, image).convert("RGB"))
    if mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Normalise a numpy image (H×W, H×W×1, H×W×3 or H×W×4; uint8, uint16, int or float) to RGB uint8."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise CamdemoError(f"An image array must be H×W, H×W×3 or H×W×4; got shape {array.shape}.")
    if array.dtype == np.uint8:
        scaled = array
    elif array.dtype == np.uint16 or (np.issubdtype(array.dtype, np.integer) and array.max(initial=0) > 255):
        scaled = (array.astype(np.float64) * (255.0 / 65535.0)).round().clip(0, 255).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        scaled = array.astype(np.uint8) * (255 if array.dtype == np.bool_ else 1)
    elif np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float64))
        low, high = float(finite.min(initial=0.0)), float(finite.max(initial=0.0))
        if low >= 0.0 and high <= 1.0:
            scaled = (finite * 255.0).round().astype(np.uint8)
        else:  # an unscaled float image: stretch its range to 0–255
            scaled = ((finite - low) / max(high - low, 1e-12) * 255.0).round().astype(np.uint8)
    else:
        raise CamdemoError(f"Unsupported image array type {array.dtype}.")
    if scaled.ndim == 2:
        return np.ascontiguousarray(np.repeat(scaled[:, :, None], 3, axis=2))
    if scaled.shape[2] == 4:
        alpha = scaled[:, :, 3:4].astype(np.float32) / 255.0
        composited = scaled[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return composited.round().astype(np.uint8)
    return np.ascontiguousarray(scaled)
