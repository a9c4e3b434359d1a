"""Drawing data that is not a photo: the matrix with its own color scale, the attribution beside it on a signed
scale (shared between two maps if asked), and the row and column profiles (which rows and columns matter).

Pure NumPy/OpenCV/Pillow, like ``overlay``: computing stays in ``camdemo.data``; this only draws.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from . import overlay as overlay_lib

DISPLAY_SIDE = 320  # a small matrix is drawn with square cells at least this large overall (nearest neighbor)
DATA_COLORMAP = "viridis"
PROFILE_DEPTH = 80  # pixels for the bars of a profile


def render_data(values: np.ndarray) -> np.ndarray:
    """The data at its own resolution as a gray RGB uint8 picture (min → black, max → white): the ``image`` of a
    data explanation. A stack is shown by its channel mean, a signal as one row."""
    matrix = _as_matrix(values)
    low, high = float(matrix.min()), float(matrix.max())
    scaled = (matrix - low) / (high - low) if high > low else np.zeros_like(matrix)
    gray = np.rint(scaled * 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def data_panel(data: np.ndarray, attribution: np.ndarray, *, scale: float | None = None,
               caption: str = "attribution", top: int = 5) -> np.ndarray:
    """One picture for a matrix or a signal and its attribution (at the data's resolution, signed):

    the data in its own colors with its value range; the attribution on a diverging scale from −m to +m
    (``scale`` = m, to share one scale between two maps; default its own largest |value|); the row profile
    (Σ over columns) to the right and the column profile (Σ over rows) below, the ``top`` rows/columns marked.
    """
    matrix, values = _as_matrix(data), np.atleast_2d(attribution).astype(np.float32)
    rows, columns = values.sum(axis=1), values.sum(axis=0)
    cell = max(1, DISPLAY_SIDE // max(matrix.shape))
    signal = matrix.shape[0] == 1
    height, width = (max(cell * 8, 48) if signal else cell * matrix.shape[0]), cell * matrix.shape[1]
    low, high = float(matrix.min()), float(matrix.max())
    shown = _zoom(overlay_lib.colorize((matrix - low) / ((high - low) or 1.0), DATA_COLORMAP), height, width)
    m = float(scale) if scale else float(np.abs(values).max()) or 1.0
    heat = _zoom(overlay_lib.colorize(np.clip(values / m, -1, 1) * 0.5 + 0.5, "diverging"), height, width)
    data_part = overlay_lib.with_color_bar(shown, overlay_lib.color_bar(DATA_COLORMAP, width, low, high, "data"))
    map_part = overlay_lib.with_color_bar(
        _with_profiles(heat, rows if not signal else None, columns, m, top),
        overlay_lib.color_bar("diverging", width + (0 if signal else PROFILE_DEPTH), -m, m, caption))
    return _side_by_side(data_part, map_part)


def _as_matrix(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 1:
        return values[None, :]
    if values.ndim == 3:
        return values.mean(axis=0)
    return values


def _zoom(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_NEAREST)


def _with_profiles(heat: np.ndarray, rows: np.ndarray | None, columns: np.ndarray, scale: float,
                   top: int) -> np.ndarray:
    """The map with bars of the column sums below it and (for a matrix) of the row sums to its right."""
    height, width = heat.shape[:2]
    below = _bars(columns, width, vertical=False, top=top)
    if rows is None:
        return np.vstack([heat, below])
    right = _bars(rows, height, vertical=True, top=top)
    corner = np.full((PROFILE_DEPTH, PROFILE_DEPTH, 3), 255, np.uint8)
    return np.vstack([np.hstack([heat, right]), np.hstack([below, corner])])


def _bars(sums: np.ndarray, length: int, *, vertical: bool, top: int) -> np.ndarray:
    """Signed bars (red for, blue against) of ``sums`` along ``length`` pixels; the ``top`` largest outlined."""
    canvas = Image.new("RGB", (PROFILE_DEPTH, length) if vertical else (length, PROFILE_DEPTH), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    extent = float(np.abs(sums).max()) or 1.0
    middle, half = PROFILE_DEPTH / 2, PROFILE_DEPTH / 2 - 2
    step = length / len(sums)
    best = set(np.argsort(-sums, kind="stable")[:top].tolist())
    for i, value in enumerate(sums):
        start, end = i * step, max(i * step, (i + 1) * step - 1)
        reach = middle + value / extent * half
        color = (214, 39, 40) if value >= 0 else (31, 119, 180)
        box = [min(middle, reach), start, max(middle, reach), end] if vertical else \
            [start, PROFILE_DEPTH - max(middle, reach), end, PROFILE_DEPTH - min(middle, reach)]
        draw.rectangle(box, fill=color, outline=(0, 0, 0) if i in best else None)
    return np.asarray(canvas)


def _side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 12) -> np.ndarray:
    height = max(left.shape[0], right.shape[0])
    padded = [np.vstack([part, np.full((height - part.shape[0], part.shape[1], 3), 255, np.uint8)])
              for part in (left, right)]
    return np.hstack([padded[0], np.full((height, gap, 3), 255, np.uint8), padded[1]])
