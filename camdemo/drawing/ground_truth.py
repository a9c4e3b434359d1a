"""Ground truth drawn on a rendering of a matrix: a true box, or bands over the rows that truly changed.

Pure NumPy/OpenCV. A rendering may be larger than its matrix (each cell drawn as a block): rows and boxes
are given in matrix cells and scaled to the rendering here.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import CamdemoError
from .overlay import draw_boxes

TRUTH_COLOR = (255, 255, 255)


def render_matrix(values: np.ndarray, scale: int = 4, low: float = 0.0, high: float = 1.0,
                  colormap: int = cv2.COLORMAP_VIRIDIS) -> np.ndarray:
    """An H×W matrix drawn as an RGB image (scale·H × scale·W, nearest-neighbor), ``low`` → dark, ``high`` → bright."""
    if values.ndim != 2:
        raise CamdemoError(f"A matrix to draw must be 2-D; got shape {values.shape}.")
    levels = np.clip((values.astype(np.float32) - low) / max(high - low, 1e-12), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(levels * 255).astype(np.uint8), colormap)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (values.shape[1] * scale, values.shape[0] * scale), interpolation=cv2.INTER_NEAREST)


def draw_true_box(rendering: np.ndarray, box: tuple[int, int, int, int], matrix_shape: tuple[int, int],
                  label: str = "truth", color: tuple[int, int, int] = TRUTH_COLOR) -> np.ndarray:
    """A copy of ``rendering`` with ``box`` (x0, y0, x1, y1 in matrix cells, exclusive) drawn as a labeled rectangle."""
    sy, sx = rendering.shape[0] / matrix_shape[0], rendering.shape[1] / matrix_shape[1]
    x0, y0, x1, y1 = box
    scaled = (round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy))
    return draw_boxes(rendering, [(scaled, label, color)])


def row_runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """The runs of consecutive True rows of a boolean mask, as (first, last + 1)."""
    padded = np.concatenate([[False], rows.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def draw_row_bands(rendering: np.ndarray, rows: np.ndarray, lowest_row_at_bottom: bool = False,
                   color: tuple[int, int, int] = TRUTH_COLOR) -> np.ndarray:
    """A copy of ``rendering`` with each run of True ``rows`` (one boolean per matrix row) outlined across the width.

    ``lowest_row_at_bottom``: the rendering shows row 0 at the bottom (a spectrogram's usual orientation).
    """
    canvas = rendering.copy()
    height, width = canvas.shape[:2]
    per_row = height / len(rows)
    thickness = max(1, round(max(height, width) / 200))
    for first, last in row_runs(rows):
        top, bottom = first * per_row, last * per_row
        if lowest_row_at_bottom:
            top, bottom = height - bottom, height - top
        cv2.rectangle(canvas, (0, round(top)), (width - 1, round(bottom) - 1), color, thickness, lineType=cv2.LINE_8)
    return canvas
