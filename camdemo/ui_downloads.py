"""Files behind the app's download buttons: the overlay (PNG) and the raw heatmap (.npy and PNG).

They are written to one temporary folder per process, a sub-folder per result, and only the most
recent results are kept, so disk use stays bounded however many people use the app.
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

KEEP_RESULTS = 64
_root = Path(tempfile.mkdtemp(prefix="camdemo-downloads-"))
_recent: deque[Path] = deque()
_lock = threading.Lock()


def write_downloads(explanation: camdemo.Explanation, overlay: np.ndarray, name: str) -> tuple[str, str, str]:
    """Write (overlay PNG, heatmap .npy, heatmap grayscale PNG) for one result; returns their paths."""
    stem = f"{Path(name).stem or 'image'}_{explanation.backbone}_{explanation.method}_class{explanation.class_index}"
    with _lock:
        folder = Path(tempfile.mkdtemp(dir=_root))
        _recent.append(folder)
        while len(_recent) > KEEP_RESULTS:
            shutil.rmtree(_recent.popleft(), ignore_errors=True)
    overlay_path = folder / f"{stem}_overlay.png"
    heatmap_npy = folder / f"{stem}_heatmap.npy"
    heatmap_png = folder / f"{stem}_heatmap.png"
    cv2.imwrite(str(overlay_path), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    np.save(heatmap_npy, explanation.heatmap)
    cv2.imwrite(str(heatmap_png), np.rint(explanation.heatmap * 255).astype(np.uint8))
    return str(overlay_path), str(heatmap_npy), str(heatmap_png)
