"""Boxes from maps, and how to score them: the CAM paper's localization rule, IoU, the pointing game.

Boxes are (x0, y0, x1, y1) in pixels with x1, y1 exclusive.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]
CAM_PAPER_THRESHOLD = 0.2


def box_from_map(values: np.ndarray, threshold: float = CAM_PAPER_THRESHOLD) -> Box:
    """Box around the largest connected region where ``values`` ≥ threshold × max(values).

    Zhou et al. 2016 (section 4.1): "we segment the regions of which the value is above 20% of the
    max value of the CAM and take the bounding box that covers the largest connected component".
    Give the map in its own units (``Explanation.raw_map`` upsampled), not min–max normalized: for a
    signed map like CAM, normalizing would move the threshold to min + 0.2·(max − min).
    """
    peak = float(values.max())
    if peak <= 0:
        return (0, 0, values.shape[1], values.shape[0])
    region = (values >= threshold * peak).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[largest, :4])
    return (x, y, x + w, y + h)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def peak_in_box(heatmap: np.ndarray, box: Box) -> bool:
    """Pointing game (Zhang et al. 2016): is the map's maximum inside the box?"""
    row, column = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return bool(box[0] <= column < box[2] and box[1] <= row < box[3])
