"""Peak memory of decoding each kind of upload: ``python -m benchmarks.decode [--side 7000]``.

Every file made here is small on disk and large in pixels (a flat color compresses a thousandfold),
the cheapest way to make a server decode gigabytes. Each one is decoded by ``load_image`` from a
file, as the app does, in a fresh process forked for it; its number is that process's peak resident
memory above its resident memory just before decoding (Linux: VmHWM, reset through clear_refs). The
returned RGB array itself (3 bytes per pixel) is part of the number.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import struct
import sys
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from camdemo.images import decode as images
from camdemo.images.memory import decode_cost
from camdemo.errors import CamdemoError
from camdemo.images import load_image

COLOR = (200, 120, 40)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _rotated_jpeg(side: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    return _encode(Image.new("RGB", (side, side), COLOR), "JPEG", exif=exif.tobytes())


def _animated_gif(side: int) -> bytes:
    """Two 64×64 frames on a side×side logical screen (the rest is background): a few hundred bytes."""
    frames = [Image.new("RGB", (64, 64), color) for color in ("red", "blue")]
    data = bytearray(_encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0))
    data[6:10] = struct.pack("<HH", side, side)  # the logical screen's width and height
    return bytes(data)


def _animated_png(side: int) -> bytes:
    first = Image.new("RGBA", (side, side), (*COLOR, 128))
    second = first.copy()
    second.paste((0, 0, 255, 255), (0, 0, 64, 64))  # only this corner changes, so frame 2 is stored small
    return _encode(first, "PNG", save_all=True, append_images=[second], duration=100)


def _rgb16_png(side: int) -> bytes:
    return cv2.imencode(".png", np.full((side, side, 3), 40000, np.uint16))[1].tobytes()


def _transparent_palette_png(side: int) -> bytes:
    image = Image.new("P", (side, side), 1)
    image.putpalette([255, 255, 255, *COLOR])
    return _encode(image, "PNG", transparency=0)


DEFLATE = {"compression": "tiff_adobe_deflate"}

# name → function of the side (pixels) that returns the file's bytes.
KINDS: dict[str, Callable[[int], bytes]] = {
    "8-bit RGB PNG": lambda side: _encode(Image.new("RGB", (side, side), COLOR), "PNG"),
    "8-bit RGBA PNG": lambda side: _encode(Image.new("RGBA", (side, side), (*COLOR, 128)), "PNG"),
    "8-bit gray PNG": lambda side: _encode(Image.new("L", (side, side), 128), "PNG"),
    "palette PNG, transparency": _transparent_palette_png,
    "JPEG": lambda side: _encode(Image.new("RGB", (side, side), COLOR), "JPEG"),
    "progressive JPEG": lambda side: _encode(Image.new("RGB", (side, side), COLOR), "JPEG", progressive=True),
    "JPEG, EXIF rotated": _rotated_jpeg,
    "progressive JPEG, 4:4:4": lambda side: _encode(Image.new("RGB", (side, side), COLOR), "JPEG",
                                                    progressive=True, subsampling=0),
    "progressive CMYK JPEG": lambda side: _encode(Image.new("CMYK", (side, side), (0, 200, 100, 50)), "JPEG",
                                                  progressive=True),
    "CMYK JPEG": lambda side: _encode(Image.new("CMYK", (side, side), (0, 200, 100, 50)), "JPEG"),
    "WebP (lossless)": lambda side: _encode(Image.new("RGB", (side, side), COLOR), "WEBP", lossless=True),
    "WebP (lossy, alpha)": lambda side: _encode(Image.new("RGBA", (side, side), (*COLOR, 128)), "WEBP"),
    "animated GIF": _animated_gif,
    "animated PNG (RGBA)": _animated_png,
    "16-bit gray PNG": lambda side: _encode(Image.new("I;16", (side, side), 40000), "PNG"),
    "16-bit RGB PNG": _rgb16_png,
    "16-bit TIFF": lambda side: _encode(Image.new("I;16", (side, side), 40000), "TIFF", **DEFLATE),
    "32-bit integer TIFF": lambda side: _encode(Image.new("I", (side, side), 40000), "TIFF", **DEFLATE),
    "float32 TIFF": lambda side: _encode(Image.new("F", (side, side), 0.5), "TIFF", **DEFLATE),
    "float32 TIFF, one strip": lambda side: _encode(Image.new("F", (side, side), 0.5), "TIFF", **DEFLATE,
                                                    strip_size=2**31 - 1),
}


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field_name} in /proc/self/status")


def _decode_child(path: str, connection) -> None:
    """In the forked process: decode ``path`` once, send back the peak MB above the start (or the refusal)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current resident size (Linux ≥ 4.0)
    start = _status_kb("VmRSS")
    try:
        load_image(path)
    except CamdemoError as error:
        connection.send(("refused", str(error)))
        return
    connection.send(("decoded", (_status_kb("VmHWM") - start) * 1024 / 1e6))


