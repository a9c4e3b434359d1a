"""What ``explain`` returns: the map, the predictions and the image, and how the map is drawn."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from .drawing import overlay as overlay_lib
from .evaluation.boxes import CAM_PAPER_THRESHOLD, Box, box_from_map
from .errors import CamdemoError
from .explainers import METHODS
from .data import Profiles, profiles
from .models import BackboneSpec, get_spec


class Prediction(NamedTuple):
    """One of the top predictions: class index, its label, its probability (softmax over exclusive classes, a
    sigmoid for a multi-label or binary output, NaN for a regression) and the model's raw output."""

    index: int  # type: ignore[assignment]  # the field's name shadows tuple.index on purpose
    label: str
    probability: float
    output: float = float("nan")  # the logit, or a regression's value


class _drawn_on_request:
    """An attribute computed from the rest of the result on first access, then kept on the instance.

    Like ``functools.cached_property``, without its one lock for all instances (Python 3.11): two
    requests drawing two results at once do not wait for each other. Two threads reading the same
    attribute at the same moment may both compute it; they get equal arrays.
    """

    def __init__(self, function: Callable[[Any], np.ndarray]) -> None:
        self.function = function
        self.__doc__ = function.__doc__

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.function(instance)
        instance.__dict__[self.name] = value  # found before this (non-data) descriptor from now on
        return value


@dataclass(frozen=True)
class Explanation:
    """The result of ``explain``: the raw map, the image and what the model predicted, and the style to draw it in.

    ``raw_map`` is the method's map before normalization, at the layer's resolution. What a person sees is
    drawn from it on first access and then kept: ``heatmap`` (float32, H×W, in [0, 1], the shown ``sign``'s
    part normalized for display) and ``overlay`` (uint8, H×W×3, ``colormap`` at ``opacity`` over the image),
    both the size of the input image. Computing a map (``explain``, the evaluation functions) draws nothing.
    """

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
    direction: str = "up"  # "up": what raises the explained output; "down": what lowers it
    versus: int | None = None  # the contrast class b of "class_index rather than b", if any
    output_kind: str = "softmax"  # softmax, multilabel, binary or regression (``camdemo.wrap_model``)
    model_title: str = ""  # the model's display name (a user's model is not in the registry)
    data: np.ndarray | None = None  # the matrix, stack or signal explained, as the model saw it (``image`` draws it)
    model_spec: BackboneSpec | None = field(default=None, repr=False, compare=False)  # what ran (a user's model too)

    @property
    def spec(self) -> BackboneSpec:
        """The backbone or wrapped model that made this explanation (for faithfulness, saving, ...)."""
        return self.model_spec or get_spec(self.backbone)

    def profiles(self, top: int = 5) -> Profiles:
        """Which rows and columns matter: the raw map at the input's resolution (a data model's rows × columns; 1 × L
        for a signal) summed per row and per column, the ``top`` ones listed, largest first (``camdemo.data``)."""
        return profiles(self.map_values(), top)

    @_drawn_on_request
    def heatmap(self) -> np.ndarray:
        """The shown part of the map over the image, H×W float32 in [0, 1] (``overlay.display_heatmap``)."""
        heatmap, _ = overlay_lib.display_heatmap(self.raw_map, self.image.shape[:2], self.sign)
        return heatmap

    @_drawn_on_request
    def overlay(self) -> np.ndarray:
        """``heatmap`` in ``colormap`` blended over the image at ``opacity``, H×W×3 uint8 (``overlay.blend``)."""
        return overlay_lib.blend(self.image, self.heatmap, self.colormap, self.opacity)

    @property
    def nbytes(self) -> int:
        """The bytes its arrays take with its pictures drawn, drawn yet or not: what a cache of results counts."""
        height, width = self.image.shape[:2]
        pictures = height * width * (np.dtype(np.float32).itemsize + 3)  # heatmap float32, overlay RGB uint8
        return self.image.nbytes + self.raw_map.nbytes + pictures

    def restyled(self, colormap: str | None = None, opacity: float | None = None,
                 sign: str | None = None) -> Explanation:
        """The same explanation drawn with another colormap, opacity or sign; the network does not run.

        Showing both signs switches to the diverging colormap; leaving it goes back to the default.
        The new pictures are drawn when they are first read; a heatmap already drawn for the same sign is kept.
        """
        sign = self.sign if sign is None else sign
        colormap = self.colormap if colormap is None else colormap
        opacity = self.opacity if opacity is None else float(opacity)
        check_sign(METHODS[self.method], sign, self.options)
        colormap = colormap_for_sign(colormap, sign)
        overlay_lib.check_style(colormap, opacity)  # a bad style fails here, as it did when it was drawn at once
        note = self.note
        if sign != self.sign:
            flat = overlay_lib.is_flat(self.raw_map, sign)
            note = map_notes(METHODS[self.method], sign, flat, self.class_label, self.layer, self.method_note)
        styled = replace(self, colormap=colormap, opacity=opacity, sign=sign, note=note)
        if sign == self.sign and "heatmap" in self.__dict__:
            styled.__dict__["heatmap"] = self.heatmap  # the same numbers: not computed again
        return styled

    def map_values(self) -> np.ndarray:
        """The raw map in its own units (signed for CAM and Grad-CAM), upsampled bicubically to the image size."""
        return overlay_lib.upsample_values(self.raw_map, self.image.shape[:2])

    def value_range(self) -> tuple[float, float]:
        """The raw-map values (the method's units) at the heatmap's 0 and 1: the ends of its color scale.

        For ``sign="both"``, (−m, +m) with zero in the middle; otherwise the shown part's minimum and
        maximum (``overlay.display_range``).
        """
        return overlay_lib.display_range(self.raw_map, self.image.shape[:2], self.sign)

    def color_scale(self, width: int | None = None) -> np.ndarray:
        """A color bar for ``heatmap`` (RGB uint8, ``width`` wide, default the image's): the colormap, the
        map's values at its ends and what the colors mean (``overlay.color_bar``)."""
        explainer = METHODS[self.method]
        caption = overlay_lib.scale_caption(self.sign, explainer.is_signed(self.options), explainer.title)
        return overlay_lib.color_bar(self.colormap, width or self.image.shape[1], *self.value_range(), caption)

    def colour_scale(self, width: int | None = None) -> np.ndarray:
        """Deprecated spelling of ``color_scale`` (camdemo now spells American throughout)."""
        warnings.warn("Explanation.colour_scale is now color_scale.", DeprecationWarning, stacklevel=2)
        return self.color_scale(width)

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
        title = self.model_title or get_spec(self.backbone).title
        odds = "" if np.isnan(self.class_probability) else f" (p = {self.class_probability:.3f})"
        what = "output" if self.output_kind == "regression" else "class"
        return (f"{method}{where} of {title} for {what} {self.class_index} '{self.class_label}'{odds}, "
                f"{self.seconds * 1000:.0f} ms on {self.device}{precision}.")



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
