"""Looking closer at one image: Grad-CAM step by step (Explain tab), methods side by side and one method across
layers (Compare tab), and the model randomization check (Sanity check tab). Each uses the image, backbone and
class of the Explain tab."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import gradio as gr
import pandas as pd

import camdemo

from camdemo.app import compare as tabs
from camdemo.app.budget import check_budget, compare_cost, total_cost
from camdemo.app.display import display_image
from camdemo.app.downloads import write_gallery
from camdemo.app.own_models import Backbone, model_for

from camdemo.app.inputs import NO_IMAGE, NO_IMAGE_FOR_TAB, checked_name, class_of, message, method_list, whole_number
from camdemo.app.steps import show_steps
from camdemo.app.work import on_model, session_of
from camdemo.drawing.overlay import DEFAULT_COLORMAP

Gallery = list[tuple[str, str]]  # (picture file, caption)


def _chosen(backbone: str, request: gr.Request | None) -> Backbone:
    """What the tab explains: the backbone's name, or the page's own model (a message if it is gone)."""
    try:
        return model_for(backbone, session_of(request))
    except camdemo.CamdemoError as error:
        raise message(error) from None


class StepsOutputs(NamedTuple):
    steps_gallery: list[tuple[Any, str]]  # (picture, caption) in the order Grad-CAM computes them
    steps_text: str


class CompareOutputs(NamedTuple):
    compare_gallery: Gallery
    compare_table: str
    deletion_plot: pd.DataFrame
    insertion_plot: pd.DataFrame


class SweepOutputs(NamedTuple):
    sweep_gallery: Gallery
    sweep_text: str


class SanityOutputs(NamedTuple):
    sanity_gallery: Gallery
    sanity_table: str


def run_steps(image_path: str | None, backbone: str, layer: str | None, class_choice: str | None, colormap: str,
              request: gr.Request | None = None) -> StepsOutputs:
    """The step-by-step view of Grad-CAM for the current image, layer and class."""
    if not image_path:
        raise gr.Error(NO_IMAGE)
    layer, class_choice = checked_name(layer, "layer"), checked_name(class_choice, "class")
    chosen = _chosen(backbone, request)
    class_index = class_of(class_choice, chosen)
    return StepsOutputs(*on_model(lambda progress: show_steps(display_image(image_path), chosen, layer, class_index,
                                                              colormap or DEFAULT_COLORMAP),
                                  request=request, fast=True))


def run_compare(image_path: str | None, backbone: str, layer: str | None, class_choice: str | None,
                method_names: list[str], with_faithfulness: bool, colormap: str, request: gr.Request | None = None,
                progress=gr.Progress()) -> CompareOutputs:
    """Compare tab: the chosen methods side by side with times and faithfulness, for one class."""
    method_names = method_list(method_names, "compare")
    chosen = _chosen(backbone, request)
    layer, class_choice = checked_name(layer, "layer"), checked_name(class_choice, "class")
    check_budget(compare_cost(chosen, method_names, bool(with_faithfulness)))
    items, table, deletion, insertion = _run_tab(tabs.compare, image_path, chosen, layer or None,
                                                 class_of(class_choice, chosen), method_names,
                                                 bool(with_faithfulness), colormap or DEFAULT_COLORMAP,
                                                 request=request, progress=progress)
    return CompareOutputs(write_gallery(items, session_of(request)), table, deletion, insertion)


def run_sweep(image_path: str | None, backbone: str, method: str, class_choice: str | None, count: int,
              colormap: str, request: gr.Request | None = None, progress=gr.Progress()) -> SweepOutputs:
    """Compare tab: one method across layers, early to late."""
    count = whole_number(count, 2, 8, "layers")
    chosen = _chosen(backbone, request)
    class_choice = checked_name(class_choice, "class")
    check_budget(total_cost(chosen, [method], count))
    items, text = _run_tab(tabs.sweep, image_path, chosen, method, class_of(class_choice, chosen), count,
                           colormap or DEFAULT_COLORMAP, request=request, progress=progress)
    return SweepOutputs(write_gallery(items, session_of(request)), text)


def run_sanity(image_path: str | None, backbone: str, class_choice: str | None, method_names: list[str], steps: int,
               colormap: str, request: gr.Request | None = None, progress=gr.Progress()) -> SanityOutputs:
    """Sanity check tab: cascading randomization of a copy of the model."""
    method_names = method_list(method_names, "check")
    chosen = _chosen(backbone, request)
    steps = whole_number(steps, 2, 8, "randomization steps")
    class_choice = checked_name(class_choice, "class")
    check_budget(total_cost(chosen, method_names, steps + 1))
    items, table = _run_tab(tabs.sanity, image_path, chosen, class_of(class_choice, chosen), method_names,
                            steps, colormap or DEFAULT_COLORMAP, request=request, progress=progress)
    return SanityOutputs(write_gallery(items, session_of(request)), table)


def _run_tab(function: Callable[..., Any], image_path: str | None, *args: Any, request: gr.Request | None,
             progress: gr.Progress | None) -> Any:
    """Run one of the Compare / Sanity tab computations in the slow lane, with camdemo's messages."""
    if not image_path:
        raise gr.Error(NO_IMAGE_FOR_TAB)
    return on_model(lambda progress: function(display_image(image_path), *args, progress=progress),
                    request=request, progress=progress)