def peak_decode_mb(path: str | Path) -> tuple[str, float | str]:
    """("decoded", peak MB above the start) or ("refused", message) for one decode in a fresh forked process."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_decode_child, args=(str(path), send))
    child.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:
        outcome = None
    child.join()
    return outcome or ("failed", f"the decoding process died (exit code {child.exitcode})")


def _write_child(name: str, side: int, path: str) -> None:
    Path(path).write_bytes(KINDS[name](side))


def write_upload(name: str, side: int, path: str | Path) -> None:
    """Make the file of kind ``name`` at ``path`` in a forked process, so that this one's heap stays clean.

    Encoding allocates hundreds of MB; memory freed here could stay resident in this process and be
    reused by the decoding children forked from it, which would then under-report their peaks.
    """
    child = multiprocessing.get_context("fork").Process(target=_write_child, args=(name, side, str(path)))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"making the {name} file failed (exit code {child.exitcode})")


def measure(side: int, kinds: list[str] | None = None) -> list[dict]:
    """One row per kind: file size, pixels, estimated and measured peak decode memory (MB), or the refusal."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="camdemo-decode-") as folder:
        for name in kinds or list(KINDS):
            path = Path(folder) / "upload"
            write_upload(name, side, path)
            with Image.open(path) as image:  # the header only
                estimate = decode_cost(image).peak / 1e6
            status, value = peak_decode_mb(path)
            rows.append({"kind": name, "file_kb": path.stat().st_size / 1e3, "megapixels": side * side / 1e6,
                         "estimate_mb": estimate, "status": status,
                         "peak_mb": value if status == "decoded" else None,
                         "message": value if status != "decoded" else None})
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'upload kind':26} {'file':>9} {'pixels':>8} {'estimate':>9} {'peak':>9} {'bytes/pixel':>11}")
    for row in rows:
        if row["status"] == "decoded":
            peak = f"{row['peak_mb']:6.0f} MB {row['peak_mb'] / row['megapixels']:11.1f}"
        else:
            peak = f"{row['status']:>9}"
        print(f"{row['kind']:26} {row['file_kb']:6.0f} kB {row['megapixels']:5.1f} MP {row['estimate_mb']:6.0f} MB "
              f"{peak}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=7000, help="every image is side×side pixels (default 7000: 49 MP)")
    parser.add_argument("--kind", action="append", choices=list(KINDS), help="only this kind (repeatable)")
    parser.add_argument("--no-budget", action="store_true",
                        help="decode even what the memory budget refuses, to measure it against the estimate")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.no_budget:
        images.MAX_DECODE_BYTES = float("inf")
    rows = measure(args.side, args.kind)
    if args.json:
        json.dump(rows, sys.stdout)
    else:
        print("Peak resident memory of load_image(path) above the process's before it, MB = 10^6 bytes; "
              "estimate: camdemo.images.memory from the header.\n")
        print_table(rows)


if __name__ == "__main__":
    main()
