"""What the *Matrices & signals* tab offers and says, as plain values (no Gradio): its models, methods and layers,
what the model sees, the predictions and the top rows and columns.

A model of matrices or signals is any registered backbone whose catalog entry has a ``data_shape``
(``camdemo.backbones()``); the rules (which methods apply, the layers) come from the public catalog.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

import camdemo
from camdemo.app.views import AUTO_CLASS, class_choices, method_info

# The methods that make sense for data: the CAM family at a layer, input gradients and occlusion. Guided
# Backprop (and Guided Grad-CAM) are left out: they reconstruct image edges more than they measure evidence.
DATA_METHODS = ("gradcam", "cam", "gradcampp", "xgradcam", "layercam", "hirescam", "scorecam", "eigencam",
                "saliency", "smoothgrad", "input_x_gradient", "integrated_gradients", "occlusion")
# Integrated Gradients' baselines in the data's own units (BackboneSpec.constant_input: level / 255).
BASELINE_CHOICES = [("0 (black)", "black"), ("128/255 ≈ 0.5 (gray)", "gray"), ("1 (white)", "white")]
NO_DATA_MODEL = ("No model of matrices or signals is registered on this server, so there is nothing to explain "
                 "here yet. Whoever runs the server can add one: a module named in `CAMDEMO_EXTRA_MODELS` whose "
                 "`register()` calls `camdemo.register_backbone(camdemo.wrap_model(net, data_shape=(H, W), "
                 "name=...))` (docs/using-the-app.md, *Matrices & signals*).")
DATA_HELP = ("Explain a classifier of **2-D matrices** (any float values, e.g. a spectrogram) or **1-D signals**: "
             "upload a `.npy` or `.csv` file, choose a model, a method and a class. The data goes to the model "
             "**as it is**: no resizing and no normalization. The map comes back at the data's own resolution, "
             "with the **row and column profiles** (the map summed per row and per column): which rows and columns "
             "the decision rests on.")
TOP = 5


def data_backbones() -> list[camdemo.BackboneInfo]:
    """The registered backbones that read matrices, stacks or signals (``data_shape`` set)."""
    return [info for info in camdemo.backbones() if info.data_shape is not None]


def is_data_backbone(backbone: object) -> bool:
    return isinstance(backbone, str) and backbone in {info.name for info in data_backbones()}


def shape_text(shape: Sequence[int]) -> str:
    """"a 16 × 24 matrix", "a 128-sample signal", "a 3 × 32 × 32 stack"."""
    if len(shape) == 1:
        return f"a {shape[0]}-sample signal"
    return f"a {' × '.join(map(str, shape))} {'matrix' if len(shape) == 2 else 'stack (channels × rows × columns)'}"


def data_backbone_choices() -> list[tuple[str, str]]:
    """(label, name) of each model of data, the label saying what it reads."""
    return [(f"{info.title} ({shape_text(info.data_shape or ())})", info.name) for info in data_backbones()]


def data_method_choices(backbone: str | None) -> list[tuple[str, str]]:
    """(title, name) of the methods for data that apply to ``backbone``; the layer methods only if it has a layer
    with a spatial map (a Conv1d model may have none)."""
    if not backbone:
        return []
    has_layers = bool(camdemo.layers(backbone))
    infos = {info.name: info for info in camdemo.methods(backbone)}
    return [(infos[name].title, name) for name in DATA_METHODS if name in infos and infos[name].available
            and (has_layers or not infos[name].uses_layer)]


def data_method(backbone: str | None, method: str | None) -> str | None:
    """``method`` if it is offered for ``backbone``, else the first one offered (None when there is none)."""
    names = [name for _, name in data_method_choices(backbone)]
    return method if method in names else (names[0] if names else None)


def data_layer_choices(backbone: str | None) -> list[tuple[str, str]]:
    return [(info.label, info.name) for info in camdemo.layers(backbone)] if backbone else []


def data_class_choices(backbone: str | None) -> list[tuple[str, str]]:
    """The model's classes (or outputs) after "Top-1 (automatic)"; only that entry without a model."""
    return class_choices(backbone) if backbone else [("Top-1 prediction (automatic)", AUTO_CLASS)]


def data_layer(backbone: str | None, method: str | None, layer: str | None) -> str | None:
    """The layer ``method`` runs at: CAM's fixed one, else ``layer`` if it is listed, else the default (the
    first listed); None for a method without a layer."""
    if not backbone or not method:
        return None
    info = method_info(backbone, method)
    if not info.uses_layer:
        return None
    names = [name for _, name in data_layer_choices(backbone)]
    return info.fixed_layer or (layer if layer in names else (names[0] if names else None))


def data_status(backbone: str | None) -> str:
    """Markdown: what the model reads and that it reads it as it is."""
    infos = {info.name: info for info in data_backbones()}
    if backbone not in infos:
        return NO_DATA_MODEL if not infos else "Choose a model of matrices or signals."
    info = infos[backbone]
    shape = info.data_shape or ()
    takes = {1: f"1 × 1 × {shape[0]}" if shape else "", 2: f"1 × 1 × {' × '.join(map(str, shape))}",
             3: f"1 × {' × '.join(map(str, shape))}"}[len(shape)]
    return (f"**{info.title}** reads {shape_text(shape)} (a batch of one is {takes}), {info.num_classes} "
            f"output{'s' if info.num_classes != 1 else ''}. Your data goes in as it is: **no resizing, no "
            "normalization**; other sizes of the same kind are passed as they are, if the network accepts them.")


def what_the_model_saw(explanation: camdemo.Explanation, file_name: str) -> str:
    """Markdown: the data's shape and range as the model saw it, and how long it took."""
    data = explanation.data
    assert data is not None
    shape = tuple(data.shape)
    batch = (1, 1, *shape) if data.ndim < 3 else (1, *shape)
    return (f"**What the model saw:** `{file_name}` as {shape_text(shape)}, values from {float(data.min()):.4g} "
            f"to {float(data.max()):.4g}, as a {' × '.join(map(str, batch))} tensor: no resizing, no normalization. "
            f"{explanation.summary}")


def prediction_table(explanation: camdemo.Explanation) -> str:
    """Markdown: the top predictions as the model's kind of output reads them (a regression: its values)."""
    regression = all(math.isnan(p.probability) for p in explanation.predictions)
    if regression:
        rows = ["| output | value |", "| --- | ---: |"]
        rows += [f"| {p.label} ({p.index}) | {p.output:.4g} |" for p in explanation.predictions]
    else:
        rows = ["| class | probability | output (logit) |", "| --- | ---: | ---: |"]
        rows += [f"| {p.label} ({p.index}) | {p.probability:.3f} | {p.output:.3g} |" for p in explanation.predictions]
    return "\n".join(rows)


def profile_rows(explanation: camdemo.Explanation, top: int = TOP) -> list[list[object]]:
    """The top rows and columns of the map with their sums, largest first: [what, index, sum] (a signal: the
    top samples)."""
    found = explanation.profiles(top)
    signal = explanation.data is not None and explanation.data.ndim == 1
    rows: list[list[object]] = [["sample" if signal else "column", i, round(float(found.columns[i]), 6)]
                                for i in found.top_columns]
    if not signal:
        rows = [["row", i, round(float(found.rows[i]), 6)] for i in found.top_rows] + rows
    return rows


def largest_magnitude(explanation: camdemo.Explanation) -> float:
    """The map's largest |value| at the data's resolution: the end of its own color scale."""
    return float(np.abs(explanation.map_values()).max())
