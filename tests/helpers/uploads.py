"""The bad-upload corpus: files a person might upload, each with (part of) the message camdemo must give.

Every file is made here from a bundled photo or from nothing, so the corpus needs no fixtures on disk.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from . import ASSETS


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """``image`` saved in format ``fmt`` (with Pillow's save ``options``), as bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """The bundled cat photo at ``size`` (width, height)."""
    return Image.open(ASSETS / "chelsea_cat.jpg").convert("RGB").resize(size)


def huge_png() -> bytes:
    """A 8000×7000 (56 MP) 1-bit PNG: a few kB on disk, refused from its header before decoding."""
    return encode(Image.new("1", (8000, 7000)), "PNG")


def bomb_png() -> bytes:
    """Tiny file, 20000×20000 pixels: beyond even Pillow's own decompression-bomb limit."""
    return encode(Image.new("1", (20000, 20000)), "PNG")


# name → (how to make the file's bytes, a part of the message camdemo gives for it)
BAD_INPUTS: dict[str, tuple[Callable[[], bytes], str]] = {
    "truncated JPEG": (lambda: encode(photo(), "JPEG")[:600], "damaged or incomplete"),
    "truncated PNG": (lambda: encode(photo(), "PNG")[:500], "damaged or incomplete"),
    "zero-byte file": (lambda: b"", "empty"),
    "random bytes": (lambda: np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not an image"),
    "text file": (lambda: b"name,age\nAda,36\n", "not an image"),
    "PDF file": (lambda: b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n", "not an image"),
    "over 50 megapixels": (huge_png, "too large"),
    "decompression bomb": (bomb_png, "too large"),
    "tiny 16×16": (lambda: encode(photo((16, 16)), "PNG"), "too small"),
    "1×1 pixel": (lambda: encode(photo((1, 1)), "PNG"), "too small"),
    "very wide 20000×40": (lambda: encode(Image.new("RGB", (20000, 40), "white"), "PNG"), "longer than it is wide"),
    "unsupported format (ICO)": (lambda: encode(photo((64, 64)), "ICO"), "please upload"),
}


def malformed_corpus(folder: Path) -> dict[Path, str | None]:
    """The robustness sweep, written into ``folder``: path → expected message part, or None for the odd but
    good files (16-bit gray, CMYK, animated GIF) that must be accepted and explained."""
    corpus: dict[Path, str | None] = {}
    for name in ["truncated JPEG", "truncated PNG", "random bytes", "decompression bomb", "1×1 pixel",
                 "very wide 20000×40"]:
        make, expected = BAD_INPUTS[name]
        path = folder / (name.replace(" ", "_").replace("×", "x") + ".png")
        path.write_bytes(make())
        corpus[path] = expected
    gray16 = np.full((64, 64), 40000, np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    frames = [Image.new("RGB", (64, 64), color) for color in ("red", "blue")]
    (folder / "animated.gif").write_bytes(encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    for good in ("gray16.png", "cmyk.jpg", "animated.gif"):
        corpus[folder / good] = None
    return corpus

