"""Target layers: which layers of a backbone are worth explaining, their output shapes, name lookup.

A layer is named by its dotted path in ``model.named_modules()`` ("layer4", "blocks.14"). Its
output must be one N×C×H×W tensor (a spatial map) for the CAM-family methods to apply.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from . import BackboneSpec, architecture, get_spec
from ..errors import CamdemoError


@dataclass(frozen=True)
class LayerInfo:
    """One target layer: its dotted name and the shape (C, H, W) of its output at the model's input size."""

    name: str
    channels: int
    height: int
    width: int

    @property
    def label(self) -> str:
        """Display text such as ``layer4 · 2048×7×7``."""
        return f"{self.name} · {self.channels}×{self.height}×{self.width}"


def list_layers(backbone: str | BackboneSpec) -> tuple[LayerInfo, ...]:
    """The layers worth explaining for ``backbone``, last stage (most semantic) first.

    Shapes come from one forward pass of the untrained architecture on a blank input, so this
    works even where the backbone's weights are not available. Cached per registered spec.
    """
    spec = get_spec(backbone)
    if spec.known_layers is not None:  # a user's model: found when it was wrapped (``camdemo.wrap_model``)
        return spec.known_layers
    return _list_layers(spec)


@functools.cache
def _list_layers(spec: BackboneSpec) -> tuple[LayerInfo, ...]:
    model = architecture(spec.name)
    names = spec.layer_names(model)
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    try:
        for name in names:
            module = model.get_submodule(name)
            handles.append(module.register_forward_hook(
                lambda _m, _args, output, name=name: shapes.__setitem__(name, tuple(output.shape))
            ))
        with torch.no_grad():
            model(torch.zeros(1, spec.channels, spec.input_size, spec.input_size))
    finally:
        for handle in handles:
            handle.remove()
    return tuple(LayerInfo(name, *shapes[name][1:]) for name in names)


def default_layer(backbone: str | BackboneSpec) -> str:
    """The last layer with a spatial map: the first entry of ``list_layers``."""
    found = list_layers(backbone)
    if not found:
        raise CamdemoError(f"{get_spec(backbone).title} has no layer whose output is a spatial map, so the layer "
                           "methods (CAM, Grad-CAM, ...) do not apply; the input-gradient methods still do.")
    return found[0].name


def resolve_layer(model: nn.Module, backbone: str | BackboneSpec, name: str) -> nn.Module:
    """The module called ``name`` in ``model``; ``CamdemoError`` listing the choices if there is none.

    Any module name from ``model.named_modules()`` is accepted, not only the listed ones.
    """
    try:
        module = model.get_submodule(name) if name else None
    except AttributeError:
        module = None
    if module is None or module is model:
        choices = ", ".join(info.name for info in list_layers(backbone))
        raise CamdemoError(
            f"'{name}' is not a layer of {get_spec(backbone).title}. Choose one of: {choices} "
            f"(any other name from model.named_modules() also works)."
        )
    return module
