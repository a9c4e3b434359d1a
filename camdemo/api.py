"""Running a method safely on a shared, cached model: ``explain``, ``explain_many`` and ``explain_on_model``.

This is the heart of camdemo's public Python API (re-exported from ``camdemo``): the Gradio app, the
CLI, the tests and a notebook all call ``explain`` from here.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from .devices import autocast_dtype, configure_cpu_threads, default_device, default_precision
from .drawing import overlay as overlay_lib
from .errors import CamdemoError
from .explainers import ChannelWeightedMethod, LayerForward, Method, RawMap, Target, get_method
from .explainers.base import Objective
from .explainers.hooks import eval_mode
from .deprecation import keyword_settings
from .explanation import Explanation, Prediction, check_sign, colormap_for_sign, map_notes
from .images import ImageInput, load_image
from .models import DEFAULT_BACKBONE, BackboneSpec, get_spec, load_model
from .models.custom import signal_model
from .models.layers import default_layer, resolve_layer
from .models.registry import model_device
from .catalog import wrap_model
from .data import load_array
from .drawing.matrix import render_data

DEFAULT_METHOD = "gradcam"
TOP_K = 5
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}  # refused by data models


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


def clear_cache() -> None:
    """Forget every cached forward pass (CAM's features of recent images), e.g. to time a first request."""
    forward_cache.clear()


# --- explain ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExplainSettings:
    """Everything about a request that does not depend on the image, checked before any image is decoded.

    ``check_settings`` builds it; ``explain`` and the teaching code (``camdemo.teaching.steps``) run from it.
    """

    spec: BackboneSpec
    explainer: Method
    layer_name: str | None
    colormap: str
    opacity: float
    device: torch.device
    options: dict[str, Any] = field(default_factory=dict)
    sign: str = overlay_lib.DEFAULT_SIGN
    progress: Callable[[float, str], None] | None = None
    use_cache: bool = True  # False for a model that is not the cached backbone (a randomized copy, a user's model)
    autocast_dtype: torch.dtype | None = None  # the forward pass in float16/bfloat16 (layer methods only)
    objective: Objective = Objective()  # what is explained: s · (y_c − y_b)


def check_settings(*, backbone: str | BackboneSpec = DEFAULT_BACKBONE, method: str = DEFAULT_METHOD,
                   layer: str | None = None, options: Mapping[str, Any] | None = None,
                   sign: str = overlay_lib.DEFAULT_SIGN, colormap: str = overlay_lib.DEFAULT_COLORMAP,
                   opacity: float = overlay_lib.DEFAULT_OPACITY, device: torch.device | str | None = None,
                   progress: Callable[[float, str], None] | None = None, direction: str = "up",
                   versus: int | None = None) -> ExplainSettings:
    """Check and complete a request's settings: the layer a method uses (``None``: the default), the method's
    options with defaults filled in, the style, the device, what is explained (``direction``, ``versus``).
    Raises ``CamdemoError`` before any work is done. ``backbone`` may be a user's wrapped model (a spec)."""
    spec = get_spec(backbone)
    objective = _objective(spec, direction, versus)
    explainer = get_method(method)
    reason = explainer.unavailable_reason(spec)
    if reason:
        reason = reason.removeprefix(f"{explainer.title} does not apply: ")  # the pre-flight check's own wording
        raise CamdemoError(f"{explainer.title} is not available for {spec.title}: {reason}")
    layer_name = _choose_layer(spec, explainer, layer)
    sign = sign or overlay_lib.DEFAULT_SIGN
    checked = explainer.check_options(options)
    check_sign(explainer, sign, checked)
    colormap = colormap_for_sign(colormap or overlay_lib.DEFAULT_COLORMAP, sign)
    overlay_lib.check_style(colormap, opacity)  # before the network runs, not when the overlay is drawn
    device = torch.device(device) if device is not None else (model_device(spec) or default_device())
    if device.type == "cpu":
        configure_cpu_threads()
    return ExplainSettings(spec, explainer, layer_name, colormap, float(opacity), device, checked, sign, progress,
                           use_cache=spec.module is None, objective=objective)


DIRECTIONS = {"up": 1, "down": -1}  # what raises the explained output, what lowers it


def _objective(spec: BackboneSpec, direction: str, versus: int | None) -> Objective:
    direction = direction.lower() if isinstance(direction, str) else direction
    if direction not in DIRECTIONS:
        raise CamdemoError(f"Unknown direction '{direction}'. Choose 'up' (what raises the output) or 'down' "
                           "(what lowers it, the evidence against).")
    if versus is not None and spec.output_kind in ("binary", "regression"):
        raise CamdemoError(f"A contrast ('why A rather than B') compares two classes; {spec.title}'s outputs are "
                           f"{spec.output_kind}. Use direction='down' for what lowers an output.")
    if versus is not None and (isinstance(versus, bool) or not isinstance(versus, (int, np.integer))):
        raise CamdemoError(f"versus is the index of the class to contrast with (a whole number, see "
                           f"camdemo.class_names), not {versus!r}.")
    objective = Objective(DIRECTIONS[direction], None if versus is None else int(versus))
    objective.check(len(spec.categories))
    return objective


def _model_spec(model: nn.Module | BackboneSpec | None, backbone: str | BackboneSpec) -> str | BackboneSpec:
    """What to explain: a user's ``model`` (wrapped with the defaults of ``wrap_model`` if it is a bare module)
    or the ``backbone``."""
    if model is None:
        return backbone
    if isinstance(model, BackboneSpec):
        return model
    return wrap_model(model)


@keyword_settings("backbone", "method", "layer", "class_index", "colormap", "opacity", "device")
def explain(
    image: ImageInput,
    *,
    backbone: str | BackboneSpec = DEFAULT_BACKBONE,
    method: str = DEFAULT_METHOD,
    layer: str | None = None,
    class_index: int | None = None,
    options: Mapping[str, Any] | None = None,
    sign: str = overlay_lib.DEFAULT_SIGN,
    colormap: str = overlay_lib.DEFAULT_COLORMAP,
    opacity: float = overlay_lib.DEFAULT_OPACITY,
    device: torch.device | str | None = None,
    precision: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    model: nn.Module | BackboneSpec | None = None,
    direction: str = "up",
    versus: int | None = None,
) -> Explanation:
    """Explain ``backbone``'s prediction on ``image`` with ``method`` and return an ``Explanation``.

    ``image`` is a file path, bytes, a PIL image or an H×W×3 uint8 array; every setting after it is passed
    by keyword. ``layer=None`` means the backbone's default layer (the last spatial one); ``class_index=None``
    means the top-1 class. ``options`` are the method's settings (see ``methods()[i].option_defaults``, e.g.
    ``{"steps": 128}`` for Integrated Gradients); ``sign`` shows the ``positive`` (for the class),
    ``negative`` (against it) or ``both`` parts of a signed map. ``colormap`` and ``opacity`` are the style
    the result's ``overlay`` is drawn in when it is first read (``Explanation.restyled`` changes it).
    ``precision="half"`` runs the forward pass of the CAM-family methods under ``torch.autocast``, for GPUs
    with fast half-precision units: float16 on CUDA, bfloat16 on a CPU (``"float16"``/``"bfloat16"`` pick
    one). Their maps then stay within ``PRECISION_TOLERANCE`` of float32. Methods that take gradients down
    to the pixels or compare small score differences stay in float32; ``Explanation.precision`` says what
    ran. ``None``: the ``CAMDEMO_PRECISION`` environment variable, else float32. ``progress(fraction, text)``
    is called by slow methods.
    ``model`` explains a model of your own instead of ``backbone``: a ``torch.nn.Module`` (then an RGB
    224×224 input with ImageNet normalization is assumed) or, better, ``camdemo.wrap_model(module, ...)``,
    which states its input, labels and kind of output. ``direction="down"`` explains what lowers the output
    (the evidence against the class; for a regression, what pushes it down); ``versus=b`` explains "why
    class_index rather than b", the score y_c − y_b.
    Raises ``CamdemoError`` for anything the caller can fix: a bad image, unknown names, a method
    that does not apply to the backbone or layer, missing weights.
    """
    (result,) = explain_many([image], backbone=backbone, method=method, layer=layer, class_index=class_index,
                             options=options, sign=sign, colormap=colormap, opacity=opacity, device=device,
                             precision=precision, progress=progress, batch_size=1, model=model,
                             direction=direction, versus=versus)
    if isinstance(result, CamdemoError):
        raise result
    return result


@keyword_settings("backbone", "method", "layer", "class_index", "colormap", "opacity", "device", "batch_size")
def explain_many(
    images: Iterable[ImageInput],
    *,
    backbone: str | BackboneSpec = DEFAULT_BACKBONE,
    method: str = DEFAULT_METHOD,
    layer: str | None = None,
    class_index: int | None = None,
    options: Mapping[str, Any] | None = None,
    sign: str = overlay_lib.DEFAULT_SIGN,
    colormap: str = overlay_lib.DEFAULT_COLORMAP,
    opacity: float = overlay_lib.DEFAULT_OPACITY,
    device: torch.device | str | None = None,
    precision: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    batch_size: int = 8,
    model: nn.Module | BackboneSpec | None = None,
    direction: str = "up",
    versus: int | None = None,
) -> Iterator[Explanation | CamdemoError]:
    """Explain many images, ``batch_size`` at a time in one pass; yields one result per image, in order.

    The settings are ``explain``'s (``model``: a model of your own). A result is an ``Explanation``, or the
    ``CamdemoError`` saying why that image was refused (the others go on). Problems with the settings themselves
    (unknown backbone, method, layer) raise before any image is read. Every image gets the same ``class_index``
    (None: each its own top-1).
    """
    settings = check_settings(backbone=_model_spec(model, backbone), method=method, layer=layer, options=options,
                              sign=sign, colormap=colormap, opacity=opacity, device=device, progress=progress,
                              direction=direction, versus=versus)
    if versus is not None and class_index is not None and int(class_index) == int(versus):
        raise CamdemoError(f"The contrast class must differ from the class explained ({class_index}): 'why c rather "
                           "than c' is zero everywhere.")
    dtype = autocast_dtype(precision or default_precision(), settings.device)
    settings = replace(settings, autocast_dtype=dtype if settings.explainer.half_precision_ok else None)
    network = load_model(settings.spec, settings.device)
    if settings.layer_name:
        resolve_layer(network, settings.spec, settings.layer_name)
    return _explain_chunks(settings, network, images, class_index, batch_size)


@keyword_settings("backbone", "method", "layer", "class_index")
def explain_on_model(model: torch.nn.Module, image: ImageInput, *, backbone: str | BackboneSpec = DEFAULT_BACKBONE,
                     method: str = DEFAULT_METHOD, layer: str | None = None, class_index: int | None = None,
                     options: Mapping[str, Any] | None = None, sign: str = overlay_lib.DEFAULT_SIGN,
                     colormap: str = overlay_lib.DEFAULT_COLORMAP, opacity: float = overlay_lib.DEFAULT_OPACITY,
                     device: torch.device | str | None = None,
                     progress: Callable[[float, str], None] | None = None) -> Explanation:
    """``explain`` with a model of ``backbone``'s architecture that is not the cached one (for example a
    copy with randomized weights, as the sanity check makes). The forward cache is not used, so no result
    of one model is reused for another. ``model`` must already be on ``device``."""
    settings = check_settings(backbone=backbone, method=method, layer=layer, options=options, sign=sign,
                              colormap=colormap, opacity=opacity, device=device, progress=progress)
    settings = replace(settings, use_cache=False)
    if settings.layer_name:
        resolve_layer(model, settings.spec, settings.layer_name)
    (result,) = _explain_chunk(settings, model, [image], class_index)
    if isinstance(result, CamdemoError):
        raise result
    return result


def _explain_chunks(settings: ExplainSettings, model: torch.nn.Module, images: Iterable[ImageInput],
                    class_index: int | None, batch_size: int) -> Iterator[Explanation | CamdemoError]:
    chunk: list[ImageInput] = []
    for image in images:
        chunk.append(image)
        if len(chunk) == batch_size:
            yield from _explain_chunk(settings, model, chunk, class_index)
            chunk = []
    if chunk:
        yield from _explain_chunk(settings, model, chunk, class_index)


def _explain_chunk(settings: ExplainSettings, model: torch.nn.Module, chunk: list[ImageInput],
                   class_index: int | None) -> list[Explanation | CamdemoError]:
    spec = settings.spec
    if spec.data_shape is not None:  # matrices and signals: one at a time, since their sizes may differ
        return [_explain_data(settings, model, item, class_index) for item in chunk]
    started = time.perf_counter()
    decoded: list[np.ndarray | CamdemoError] = []
    for image in chunk:
        try:
            decoded.append(load_image(image))
        except CamdemoError as error:
            decoded.append(error)
    good = [rgb for rgb in decoded if isinstance(rgb, np.ndarray)]
    if not good:
        return [error for error in decoded if isinstance(error, CamdemoError)]  # every image was refused
    pixels = [spec.model_pixels(rgb) for rgb in good]
    target = _target(settings, model, torch.cat([spec.normalize(image, settings.device) for image in pixels]),
                     class_index)
    with eval_mode(model):
        raws = iter(_compute(settings.explainer, target, spec.name, settings.device,
                             pixels if settings.use_cache else None))
    seconds = (time.perf_counter() - started) / len(good)
    return [_package(settings, rgb, next(raws), seconds) if isinstance(rgb, np.ndarray) else rgb for rgb in decoded]


def _target(settings: ExplainSettings, model: torch.nn.Module, inputs: torch.Tensor, class_index: int | None,
            signal: bool = False) -> Target:
    """What the method gets: the model (a 1-D ``signal`` model seeing N×C×1×L), the inputs, the class, the layer
    resolved in ``model``, and the settings; baselines are constant inputs shaped like ``inputs``."""
    spec = settings.spec
    return Target(
        model=signal_model(model) if signal else model,
        inputs=inputs,
        class_index=None if class_index is None else int(class_index),
        layer=resolve_layer(model, spec, settings.layer_name) if settings.layer_name else None,
        layer_name=settings.layer_name,
        head=spec.cam_head,
        options=settings.options,
        progress=settings.progress,
        constant_input=lambda level: spec.constant_input(level, settings.device, like=inputs),
        autocast_dtype=settings.autocast_dtype if spec.data_shape is None else None,
        objective=settings.objective,
        signal=signal,
    )


def _explain_data(settings: ExplainSettings, model: torch.nn.Module, item: Any,
                  class_index: int | None) -> Explanation | CamdemoError:
    """One matrix, stack or signal, as it is: no resizing, no normalization; the map at the data's resolution."""
    started = time.perf_counter()
    spec = settings.spec
    if isinstance(item, (str, os.PathLike)) and Path(item).suffix.lower() in PHOTO_SUFFIXES:
        return CamdemoError(f"{spec.title} reads data (a matrix or a signal from a .npy or .csv file), not photos; "
                            f"'{Path(item).name}' looks like a photo. Choose a backbone for photos to explain it.")
    try:
        values = load_array(item)
        inputs = spec.data_tensor(values, settings.device)
    except CamdemoError as error:
        return error
    target = _target(settings, model, inputs, class_index, signal=values.ndim == 1)
    try:
        with eval_mode(model):
            (raw,) = settings.explainer.compute_batch(target)
    except RuntimeError as error:  # the user's model refused this input's size
        return CamdemoError(f"{spec.title} could not run on an input of shape {tuple(values.shape)}: {error}")
    explanation = _package(settings, render_data(values), raw, time.perf_counter() - started)
    return replace(explanation, data=values)


def _package(settings: ExplainSettings, rgb: np.ndarray, raw: RawMap, seconds: float) -> Explanation:
    """From a raw map to the ``Explanation`` over the original image: predictions and notes, nothing drawn
    (its ``heatmap`` and ``overlay`` are drawn when they are first read)."""
    started = time.perf_counter()
    spec, explainer = settings.spec, settings.explainer
    values = raw.values.float().cpu().numpy()
    predictions, probabilities = predict(spec, raw.logits)
    flat = overlay_lib.is_flat(values, settings.sign)
    label = spec.categories[raw.class_index]
    note = " ".join(filter(None, [objective_note(spec, settings.objective, raw.class_index), map_notes(
        explainer, settings.sign, flat, label, settings.layer_name, raw.note)]))
    return Explanation(
        image=rgb,
        predictions=predictions,
        class_index=raw.class_index,
        class_label=label,
        class_probability=float(probabilities[raw.class_index]),
        layer=settings.layer_name,
        method=explainer.name,
        backbone=spec.name,
        raw_map=values,
        colormap=settings.colormap,
        opacity=settings.opacity,
        seconds=seconds + time.perf_counter() - started,
        device=str(settings.device),
        note=note,
        sign=settings.sign,
        options=settings.options,
        method_note=raw.note,
        precision=str(settings.autocast_dtype or torch.float32).removeprefix("torch."),
        direction="up" if settings.objective.direction == 1 else "down",
        versus=settings.objective.versus,
        output_kind=spec.output_kind,
        model_title=spec.title,
        model_spec=spec,
    )


def predict(spec: BackboneSpec, logits: torch.Tensor) -> tuple[list[Prediction], torch.Tensor]:
    """The top predictions as the model's kind of output reads them, and every output's probability (NaN for a
    regression): softmax over exclusive classes, a sigmoid per label or for a binary logit, raw values."""
    outputs = logits.float().cpu()
    if spec.output_kind == "regression":
        shown = range(min(TOP_K, outputs.numel()))
        return ([Prediction(i, spec.categories[i], float("nan"), float(outputs[i])) for i in shown],
                torch.full_like(outputs, float("nan")))
    probabilities = torch.sigmoid(outputs) if spec.output_kind in ("multilabel", "binary") \
        else torch.softmax(outputs, dim=0)
    if spec.output_kind == "binary":
        p = float(probabilities[0])
        return ([Prediction(0, spec.categories[0], p, float(outputs[0])),
                 Prediction(0, f"not {spec.categories[0]}", 1 - p, -float(outputs[0]))], probabilities)
    top = torch.topk(probabilities, k=min(TOP_K, probabilities.numel()))
    return ([Prediction(int(i), spec.categories[int(i)], float(p), float(outputs[int(i)]))
             for p, i in zip(top.values, top.indices)], probabilities)


def objective_note(spec: BackboneSpec, objective: Objective, class_index: int) -> str:
    """What the map explains when it is not the plain output: a contrast, or what lowers the output."""
    label = spec.categories[class_index]
    if objective.versus is not None:
        other = spec.categories[objective.versus]
        if objective.versus == class_index:
            return f"'{label}' rather than itself: the score y − y is zero everywhere, so the map is empty."
        verb = "rather than" if objective.direction == 1 else "against, in favor of"
        return f"This map explains '{label}' {verb} '{other}': the score is the difference of their outputs."
    if objective.direction == -1:
        return {"regression": f"This map shows what pushes the output '{label}' down.",
                "binary": f"This map shows what argues against '{label}' (for 'not {label}')."}.get(
            spec.output_kind, f"This map shows what lowers the score of '{label}'.")
    return ""


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
    return layer or default_layer(spec)


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
