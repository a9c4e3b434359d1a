"""The *Matrices & signals* tab: explain an uploaded matrix or signal with a model of data (the ``/explain_data``
API), and the controls that follow the chosen model and method.

The upload is read by ``camdemo.load_array`` (its sentences for NaN, ragged rows, a wrong rank, a pickled or too
large file) inside the visitor's lane, then explained by ``camdemo.explain`` as it is: no resizing, no
normalization. The map, its row and column profiles and the predictions are shown at the data's resolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

import camdemo
from camdemo.app.budget import BUDGET_SECONDS, check_budget
from camdemo.app.data_views import (NO_DATA_MODEL, data_backbones, data_class_choices, data_layer,
                                    data_layer_choices, data_method, data_method_choices, data_status,
                                    is_data_backbone, largest_magnitude, prediction_table, profile_rows, shape_text,
                                    what_the_model_saw)
from camdemo.app.downloads import write_data_files
from camdemo.app.handlers.outputs import Update
from camdemo.app.inputs import checked_name, class_of, explained_safely
from camdemo.app.options import CATALOG
from camdemo.app.results import recent_results
from camdemo.app.views import AUTO_CLASS, layer_is_choosable, method_info
from camdemo.app.work import on_model, session_of


NO_DATA = "Upload a .npy or .csv file (a matrix or a signal) first."
CHOOSE_MODEL = "Choose a model of matrices or signals from the list."
CHOOSE_METHOD = "Choose one of the listed methods: {names}."


class DataOutputs(NamedTuple):
    """What one explanation of data shows, in the order of the ``/explain_data`` API's outputs."""

    data_panel: str | None  # the data beside its signed map and the row/column profiles (PNG)
    previous_panel: str | None  # the previous result's panel on the same color scale, when the scale is shared
    data_predictions: str  # Markdown table: probabilities, or a regression's values
    data_profiles: list[list[Any]]  # the top rows and columns: [row/column/sample, index, sum]
    data_summary: str  # what the model saw (shape, range, as it is), the method, time and notes
    data_result: str | None  # where the server keeps this result (the next one may share its scale)
    download_map: str | None  # the raw map at the data's resolution (.npy)
    download_profiles: str | None  # every row's and column's sum (.csv)


class DataModelChange(NamedTuple):
    """The tab's controls for a newly chosen model of data."""

    data_method: Update
    data_layer: Update
    data_class: Update
    data_status: str


class DataMethodChange(NamedTuple):
    """The layer box and the method's settings for a newly chosen method."""

    data_layer: Update
    ig_steps: Update
    ig_baseline: Update
    occlusion_window: Update
    occlusion_stride: Update
    data_cost: str


def data_options(method: str, ig_steps: Any = None, ig_baseline: Any = None, occlusion_window: Any = None,
                 occlusion_stride: Any = None) -> dict[str, Any]:
    """The chosen method's settings from the tab's controls (``camdemo.explain`` checks them)."""
    chosen = {"integrated_gradients": {"steps": ig_steps, "baseline": ig_baseline},
              "occlusion": {"patch": occlusion_window, "stride": occlusion_stride}}.get(method, {})
    return {key: value for key, value in chosen.items() if value is not None}


def run_data(data_file: str | None, backbone: str | None, method: str | None, layer: str | None,
             class_choice: str | None, ig_steps: Any = None, ig_baseline: Any = None, occlusion_window: Any = None,
             occlusion_stride: Any = None, share_scale: bool = False, previous_key: str | None = None,
             request: gr.Request | None = None, progress=gr.Progress()) -> DataOutputs:
    """The tab's main event (API name ``explain_data``): explain ``data_file`` (.npy or .csv) with the model of data
    ``backbone``, ``method`` at ``layer``, for ``class_choice`` (a class index or "auto" for the top-1).

    With ``share_scale``, this map and the previous result's (``previous_key``) are drawn on one color scale, the
    previous one under it. Returns ``DataOutputs``.
    """
    if not data_backbones():
        raise gr.Error(NO_DATA_MODEL, print_exception=False)
    if not is_data_backbone(backbone):
        raise gr.Error(CHOOSE_MODEL, print_exception=False)
    assert isinstance(backbone, str)
    if not data_file:
        raise gr.Error(NO_DATA, print_exception=False)
    offered = [name for _, name in data_method_choices(backbone)]
    if method not in offered:
        raise gr.Error(CHOOSE_METHOD.format(names=", ".join(offered)), print_exception=False)
    assert isinstance(method, str)
    layer = data_layer(backbone, method, checked_name(layer, "layer"))
    class_index = class_of(checked_name(class_choice, "class"), backbone)
    options = data_options(method, ig_steps, ig_baseline, occlusion_window, occlusion_stride)
    explanation = _explain(data_file, backbone, method, layer, class_index, options, request, progress)
    file_name = Path(data_file).name
    previous = recent_results.get(previous_key) if share_scale else None
    previous = previous if previous is not None and previous.data is not None else None
    key = recent_results.put(explanation, file_name)
    scale = max(largest_magnitude(explanation), largest_magnitude(previous)) if previous is not None else None
    files = write_data_files(explanation, file_name, session_of(request), scale=scale or None, previous=previous)
    summary = what_the_model_saw(explanation, file_name)
    if explanation.note:
        summary += f"\n\n⚠️ {explanation.note}"
    if previous is not None:
        summary += (f"\n\nBoth maps are drawn on one color scale, −{scale:.3g} to +{scale:.3g}: this one, and "
                    f"under it the previous one ({CATALOG[previous.method].title} of "
                    f"'{previous.class_label}').")
    return DataOutputs(files.panel, files.previous_panel, prediction_table(explanation), profile_rows(explanation),
                       summary, key, files.map_npy, files.profiles_csv)


