"""Several maps of one image side by side: methods on one layer, or one method across layers.

Each cell is a full ``Explanation`` (with its time) plus, optionally, its faithfulness report
and the box around its main region. All cells explain the *same* class: the first cell's (the
top-1 unless a class is given), so the maps differ only by method or layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .. import catalog
from ..api import DEFAULT_METHOD, explain
from ..deprecation import keyword_settings, retired_style
from ..errors import CamdemoError
from ..explanation import Explanation
from ..images import ImageInput, load_image
from ..models import DEFAULT_BACKBONE, BackboneSpec
from ..models.layers import list_layers
from .boxes import Box
from .faithfulness import DEFAULT_INCREMENTS, Faithfulness, faithfulness

# The default grid (API and app): one of each idea, all a single pass. Score-CAM, Integrated Gradients,
# SmoothGrad and occlusion take seconds each on a CPU, so they are added on request.
DEFAULT_COMPARE_METHODS = ("cam", "gradcam", "gradcampp", "layercam", "eigencam", "saliency", "guided_backprop")
# Old keywords → new: a list of names is named by what it holds; faithfulness ``steps`` are its curves' increments.
_COMPARE_RENAMED = {"method_names": "methods", "steps": "increments"}
_SWEEP_RENAMED = {"layer_names": "layers", "steps": "increments"}


@dataclass(frozen=True)
class Cell:
    """One map of a comparison: what it is, the explanation, and how faithful it is."""

    title: str
    explanation: Explanation
    box: Box
    faithfulness: Faithfulness | None

    @property
    def seconds(self) -> float:
        return self.explanation.seconds


def _progress_for(progress, index: int, total: int, title: str):
    if progress is None:
        return None
    return lambda fraction, text: progress((index + fraction) / total, f"{title}: {text}")


@keyword_settings("backbone", "method_names", "layer", "class_index", renamed=_COMPARE_RENAMED)
def compare_methods(image: ImageInput, *, backbone: str | BackboneSpec = DEFAULT_BACKBONE,
                    methods: Sequence[str] | None = None, layer: str | None = None, class_index: int | None = None,
                    options: Mapping[str, Mapping[str, Any]] | None = None, with_faithfulness: bool = True,
                    increments: int = DEFAULT_INCREMENTS, colormap: str | None = None, opacity: float | None = None,
                    device: torch.device | str | None = None,
                    progress: Callable[[float, str], None] | None = None) -> list[Cell]:
    """One cell per method (those that apply to ``backbone``; others are skipped), same image and class.

    ``methods`` are method names (default ``DEFAULT_COMPARE_METHODS``). ``layer`` is used by the layer-based
    methods (CAM keeps its own); ``options`` maps a method name to its settings; ``increments`` is the
    faithfulness curves' (``faithfulness``); ``device`` is ``explain``'s. Nothing is drawn: a cell's picture
    is its explanation's ``overlay``, or ``explanation.restyled(colormap=...).overlay`` in another style.
    ``colormap`` and ``opacity`` are deprecated (they only set that style).
    """
    style = retired_style("compare_methods", colormap, opacity)
    rgb = load_image(image)
    infos = catalog.applicable_methods(backbone, methods or DEFAULT_COMPARE_METHODS)
    cells: list[Cell] = []
    for index, info in enumerate(infos):
        name, title = info.name, info.title
        report = _progress_for(progress, index, len(infos), title)
        explanation = explain(rgb, backbone=backbone, method=name,
                              layer=layer if info.uses_layer and not info.fixed_layer else None,
                              class_index=class_index, options=(options or {}).get(name), device=device,
                              progress=report, **style)
        class_index = explanation.class_index  # every other cell explains the same class
        cells.append(_cell(title, explanation, with_faithfulness, increments, report))
    return cells


@keyword_settings("backbone", "method", "layer_names", "class_index", renamed=_SWEEP_RENAMED)
def layer_sweep(image: ImageInput, *, backbone: str | BackboneSpec = DEFAULT_BACKBONE, method: str = DEFAULT_METHOD,
                layers: Sequence[str] | None = None, class_index: int | None = None, count: int = 4,
                with_faithfulness: bool = False, increments: int = DEFAULT_INCREMENTS, colormap: str | None = None,
                opacity: float | None = None, device: torch.device | str | None = None,
                progress: Callable[[float, str], None] | None = None) -> list[Cell]:
    """One cell per layer, from early (fine, edge-like) to late (coarse, semantic), for one method.

    ``layers`` are layer names; without them, ``count`` layers spread evenly over the backbone's list are
    used. Nothing is drawn (see ``compare_methods``; ``colormap`` and ``opacity`` are deprecated).
    """
    style = retired_style("layer_sweep", colormap, opacity)
    info = {m.name: m for m in catalog.methods(backbone)}.get(method)
    if info is None or not info.uses_layer or info.fixed_layer:
        raise CamdemoError("A layer sweep needs a method that works at any layer (Grad-CAM, Grad-CAM++, LayerCAM, …).")
    rgb = load_image(image)
    names = list(layers) if layers else spread_layers(backbone, count)
    cells: list[Cell] = []
    for index, name in enumerate(names):
        report = _progress_for(progress, index, len(names), name)
        explanation = explain(rgb, backbone=backbone, method=method, layer=name, class_index=class_index,
                              device=device, progress=report, **style)
        class_index = explanation.class_index
        cells.append(_cell(f"{info.title} at {name}", explanation, with_faithfulness, increments, report))
    return cells


def spread_layers(backbone: str | BackboneSpec, count: int) -> list[str]:
    """``count`` layers evenly spread from the earliest to the last, in network order (early first)."""
    early_first = [info.name for info in reversed(list_layers(backbone))]
    if count >= len(early_first):
        return early_first
    picks = np.linspace(0, len(early_first) - 1, count).round().astype(int)
    return [early_first[i] for i in dict.fromkeys(picks.tolist())]


def _cell(title: str, explanation: Explanation, with_faithfulness: bool, increments: int, report) -> Cell:
    report_faith = None if report is None else (lambda fraction, text: report(1.0, text))
    faith = faithfulness(explanation, increments=increments, progress=report_faith) if with_faithfulness else None
    return Cell(title, explanation, explanation.map_box(), faith)


def most_faithful(cells: Sequence[Cell]) -> tuple[Cell, Cell] | None:
    """(lowest deletion AUC, highest insertion AUC) among cells with a faithfulness report."""
    rated = [cell for cell in cells if cell.faithfulness is not None]
    if not rated:
        return None
    return (min(rated, key=lambda c: c.faithfulness.deletion_auc),  # type: ignore[union-attr]  # rated: not None
            max(rated, key=lambda c: c.faithfulness.insertion_auc))  # type: ignore[union-attr]
