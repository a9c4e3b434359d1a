"""Running a method safely on a shared, cached model and packaging the result as an ``Explanation``.

This is camdemo's public Python API (re-exported from ``camdemo``): the Gradio app, the tests and
a notebook all call ``explain``, ``backbones``, ``layers`` and ``methods`` from here.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

import numpy as np
import torch

from . import overlay as overlay_lib
from .models import (DEFAULT_BACKBONE, BackboneInfo, BackboneSpec, backbone_names, get_spec, load_model,
                     weights_status)
from .boxes import CAM_PAPER_THRESHOLD, Box, box_from_map
from .errors import CamdemoError
from .hooks import eval_mode
from .images import ImageInput, load_image
from .target_layers import LayerInfo, default_layer, list_layers, resolve_layer
from .explainers import METHODS, ChannelWeightedMethod, LayerForward, RawMap, Target, get_method

DEFAULT_METHOD = "gradcam"
TOP_K = 5


# --- devices and threads ------------------------------------------------------------------------


def available_cpus() -> int:
    """CPU cores this process may really use: affinity mask and cgroup quota (containers, Spaces)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:  # cgroup v2, e.g. "200000 100000" = 2 CPUs; "max 100000" = no limit
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


_threads_configured = False


def default_device() -> torch.device:
    """CUDA when a GPU is present (or ``CAMDEMO_DEVICE`` says so), else the CPU."""
    wanted = os.environ.get("CAMDEMO_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


PRECISIONS = ("float32", "half", "float16", "bfloat16")  # "half": float16 on CUDA, bfloat16 on a CPU


class MapTolerance(NamedTuple):
    """How far a map may move from the float32 one: heatmaps on their [0, 1] display scale."""

    max_heatmap_difference: float
    min_correlation: float  # Pearson, over the heatmap's pixels
    max_probability_difference: float  # of the explained class


# Measured against float32 for every layer method on EfficientNet-Lite0/1/2 (6 photos each, class fixed),
# on the CPU (README "Half precision"). float16: at most 0.062 (Score-CAM; the others 0.014), at least
# 0.9987, at most 0.0024. bfloat16 keeps float32's range but only 8 mantissa bits (float16: 11): at most
# 0.105, at least 0.9905, at most 0.032.
PRECISION_TOLERANCE = {
    "float16": MapTolerance(max_heatmap_difference=0.08, min_correlation=0.998, max_probability_difference=0.005),
    "bfloat16": MapTolerance(max_heatmap_difference=0.15, min_correlation=0.99, max_probability_difference=0.05),
}


def default_precision() -> str:
    """The precision ``explain`` uses when not told: ``CAMDEMO_PRECISION`` (e.g. ``half``), else float32."""
    return os.environ.get("CAMDEMO_PRECISION", "float32")


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast the forward pass to, or None for float32; ``CamdemoError`` for an unknown name."""
    if precision not in PRECISIONS:
        raise CamdemoError(f"Unknown precision '{precision}'. Choose one of: {', '.join(PRECISIONS)}.")
    if precision == "half":  # float16 kernels on a CPU are slow or missing; bfloat16 ones exist
        precision = "float16" if device.type == "cuda" else "bfloat16"
    return None if precision == "float32" else getattr(torch, precision)


def _configure_cpu_threads() -> None:
    """Never run more intra-op threads than the cores we may use (torch counts the host's cores)."""
    global _threads_configured
    if not _threads_configured:
        _threads_configured = True
        cores = available_cpus()
        if torch.get_num_threads() > cores:
            torch.set_num_threads(cores)


# --- results ------------------------------------------------------------------------------------


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
        _check_sign(METHODS[self.method], sign)
        colormap = _colormap_for_sign(colormap, sign)
        heatmap, note = self.heatmap, self.note
        if sign != self.sign:
            heatmap, flat = overlay_lib.display_heatmap(self.raw_map, self.image.shape[:2], sign)
            note = _notes(METHODS[self.method], sign, flat, self.class_label, self.layer, self.method_note)
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
        wrapped = METHODS.get(self.options.get("base", ""), explainer)  # SmoothGrad: signed as what it wraps
        caption = overlay_lib.scale_caption(self.sign, wrapped.signed, explainer.title)
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


# --- forward cache (CAM: another class, same image, no second forward pass) ---------------------


class _ForwardCache:
    """Bounded LRU of gradient-free forward results, keyed by backbone, layer, device and input digest."""

    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._entries: OrderedDict[tuple, LayerForward] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> LayerForward | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, value: LayerForward) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


forward_cache = _ForwardCache()


# --- catalogue ----------------------------------------------------------------------------------


def backbones() -> list[BackboneInfo]:
    """Every backbone that can be chosen, and whether its weights are here, missing or damaged (``weights_status``:
    a cheap check of each file, not a load)."""
    infos = []
    for spec in map(get_spec, backbone_names()):
        status = weights_status(spec)
        infos.append(BackboneInfo(spec.name, spec.title, spec.input_size, status.state == "ready", spec.note,
                                  len(spec.categories), weights_state=status.state, repair=status.repair))
    return infos


def layers(backbone: str = DEFAULT_BACKBONE) -> list[LayerInfo]:
    """The target layers worth explaining for ``backbone`` with their output shapes, last stage first."""
    return list(list_layers(backbone))


@dataclass(frozen=True)
class MethodInfo:
    """What ``camdemo.methods()`` reports: a method and, when it does not apply, why."""

    name: str
    title: str
    available: bool
    reason: str | None
    uses_layer: bool
    fixed_layer: str | None
    summary: str
    paper: str
    signed: bool = False
    family: str = "CAM"
    option_defaults: Mapping[str, Any] = field(default_factory=dict)
    reduced_precision: bool = False  # honours precision="half" (the layer methods); others stay in float32


def methods(backbone: str = DEFAULT_BACKBONE) -> list[MethodInfo]:
    """Every method, with whether it applies to ``backbone`` and the reason when it does not."""
    spec = get_spec(backbone)
    infos = []
    for method in METHODS.values():
        reason = method.unavailable_reason(spec)
        infos.append(MethodInfo(method.name, method.title, reason is None, reason, method.uses_layer,
                                method.required_layer(spec), method.summary, method.paper, method.signed,
                                method.family, dict(method.option_defaults), method.half_precision_ok))
    return infos


def class_names(backbone: str = DEFAULT_BACKBONE) -> list[str]:
    """The class labels of ``backbone``, by class index."""
    return list(get_spec(backbone).categories)


# --- explain ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setup:
    """Everything about a request that does not depend on the image, checked before any image is decoded."""

    spec: BackboneSpec
    explainer: object
    layer_name: str | None
    colormap: str
    opacity: float
    device: torch.device
    options: dict[str, Any] = field(default_factory=dict)
    sign: str = overlay_lib.DEFAULT_SIGN
    progress: Callable[[float, str], None] | None = None
    use_cache: bool = True  # False for a model that is not the cached backbone (a randomised copy)
    autocast_dtype: torch.dtype | None = None  # the forward pass in float16/bfloat16 (layer methods only)


def _prepare(backbone: str, method: str, layer: str | None, colormap: str, opacity: float,
             device: torch.device | str | None, options: Mapping[str, Any] | None = None,
             sign: str = overlay_lib.DEFAULT_SIGN, progress: Callable[[float, str], None] | None = None) -> _Setup:
    spec = get_spec(backbone)
    explainer = get_method(method)
    reason = explainer.unavailable_reason(spec)
    if reason:
        raise CamdemoError(f"{explainer.title} is not available for {spec.title}: {reason}")
    layer_name = _choose_layer(spec, explainer, layer)
    sign = sign or overlay_lib.DEFAULT_SIGN
    _check_sign(explainer, sign)
    colormap = _colormap_for_sign(colormap or overlay_lib.DEFAULT_COLORMAP, sign)
    overlay_lib.check_style(colormap, opacity)  # before the network runs, not after
    checked = explainer.check_options(options)
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cpu":
        _configure_cpu_threads()
    return _Setup(spec, explainer, layer_name, colormap, float(opacity), device, checked, sign, progress)


def _check_sign(explainer, sign: str) -> None:
    if sign not in overlay_lib.SIGNS:
        raise CamdemoError(f"Unknown sign '{sign}'. Choose one of: {', '.join(overlay_lib.SIGNS)}.")
    if sign != "positive" and not explainer.signed:
        raise CamdemoError(f"{explainer.title}'s map has no sign (it only measures how strongly each region matters), "
                           "so only its positive part can be shown.")


def _colormap_for_sign(colormap: str, sign: str) -> str:
    """Both signs need the diverging colormap (white = zero); a single sign goes back to the default."""
    if sign == "both":
        return "diverging"
    return overlay_lib.DEFAULT_COLORMAP if colormap == "diverging" else colormap


def explain(
    image: ImageInput,
    backbone: str = DEFAULT_BACKBONE,
    method: str = DEFAULT_METHOD,
    layer: str | None = None,
    class_index: int | None = None,
    colormap: str = overlay_lib.DEFAULT_COLORMAP,
    opacity: float = overlay_lib.DEFAULT_OPACITY,
    device: torch.device | str | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    sign: str = overlay_lib.DEFAULT_SIGN,
    progress: Callable[[float, str], None] | None = None,
    precision: str | None = None,
) -> Explanation:
    """Explain ``backbone``'s prediction on ``image`` with ``method`` and return an ``Explanation``.

    ``image`` is a file path, bytes, a PIL image or an H×W×3 uint8 array. ``layer=None`` means the
    backbone's default layer (the last spatial one); ``class_index=None`` means the top-1 class.
    ``options`` are the method's settings (see ``methods()[i].option_defaults``, e.g. ``{"steps": 128}``
    for Integrated Gradients); ``sign`` shows the ``positive`` (for the class), ``negative`` (against
    it) or ``both`` parts of a signed map; ``progress(fraction, text)`` is called by slow methods.
    ``precision="half"`` runs the forward pass of the CAM-family methods under ``torch.autocast``, for GPUs
    with fast half-precision units: float16 on CUDA, bfloat16 on a CPU (``"float16"``/``"bfloat16"`` pick
    one). Their maps then stay within ``PRECISION_TOLERANCE`` of float32. Methods that take gradients down to the pixels or compare
    small score differences stay in float32; ``Explanation.precision`` says what ran. ``None``: the
    ``CAMDEMO_PRECISION`` environment variable, else float32.
    Raises ``CamdemoError`` for anything the caller can fix: a bad image, unknown names, a method
    that does not apply to the backbone or layer, missing weights.
    """
    (result,) = explain_many([image], backbone, method, layer, class_index, colormap, opacity, device, batch_size=1,
                             options=options, sign=sign, progress=progress, precision=precision)
    if isinstance(result, CamdemoError):
        raise result
    return result


def explain_many(
    images: Iterable[ImageInput],
    backbone: str = DEFAULT_BACKBONE,
    method: str = DEFAULT_METHOD,
    layer: str | None = None,
    class_index: int | None = None,
    colormap: str = overlay_lib.DEFAULT_COLORMAP,
    opacity: float = overlay_lib.DEFAULT_OPACITY,
    device: torch.device | str | None = None,
    batch_size: int = 8,
    *,
    options: Mapping[str, Any] | None = None,
    sign: str = overlay_lib.DEFAULT_SIGN,
    progress: Callable[[float, str], None] | None = None,
    precision: str | None = None,
) -> Iterator[Explanation | CamdemoError]:
    """Explain many images, ``batch_size`` at a time in one pass; yields one result per image, in order.

    A result is an ``Explanation``, or the ``CamdemoError`` saying why that image was refused (the
    others go on). Problems with the settings themselves (unknown backbone, method, layer) raise
    before any image is read. Every image gets the same ``class_index`` (None: each its own top-1).
    """
    setup = _prepare(backbone, method, layer, colormap, opacity, device, options, sign, progress)
    dtype = _autocast_dtype(precision or default_precision(), setup.device)
    setup = replace(setup, autocast_dtype=dtype if setup.explainer.half_precision_ok else None)
    model = load_model(setup.spec.name, setup.device)
    if setup.layer_name:
        resolve_layer(model, setup.spec.name, setup.layer_name)
    return _explain_chunks(setup, model, images, class_index, batch_size)


def explain_on_model(model: torch.nn.Module, image: ImageInput, backbone: str = DEFAULT_BACKBONE,
                     method: str = DEFAULT_METHOD, layer: str | None = None, class_index: int | None = None,
                     *, options: Mapping[str, Any] | None = None, sign: str = overlay_lib.DEFAULT_SIGN,
                     colormap: str = overlay_lib.DEFAULT_COLORMAP, opacity: float = overlay_lib.DEFAULT_OPACITY,
                     device: torch.device | str | None = None,
                     progress: Callable[[float, str], None] | None = None) -> Explanation:
    """``explain`` with a model of ``backbone``'s architecture that is not the cached one (for example a
    copy with randomised weights). The forward cache is not used, so no result of one model is reused
    for another. ``model`` must already be on ``device``."""
    setup = replace(_prepare(backbone, method, layer, colormap, opacity, device, options, sign, progress),
                    use_cache=False)
    if setup.layer_name:
        resolve_layer(model, setup.spec.name, setup.layer_name)
    (result,) = _explain_chunk(setup, model, [image], class_index)
    if isinstance(result, CamdemoError):
        raise result
    return result


def _explain_chunks(setup: _Setup, model: torch.nn.Module, images: Iterable[ImageInput], class_index: int | None,
                    batch_size: int) -> Iterator[Explanation | CamdemoError]:
    chunk: list[ImageInput] = []
    for image in images:
        chunk.append(image)
        if len(chunk) == batch_size:
            yield from _explain_chunk(setup, model, chunk, class_index)
            chunk = []
    if chunk:
        yield from _explain_chunk(setup, model, chunk, class_index)


def _explain_chunk(setup: _Setup, model: torch.nn.Module, chunk: list[ImageInput],
                   class_index: int | None) -> list[Explanation | CamdemoError]:
    started = time.perf_counter()
    decoded: list[np.ndarray | CamdemoError] = []
    for image in chunk:
        try:
            decoded.append(load_image(image))
        except CamdemoError as error:
            decoded.append(error)
    good = [rgb for rgb in decoded if isinstance(rgb, np.ndarray)]
    if not good:
        return decoded
    spec = setup.spec
    pixels = [spec.model_pixels(rgb) for rgb in good]
    target = Target(
        model=model,
        inputs=torch.cat([spec.normalise(image, setup.device) for image in pixels]),
        class_index=None if class_index is None else int(class_index),
        layer=resolve_layer(model, spec.name, setup.layer_name) if setup.layer_name else None,
        layer_name=setup.layer_name,
        head=spec.cam_head,
        options=setup.options,
        progress=setup.progress,
        constant_input=lambda level: spec.constant_input(level, setup.device),
        autocast_dtype=setup.autocast_dtype,
    )
    with eval_mode(model):
        raws = iter(_compute(setup.explainer, target, spec.name, setup.device, pixels if setup.use_cache else None))
    seconds = (time.perf_counter() - started) / len(good)
    return [_package(setup, rgb, next(raws), seconds) if isinstance(rgb, np.ndarray) else rgb for rgb in decoded]


def _package(setup: _Setup, rgb: np.ndarray, raw: RawMap, seconds: float) -> Explanation:
    """From a raw map to the ``Explanation`` over the original image."""
    started = time.perf_counter()
    spec, explainer = setup.spec, setup.explainer
    values = raw.values.float().cpu().numpy()
    heatmap, flat = overlay_lib.display_heatmap(values, rgb.shape[:2], setup.sign)
    probabilities = torch.softmax(raw.logits.float(), dim=0).cpu()
    top = torch.topk(probabilities, k=min(TOP_K, probabilities.numel()))
    predictions = [Prediction(int(i), spec.categories[int(i)], float(p)) for p, i in zip(top.values, top.indices)]
    note = _notes(explainer, setup.sign, flat, spec.categories[raw.class_index], setup.layer_name, raw.note)
    return Explanation(
        heatmap=heatmap,
        overlay=overlay_lib.blend(rgb, heatmap, setup.colormap, setup.opacity),
        image=rgb,
        predictions=predictions,
        class_index=raw.class_index,
        class_label=spec.categories[raw.class_index],
        class_probability=float(probabilities[raw.class_index]),
        layer=setup.layer_name,
        method=explainer.name,
        backbone=spec.name,
        raw_map=values,
        colormap=setup.colormap,
        opacity=setup.opacity,
        seconds=seconds + time.perf_counter() - started,
        device=str(setup.device),
        note=note,
        sign=setup.sign,
        options=setup.options,
        method_note=raw.note,
        precision=str(setup.autocast_dtype or torch.float32).removeprefix("torch."),
    )


def _notes(explainer, sign: str, flat: bool, label: str, layer: str | None, method_note: str) -> str:
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


def _choose_layer(spec: BackboneSpec, explainer, layer: str | None) -> str | None:
    if not explainer.uses_layer:
        return None
    required = explainer.required_layer(spec)
    if required is not None:
        if layer not in (None, required):
            raise CamdemoError(
                f"{explainer.title} is defined only at '{required}', the feature maps that feed global average "
                f"pooling in {spec.title}; '{layer}' was chosen. Pick '{required}', or use Grad-CAM for other layers."
            )
        return required
    return layer or default_layer(spec.name)


def _compute(explainer, target: Target, backbone: str, device: torch.device,
             pixels: list[np.ndarray] | None = None) -> list[RawMap]:
    """Run ``explainer`` on the batch. A gradient-free channel method (CAM) on one image reuses a cached
    forward pass of the same input, so choosing another class for that image does not run the network.
    The cache key digests the model's uint8 ``pixels`` on the host: nothing comes back from a GPU for it."""
    if pixels is None or len(pixels) != 1 or not isinstance(explainer, ChannelWeightedMethod) \
            or explainer.needs_gradients:
        return explainer.compute_batch(target)
    digest = hashlib.blake2b(pixels[0].tobytes(), digest_size=16).hexdigest()
    key = (backbone, target.layer_name, str(device), target.autocast_dtype, digest)
    forward = forward_cache.get(key)
    if forward is None:
        forward = explainer.forward(target)
        forward_cache.put(key, forward)
    return explainer.finish(target, forward)
