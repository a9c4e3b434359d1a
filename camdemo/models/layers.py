"""Target layers: which layers of a backbone are worth explaining, their output shapes, name lookup.

A layer is named by its dotted path in ``model.named_modules()`` ("layer4", "blocks.14"). Its
output must be one N×C×H×W tensor (a spatial map) for the CAM-family methods to apply, or a token
sequence N×T×C whose tokens are a square grid of patches after a few class or register tokens (a
Vision Transformer's blocks), which the methods read as the map N×C×h×w (``token_grid``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from . import BackboneSpec, architecture, get_spec
from ..errors import CamdemoError


MAX_EXTRA_TOKENS = 8  # class and register tokens before the patch grid (ViT: 1; with registers: 1 + 4)


def token_grid(tokens: int) -> tuple[int, int] | None:
    """(side, extras) when ``tokens`` = extras + side² with side ≥ 2 and extras ≤ ``MAX_EXTRA_TOKENS``, else None.

    The extra tokens are taken to be the leading ones (class, distillation, register tokens); the
    grid is the largest square that fits, so 197 tokens read as 1 + 14×14 and 16 as 0 + 4×4.
    """
    side = math.isqrt(tokens)
    extras = tokens - side * side
    return (side, extras) if side >= 2 and extras <= MAX_EXTRA_TOKENS else None


@dataclass(frozen=True)
class LayerInfo:
    """One target layer: its dotted name and the shape (C, H, W) of its output at the model's input size.

    ``kind`` is "map" for an N×C×H×W output and "tokens" for an N×T×C token sequence read as a map
    (T = ``extra_tokens`` + H·W, the extra leading tokens dropped). ``aliases`` are other module names
    whose output is the very same tensor (``layer4.1`` for ``layer4``); any of them selects this layer.
    """

    name: str
    channels: int
    height: int
    width: int
    kind: Literal["map", "tokens"] = "map"
    extra_tokens: int = 0
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Display text such as ``layer4 · 2048×7×7`` or ``encoder.layers · 768×14×14 (1 + 14×14 tokens)``."""
        shape = f"{self.name} · {self.channels}×{self.height}×{self.width}"
        if self.kind == "tokens":
            return f"{shape} ({self.extra_tokens} + {self.height}×{self.width} tokens)"
        return shape


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
    return tuple(LayerInfo(name, shapes[name][1], shapes[name][2], shapes[name][3]) for name in names)


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
