"""The "step by step" gallery: Grad-CAM's pieces as captioned images (see ``camdemo.gradcam_steps``)."""

from __future__ import annotations

import cv2
import numpy as np

import camdemo
from camdemo.app.views import Backbone, usable_layer
from camdemo.drawing.overlay import blend, colorize, diverging, normalize_map
from camdemo import GradCAMSteps  # the type of camdemo.gradcam_steps' result

TILE = 160  # each small map is enlarged (nearest neighbor) to about this many pixels


def _tile(rgb: np.ndarray) -> np.ndarray:
    factor = max(1, TILE // max(rgb.shape[:2]))
    return cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)


def step_gallery(steps: GradCAMSteps, colormap: str) -> tuple[list[tuple[np.ndarray, str]], str]:
    """Captioned images, in the order Grad-CAM computes them, and a short text for the whole."""
    items = []
    for step in steps.strongest:
        shown, _ = normalize_map(step.activation)
        items.append((_tile(colorize(shown, "viridis")), f"map {step.channel} · α = {step.weight:+.4f}"))
    for step in steps.weakest[:1]:
        shown, _ = normalize_map(step.activation)
        items.append((_tile(colorize(shown, "viridis")), f"against: map {step.channel} · α = {step.weight:+.4f}"))
    items.append((_tile(diverging(steps.weighted_sum)), "Σ α·A: red for, blue against"))
    relu, _ = normalize_map(steps.after_relu)
    items.append((_tile(colorize(relu, colormap)), "ReLU: evidence for only"))
    items.append((blend(steps.image, steps.heatmap, colormap, 0.5), "upsampled onto your image"))
    text = (f"**How Grad-CAM built this map** for '{steps.class_label}' at layer `{steps.layer}`:\n\n"
            f"1. The layer has {steps.channels} feature maps A (shown: the {len(steps.strongest)} that add most to "
            f"the class, then the one that argues most against it; yellow = strong).\n"
            f"2. Each map gets one weight α: how much the score for '{steps.class_label}' rises when that map "
            f"grows (its gradient, averaged over the map).\n"
            f"3. The weighted sum Σ α·A: red regions argue for the class, blue against it.\n"
            f"4. The ReLU keeps only the evidence for the class.\n"
            f"5. The small map is upsampled and laid over your image.")
    return items, text


def show_steps(image: np.ndarray, backbone: Backbone, layer: str | None, class_index: int | None,
               colormap: str) -> tuple[list[tuple[np.ndarray, str]], str]:
    """Grad-CAM's steps for ``image`` at ``layer`` (the default one if it is not listed), as ``step_gallery``."""
    steps = camdemo.gradcam_steps(image, backbone=backbone, layer=usable_layer(backbone, layer),
                                  class_index=class_index)
    return step_gallery(steps, colormap)
