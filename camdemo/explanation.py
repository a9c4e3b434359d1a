"""What ``explain`` returns: the map, the predictions and the image, and how the map is drawn."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, NamedTuple

import numpy as np

from .drawing import overlay as overlay_lib
from .evaluation.boxes import CAM_PAPER_THRESHOLD, Box, box_from_map
from .errors import CamdemoError
from .explainers import METHODS
from .models import get_spec

class Prediction(NamedTuple):
    """One of the top predictions: class index, its label and its softmax probability."""

    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class Explanation:
    """The result of ``explain``: the map over the original image and what the model predicted.

    ``heatmap`` (float32, H×W, in [0, 1]) and ``overlay`` (uint8, H×W×3) have the size of the input
    image. ``raw_map`` is the method's map before normalisation, at the layer's resolution.
    """

    heatmap: np.ndarray
    overlay: np.ndarray
    image: np.ndarray
    predictions: list[Prediction]
    class_index: int
    class_label: str
    class_probability: float
    layer: str | None
    method: str
    backbone: str
    raw_map: np.ndarray
    colormap: str
    opacity: float
    seconds: float
    device: str
    note: str = ""
    sign: str = overlay_lib.DEFAULT_SIGN  # which part of a signed map is shown: positive, negative or both
    options: Mapping[str, Any] = field(default_factory=dict)  # the method's settings, defaults filled in
    method_note: str = ""  # what the method itself reported (e.g. Integrated Gradients' completeness)
    precision: str = "float32"  # the forward pass's arithmetic: float32, float16 or bfloat16

    def restyled(self, colormap: str | None = None, opacity: float | None = None,
                 sign: str | None = None) -> "Explanation":
        """The same explanation drawn with another colormap, opacity or sign; the network does not run.

        Showing both signs switches to the diverging colormap; leaving it goes back to the default.
        """
        sign = self.sign if sign is None else sign
        colormap = self.colormap if colormap is None else colormap
        opacity = self.opacity if opacity is None else float(opacity)
        check_sign(METHODS[self.method], sign, self.options)
        colormap = colormap_for_sign(colormap, sign)
        heatmap, note = self.heatmap, self.note
        if sign != self.sign:
            heatmap, flat = overlay_lib.display_heatmap(self.raw_map, self.image.shape[:2], sign)
            note = map_notes(METHODS[self.method], sign, flat, self.class_label, self.layer, self.method_note)
        blended = overlay_lib.blend(self.image, heatmap, colormap, opacity)
        return replace(self, heatmap=heatmap, overlay=blended, colormap=colormap, opacity=opacity, sign=sign,
                       note=note)

    def map_values(self) -> np.ndarray:
        """The raw map in its own units (signed for CAM and Grad-CAM), upsampled bicubically to the image size."""
        return overlay_lib.upsample_values(self.raw_map, self.image.shape[:2])

    def value_range(self) -> tuple[float, float]:
        """The raw-map values (the method's units) at the heatmap's 0 and 1: the ends of its colour scale.

        For ``sign="both"``, (−m, +m) with zero in the middle; otherwise the shown part's minimum and
        maximum (``overlay.display_range``).
        """
        return overlay_lib.display_range(self.raw_map, self.image.shape[:2], self.sign)

    def colour_scale(self, width: int | None = None) -> np.ndarray:
        """A colour bar for ``heatmap`` (RGB uint8, ``width`` wide, default the image's): the colormap, the
        map's values at its ends and what the colours mean (``overlay.colour_bar``)."""
        explainer = METHODS[self.method]
        caption = overlay_lib.scale_caption(self.sign, explainer.is_signed(self.options), explainer.title)
        return overlay_lib.colour_bar(self.colormap, width or self.image.shape[1], *self.value_range(), caption)

    def map_box(self, threshold: float = CAM_PAPER_THRESHOLD) -> Box:
        """Box around the largest region above ``threshold`` × the shown part's maximum (Zhou et al. 2016).

        For ``sign="negative"`` the box is around the evidence against the class; for "both", for it.
        """
        part = overlay_lib.signed_part(self.map_values(), "negative" if self.sign == "negative" else "positive")
        return box_from_map(part, threshold)

    @property
    def summary(self) -> str:
        """One line saying what was computed, for people."""
        method = METHODS[self.method].title
        where = f" at layer {self.layer}" if self.layer else ""
        precision = f" in {self.precision}" if self.precision != "float32" else ""
        return (f"{method}{where} of {get_spec(self.backbone).title} for class {self.class_index} "
                f"'{self.class_label}' (p = {self.class_probability:.3f}), {self.seconds * 1000:.0f} ms on "
                f"{self.device}{precision}.")



def check_sign(explainer, sign: str, options: Mapping[str, Any] | None = None) -> None:
    """``CamdemoError`` for an unknown sign, or a negative or both-signs view of a map without a sign (with
    these checked ``options``: SmoothGrad is signed as the method it wraps)."""
    if sign not in overlay_lib.SIGNS:
        raise CamdemoError(f"Unknown sign '{sign}'. Choose one of: {', '.join(overlay_lib.SIGNS)}.")
    if sign != "positive" and not explainer.is_signed(options):
        wrapped = f" over {METHODS[options['base']].title}" if options and options.get("base") in METHODS else ""
        raise CamdemoError(f"{explainer.title}{wrapped}'s map has no sign (it only measures how strongly each region "
                           "matters), so only its positive part can be shown.")


def colormap_for_sign(colormap: str, sign: str) -> str:
    """Both signs need the diverging colormap (white = zero); a single sign goes back to the default."""
    if sign == "both":
        return "diverging"
    return overlay_lib.DEFAULT_COLORMAP if colormap == "diverging" else colormap


def map_notes(explainer, sign: str, flat: bool, label: str, layer: str | None, method_note: str) -> str:
    """The warnings and measurements shown under a result."""
    notes = []
    if flat:
        where = " at this layer" if layer else ""
        evidence = {"positive": "no positive evidence for", "negative": "nothing that argues against",
                    "both": "no evidence either way for"}[sign]
        notes.append(f"The map is flat: {explainer.title} found {evidence} '{label}'{where}.")
    if method_note:
        notes.append(method_note)
    return " ".join(notes)