def _explain(path: str, backbone: str, method: str, layer: str | None, class_index: int | None,
             options: dict[str, Any], request: gr.Request | None, progress: gr.Progress | None) -> camdemo.Explanation:
    """Read and explain the file in the visitor's lane, refused first if over the budget (by the model's own
    shape, then by the shape of the data read); every failure as a sentence."""
    with explained_safely("this file"):
        cost = camdemo.estimate_cost(backbone=backbone, method=method, layer=layer, options=options)
        check_budget(cost)
        sign = "both" if camdemo.is_signed(method, options) else "positive"  # the panel shows the signed map

        def work(progress):
            values = camdemo.load_array(path)
            check_budget(camdemo.estimate_cost(backbone=backbone, method=method, layer=layer, options=options,
                                               data_shape=values.shape))
            return camdemo.explain(values, backbone=backbone, method=method, layer=layer, class_index=class_index,
                                   options=options, sign=sign, progress=progress)

        return on_model(work, request=request, fast=cost.single_pass, progress=progress)


def on_data_model_change(backbone: str | None, method: str | None, layer: str | None) -> DataModelChange:
    """Controls follow the model: its methods (keeping a valid choice), its layers, its classes, what it reads."""
    method = data_method(backbone, method)
    layer = data_layer(backbone, method, layer)
    info = method_info(backbone, method) if backbone and method else None
    return DataModelChange(gr.update(choices=data_method_choices(backbone), value=method),
                           gr.update(choices=data_layer_choices(backbone), value=layer,
                                     interactive=info is not None and layer_is_choosable(info)),
                           gr.update(choices=data_class_choices(backbone), value=AUTO_CLASS),
                           data_status(backbone))


def on_data_method_change(backbone: str | None, method: str | None, layer: str | None, ig_steps: Any = None,
                          ig_baseline: Any = None, occlusion_window: Any = None,
                          occlusion_stride: Any = None) -> DataMethodChange:
    """The method's layer (its fixed one, or the current one), its settings shown, and what it will cost."""
    layer = data_layer(backbone, method, layer)
    info = method_info(backbone, method) if backbone and method and is_data_backbone(backbone) else None
    return DataMethodChange(gr.update(value=layer, interactive=info is not None and layer_is_choosable(info)),
                            gr.update(visible=method == "integrated_gradients"),
                            gr.update(visible=method == "integrated_gradients"),
                            gr.update(visible=method == "occlusion"), gr.update(visible=method == "occlusion"),
                            describe_data_cost(backbone, method, layer, ig_steps, ig_baseline, occlusion_window,
                                               occlusion_stride))


def on_share_change(share: bool) -> Update:
    """The previous map is shown only while the scale is shared."""
    return gr.update(visible=bool(share))


def describe_data_cost(backbone: str | None, method: str | None, layer: str | None, *values: Any) -> str:
    """The cost line above the button, for data of the model's own shape (a larger upload costs more)."""
    if not is_data_backbone(backbone) or not method:
        return ""
    assert isinstance(backbone, str)
    try:
        cost = camdemo.estimate_cost(backbone=backbone, method=method, layer=layer,
                                      options=data_options(method, *values))
    except camdemo.CamdemoError as error:
        return f"⚠️ {error}"
    shape = next((info.data_shape for info in data_backbones() if info.name == backbone), None) or ()
    over = f" More than this server allows ({BUDGET_SECONDS:.0f} s)." if cost.seconds > BUDGET_SECONDS else ""
    return f"**Cost** for {shape_text(shape)}: {cost.describe()}.{over}"
