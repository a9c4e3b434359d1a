"""What can be chosen: the backbones, their layers and classes, and the methods that apply to each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from .errors import CamdemoError
from .explainers import METHODS, Option, get_method
from .explainers.base import GROUPS
from .models import DEFAULT_BACKBONE, BackboneInfo, BackboneSpec, backbone_names, get_spec, weights_status
from .models import architecture, custom, preflight
from .models.layers import LayerInfo, list_layers
from .models.preflight import ModelReport
from .models.registry import model_device

def backbones() -> list[BackboneInfo]:
    """Every backbone that can be chosen, and whether its weights are here, missing or damaged (``weights_status``:
    a cheap check of each file, not a load)."""
    infos = []
    for spec in map(get_spec, backbone_names()):
        status = weights_status(spec)
        infos.append(BackboneInfo(spec.name, spec.title, spec.input_size, status.state == "ready", spec.note,
                                  len(spec.categories), weights_state=status.state, repair=status.repair,
                                  data_shape=spec.data_shape))
    return infos


def layers(backbone: str | BackboneSpec = DEFAULT_BACKBONE) -> list[LayerInfo]:
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
    signed: bool = False  # with the default options (SmoothGrad: as the method it wraps)
    family: str = "CAM"
    option_defaults: Mapping[str, Any] = field(default_factory=dict)
    reduced_precision: bool = False  # honors precision="half" (the layer methods); others stay in float32
    options: tuple[Option, ...] = ()  # the method's settings, declared once: bounds, choices, label, help
    cost: str = ""  # the work per image in words, e.g. "1 forward + 1 backward per step"
    sign_options: tuple[str, ...] = ()  # settings that decide whether the map is signed (SmoothGrad's base)
    group: str = "class activation maps"  # what the map shows, one of METHOD_GROUPS (after iNNvestigate's grouping)


# Each group of the method list and one sentence on what its maps show (declared once, in explainers.base).
METHOD_GROUPS: dict[str, str] = dict(GROUPS)


def methods(backbone: str | BackboneSpec = DEFAULT_BACKBONE) -> list[MethodInfo]:
    """Every method, with whether it applies to ``backbone`` and the reason when it does not (for a user's model,
    also its pre-flight check's reasons: ReLUs called as functions, no gradient to the pixels, ...)."""
    spec = get_spec(backbone)
    preflight = spec.report.methods if spec.report is not None else {}
    infos = []
    for method in METHODS.values():
        reason = preflight.get(method.name) or method.unavailable_reason(spec)  # the check names the module
        infos.append(MethodInfo(method.name, method.title, reason is None, reason, method.uses_layer,
                                method.required_layer(spec), method.summary, method.paper,
                                method.is_signed(method.option_defaults), method.family, dict(method.option_defaults),
                                method.half_precision_ok, method.declared_options, method.cost,
                                method.sign_options, method.group))
    return infos


def applicable_methods(backbone: str | BackboneSpec, names: Iterable[str]) -> list[MethodInfo]:
    """The catalog entries of the ``names`` that apply to ``backbone``, in order; the others are skipped.
    ``CamdemoError`` for a name that is no method at all (a typo is not skipped silently) or when none applies."""
    names = list(names)
    for name in names:
        get_method(name)  # unknown: "Unknown method 'gradcamm'. Choose one of: ..."
    available = {info.name: info for info in methods(backbone) if info.available}
    chosen = [available[name] for name in names if name in available]
    if not chosen:
        raise CamdemoError(f"None of the chosen methods applies to {get_spec(backbone).title}.")
    return chosen


def is_signed(method: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether ``method``'s map keeps its sign with these settings (negative values argue against the class).

    Most methods are signed or not whatever their settings; SmoothGrad is signed when the method it wraps is
    (``MethodInfo.sign_options`` names such settings). ``CamdemoError`` for an unknown method or a bad setting.
    """
    explainer = get_method(method)
    return explainer.is_signed(explainer.check_options(options))


def class_names(backbone: str | BackboneSpec = DEFAULT_BACKBONE) -> list[str]:
    """The class labels of ``backbone``, by class index."""
    return list(get_spec(backbone).categories)


def wrap_model(module: nn.Module, **description: Any) -> BackboneSpec:
    """Describe a model of your own to camdemo; see ``camdemo.models.custom.wrap_model`` for the settings
    (``input_size``, ``channels``, ``mean``, ``std``, ``labels``, ``output``, ``data_shape``, ``name``). Its
    pre-flight report (``spec.report``) judges every method, so ``methods(spec)`` says why any does not apply."""
    return custom.wrap_model(module, methods=METHODS, **description)


def check_model(model: nn.Module | BackboneSpec | str, *, layer: str | None = None) -> ModelReport:
    """The pre-flight check of a model: its layers with shapes, the default layer, the CAM head or why there is
    none, for every method why it does not apply, and findings that name the module concerned (ReLUs called as
    functions, a layer that does not reach the output, modules in training mode, an output that is not
    N×classes...). ``model``: a module (wrapped with the defaults), a wrapped spec or a backbone name; ``layer``
    checks that layer instead of the default. The model is left as it was."""
    spec = model if isinstance(model, BackboneSpec) else get_spec(model) if isinstance(model, str) \
        else wrap_model(model)
    if layer is None and spec.report is not None:
        return spec.report
    module = spec.module if spec.module is not None else architecture(spec)
    if spec.data_shape is not None:
        shape = spec.data_shape
        example = custom.example_data((1,) + ((1,) if len(shape) < 3 else ()) + shape,
                                      model_device(spec) or torch.device("cpu"))
    else:
        example = custom.example_image(spec.channels, spec.input_size, spec.mean, spec.std,
                                       model_device(spec) or torch.device("cpu"))
    return preflight.check_model(module, example, layer=layer, methods=METHODS)
