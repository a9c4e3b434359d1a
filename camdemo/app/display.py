"""Pictures for the page: an upload shrunk for display, and a result drawn with its color scale and boxes.

Plain NumPy and OpenCV (no Gradio): ``render`` can be called from a notebook or a test as it is.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

import camdemo
from camdemo.drawing.overlay import colorize, draw_boxes, with_color_bar
from camdemo.evaluation.boxes import iou
from camdemo.teaching.scenes import ground_truth

DISPLAY_MAX_SIDE = 1280  # larger uploads are shrunk for display; the model sees 224–260 px anyway
SMALL_DISPLAY = 384  # smaller results are enlarged (nearest neighbor) so boxes and labels stay crisp
TRUE_BOX = (255, 255, 255)
MAP_BOX = (255, 0, 255)
MAP_BOX_NOTE = "Magenta box: the map's largest region above 20% of its maximum (the CAM paper's localization rule)."


def display_image(path: str) -> np.ndarray:
    """The image at ``path`` decoded by camdemo (its messages for bad files) and shrunk to at most
    ``DISPLAY_MAX_SIDE`` pixels a side."""
    rgb = camdemo.load_image(path)
    height, width = rgb.shape[:2]
    scale = DISPLAY_MAX_SIDE / max(height, width)
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    return rgb


class Rendered(NamedTuple):
    """What the page shows of one result."""

    pair: tuple[np.ndarray, np.ndarray]  # (original, overlay) for the image slider
    heatmap: np.ndarray  # the colored map with its color scale underneath
    note: str  # about the boxes drawn ("" without boxes)


def render(explanation: camdemo.Explanation, show_boxes: bool) -> Rendered:
    """The result as the page shows it.

    Small images are enlarged by a whole factor. With ``show_boxes`` the box the map implies (magenta,
    the CAM paper's 20% rule) is drawn, and on a generated shapes example the true boxes (white) too,
    with their IoU.
    """
    side = max(explanation.image.shape[:2])
    scale = -(-SMALL_DISPLAY // side) if side < SMALL_DISPLAY else 1

    def enlarge(image: np.ndarray) -> np.ndarray:
        return image if scale == 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)

    original, overlay = enlarge(explanation.image), enlarge(explanation.overlay)
    heatmap = enlarge(colorize(explanation.heatmap, explanation.colormap))
    heatmap = with_color_bar(heatmap, explanation.color_scale(heatmap.shape[1]))  # what the colors mean
    if not show_boxes:
        return Rendered((original, overlay), heatmap, "")
    overlay, note = _with_boxes(explanation, overlay, scale)
    return Rendered((original, overlay), heatmap, note)


def _with_boxes(explanation: camdemo.Explanation, overlay: np.ndarray, scale: int) -> tuple[np.ndarray, str]:
    """``overlay`` (enlarged ``scale`` times) with the map's box and any true boxes drawn, and a note on them."""
    predicted = explanation.map_box()
    truth = ground_truth(explanation.image) or ()
    boxes = [(predicted, "map", MAP_BOX)] + [(shape.box, f"true {shape.name}", TRUE_BOX) for shape in truth]
    overlay = draw_boxes(overlay, [((x0 * scale, y0 * scale, x1 * scale, y1 * scale), label, color)
                                   for (x0, y0, x1, y1), label, color in boxes])
    if not truth:
        return overlay, MAP_BOX_NOTE
    matching = [shape for shape in truth if shape.name == explanation.class_label]
    if matching:
        return overlay, (f"Ground truth: the box around the map's largest region above 20% of its maximum (magenta) "
                         f"overlaps the true {matching[0].name} box (white) with IoU "
                         f"{iou(predicted, matching[0].box):.2f}.")
    return overlay, f"Ground truth: this image holds no {explanation.class_label}; white boxes show what it holds."


def is_shapes_scene(explanation: camdemo.Explanation) -> bool:
    """Whether the explained image is one of the generated shapes scenes (with known true boxes)."""
    return ground_truth(explanation.image) is not None
