"""Files the app hands to Gradio: the pictures it shows and the downloads (overlay PNG, heatmap .npy/PNG).

They are written to one temporary folder per process, a sub-folder per result, and only the most
recent results are kept, so disk use stays bounded however many people use the app.

Why the displayed pictures are files too: Gradio 6.31 saves image *arrays* into its cache with a
plain write to a path named by the content hash, so two identical results (a class clicking the same
example) can truncate a picture while another client is downloading it ("received 0 bytes"). Files
go through Gradio's atomic copy instead. JPEG is also much faster to encode than Gradio's WebP.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import deque
from pathlib import Path

import cv2
import numpy as np

import camdemo
from camdemo.serving import claim_folder, disk_guard

KEEP_RESULTS = 64
_root = Path(tempfile.mkdtemp(prefix="camdemo-downloads-"))
claim_folder(_root)  # a later run removes it once this process is gone (camdemo.serving)
_recent: deque[Path] = deque()
_lock = threading.Lock()


def _new_folder() -> Path:
    with _lock:
        folder = Path(tempfile.mkdtemp(dir=_root))
        _recent.append(folder)
        while len(_recent) > KEEP_RESULTS:
            shutil.rmtree(_recent.popleft(), ignore_errors=True)
    return folder


def _write_image(path: Path, image: np.ndarray, options: list[int] | None = None) -> None:
    """Write an RGB or grayscale image: encoded in memory, then written, so a full disk raises its OSError
    (``cv2.imwrite`` just returns False, or leaves a truncated file)."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(path.suffix, bgr, options or [])
    if not ok:
        raise OSError(f"could not encode {path.name}")
    path.write_bytes(encoded.tobytes())


@disk_guard(_root)
def write_display(pair: tuple[np.ndarray, np.ndarray], heatmap: np.ndarray) -> tuple[tuple[str, str], str]:
    """The slider's (original, overlay) as JPEG and the coloured heatmap as PNG; returns their paths."""
    folder = _new_folder()
    paths = []
    for name, rgb in (("original.jpg", pair[0]), ("overlay.jpg", pair[1]), ("heatmap.png", heatmap)):
        path = folder / name
        options = [cv2.IMWRITE_JPEG_QUALITY, 92] if name.endswith(".jpg") else []
        _write_image(path, rgb, options)
        paths.append(str(path))
    return (paths[0], paths[1]), paths[2]


@disk_guard(_root)
def write_downloads(explanation: camdemo.Explanation, overlay: np.ndarray, name: str) -> tuple[str, str, str]:
    """Write (overlay PNG, heatmap .npy, heatmap grayscale PNG) for one result; returns their paths."""
    stem = f"{Path(name).stem or 'image'}_{explanation.backbone}_{explanation.method}_class{explanation.class_index}"
    folder = _new_folder()
    overlay_path = folder / f"{stem}_overlay.png"
    heatmap_npy = folder / f"{stem}_heatmap.npy"
    heatmap_png = folder / f"{stem}_heatmap.png"
    _write_image(overlay_path, overlay)
    np.save(heatmap_npy, explanation.heatmap)
    _write_image(heatmap_png, np.rint(explanation.heatmap * 255).astype(np.uint8))
    return str(overlay_path), str(heatmap_npy), str(heatmap_png)


@disk_guard(_root)
def write_gallery(items: list[tuple[np.ndarray, str]]) -> list[tuple[str, str]]:
    """Captioned pictures for a ``gr.Gallery``, written as JPEG files (see the module note on arrays)."""
    folder = _new_folder()
    written = []
    for index, (rgb, caption) in enumerate(items):
        path = folder / f"{index:03d}.jpg"
        _write_image(path, rgb, [cv2.IMWRITE_JPEG_QUALITY, 90])
        written.append((str(path), caption))
    return written
