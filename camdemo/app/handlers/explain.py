"""The Explain tab's result: explain (the ``/explain`` API), explain the top-1 after a new image or backbone,
re-draw a kept result in a new style, and pick a class from the top-5.

The UI decodes the upload with ``camdemo.load_image`` (so every bad file gets camdemo's own message), shrinks
very large photos for display, calls ``camdemo.explain`` and shows the result. Changing the colormap or
opacity re-blends a recent result without running the network.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

import camdemo
from camdemo.app.budget import check_budget, estimate
from camdemo.app.display import display_image, is_shapes_scene, render
from camdemo.app.downloads import write_display, write_downloads
from camdemo.app.examples import SHAPES, bundled_example
from camdemo.app.handlers.outputs import Update, unchanged
from camdemo.app.inputs import checked_name, class_of, explained_safely, message
from camdemo.app.options import options_for, sign_for
from camdemo.app.results import recent_results
from camdemo.app.own_models import Backbone, model_for
from camdemo.app.views import (AUTO_CLASS, NO_CONTRAST, backbone_info, label_dict, outputs_text, prediction_class,
                               usable_layer, usable_method)
from camdemo.app.work import on_model, session_of
from camdemo.drawing.overlay import DEFAULT_COLORMAP, DEFAULT_OPACITY


NO_IMAGE = "Please upload an image first (or click one of the examples)."
SHAPES_ONLY = ("⚠️ ShapesGapNet learned only generated shapes on a plain background. This image is not one of "
               "them, so its answer and its map mean little: choose an ImageNet backbone for photos.")


class ExplainOutputs(NamedTuple):
    """What one explanation shows, in the order of the ``/explain`` API's outputs."""

    slider: tuple[str, str] | None | Update  # the (original, overlay) picture files
    heatmap: str | None | Update  # the colored heatmap with its scale
    top5: dict[str, float] | None | Update
    summary: str | Update
    class_choice: str | Update  # the explained class's index
    result_key: str | None | Update  # where the server keeps the result for re-drawing (``recent_results``)
    download_overlay: str | None | Update
    download_npy: str | None | Update
    download_png: str | None | Update
    example_name: str | Update  # the bundled example's name, for a shared link ("" for a person's own image)


class AutomaticOutputs(NamedTuple):
    """An automatic run shows the same as ``ExplainOutputs``, and clears the class a shared link asked for once."""

    slider: tuple[str, str] | None | Update
    heatmap: str | None | Update
    top5: dict[str, float] | None | Update
    summary: str | Update
    class_choice: str | Update
    result_key: str | None | Update
    download_overlay: str | None | Update
    download_npy: str | None | Update
    download_png: str | None | Update
    example_name: str | Update
    pending_class: str | None


class RestyleOutputs(NamedTuple):
    """What a re-draw changes: the pictures and the downloads."""

    slider: tuple[str, str] | Update
    heatmap: str | Update
    download_overlay: str | Update
    download_npy: str | Update
    download_png: str | Update


@dataclass(frozen=True)
class ExplainSettings:
    """One explanation as the page asks for it."""

    image_path: str
    backbone: str
    method: str
    layer: str | None  # None: the backbone's default layer
    class_choice: str | None  # a class index, a list entry or a typed name; "auto" or None: the top-1
    colormap: str
    opacity: float | None  # None: the default opacity
    show_boxes: bool
    sign: str | None
    options: dict[str, Any]  # the chosen method's settings (``camdemo.app.options``)
    direction: str = "up"  # "up": what raises the score; "down": what lowers it
    versus: str | None = None  # "why this class rather than that one": a class index, a list entry, or none


def run_explain(image_path: str | None, backbone: str, layer: str | None, method: str, class_choice: str | None,
                colormap: str, opacity: float, show_boxes: bool = True, sign: str = "positive",
                ig_steps=None, ig_baseline=None, sg_base=None, sg_samples=None, sg_noise=None, occlusion_patch=None,
                occlusion_stride=None, scorecam_channels=None, ig_adaptive=None, lrp_rules=None,
                deeplift_reference=None, direction: str = "up", versus: str | None = None,
                request: gr.Request | None = None,
                progress=gr.Progress()) -> ExplainOutputs:
    """The main event (API name ``explain``).

    After the image and the style come the sign to show and the method settings (used only by
    their method; see ``camdemo.app.options``), then what is explained: ``direction`` "up" (what raises the
    score) or "down" (what lowers it), and ``versus``, a class to contrast with ("none": no contrast). The
    backbone ``your_model`` is the page's own uploaded model (``load_model``). Returns (``ExplainOutputs``) the
    (original, overlay) pair, the heatmap image, the top-5, a summary, the explained class, the result's key
    (server-side), the three download files and the bundled example's name (or "").
    """
    if not image_path:
        raise gr.Error(NO_IMAGE)
    option_values = [ig_steps, ig_baseline, sg_base, sg_samples, sg_noise, occlusion_patch, occlusion_stride,
                     scorecam_channels, ig_adaptive, lrp_rules, deeplift_reference]
    settings = ExplainSettings(image_path, backbone, method, checked_name(layer, "layer") or None,
                               checked_name(class_choice, "class"), colormap or DEFAULT_COLORMAP, opacity,
                               show_boxes, sign, options_for(method, option_values), direction or "up",
                               checked_name(versus, "class to contrast with"))
    return explain_and_show(settings, request, progress)


def run_explain_top1(image_path: str | None, backbone: str, layer: str | None, method: str, colormap: str,
                     opacity: float, show_boxes: bool = True, pending_class: str | None = None,
                     sign: str = "positive", ig_steps=None, ig_baseline=None, sg_base=None, sg_samples=None,
                     sg_noise=None, occlusion_patch=None, occlusion_stride=None, scorecam_channels=None,
                     ig_adaptive=None, lrp_rules=None, deeplift_reference=None, direction: str = "up",
                     versus: str | None = None, request: gr.Request | None = None,
                     progress=gr.Progress()) -> AutomaticOutputs:
    """A new image or backbone: explain the top-1 class (or the class a shared link asked for, once).

    This run is automatic, so a method or layer left over from the previous backbone falls back to the new
    backbone's defaults instead of failing. Takes ``run_explain``'s inputs, with the pending class of a
    shared link in place of the class box; returns ``AutomaticOutputs``.
    """
    if not image_path:
        return AutomaticOutputs(None, None, None, "", AUTO_CLASS, None, None, None, None, "", None)
    run = (session_of(request), image_path, backbone)
    if not automatic_runs.start(run):
        return unchanged(AutomaticOutputs)
    try:
        try:
            chosen = model_for(backbone, session_of(request))
        except camdemo.CamdemoError as error:  # the page's own model is gone: say so where the result would be
            return AutomaticOutputs(None, None, None, f"⚠️ {error}", gr.skip(), None, None, None, None, gr.skip(), None)
        method = usable_method(chosen, method)
        option_values = [ig_steps, ig_baseline, sg_base, sg_samples, sg_noise, occlusion_patch, occlusion_stride,
                         scorecam_channels, ig_adaptive, lrp_rules, deeplift_reference]
        settings = ExplainSettings(image_path, backbone, method, usable_layer(chosen, checked_name(layer, "layer")),
                                   checked_name(pending_class, "class") or AUTO_CLASS, colormap or DEFAULT_COLORMAP,
                                   opacity, show_boxes, sign, options_for(method, option_values), direction or "up",
                                   checked_name(versus, "class to contrast with"))
        return _explain_automatically(settings, request, progress)
    finally:
        automatic_runs.finish(run)


def _explain_automatically(settings: ExplainSettings, request: gr.Request | None,
                           progress: gr.Progress | None) -> AutomaticOutputs:
    try:
        return AutomaticOutputs(*explain_and_show(settings, request, progress), None)
    except gr.Error as error:
        if _weights_ready(settings.backbone):
            raise
        # The backbone's weights are missing or damaged: say it once, where the result would be, and leave every
        # control as it is (an error would mark each output, the class list too, with an "Error" badge).
        return AutomaticOutputs(None, None, None, f"⚠️ {error.message}", gr.skip(), None, None, None, None,
                                gr.skip(), None)


def _weights_ready(backbone: str) -> bool:
    try:
        return backbone_info(backbone).weights_state == "ready"
    except camdemo.CamdemoError:  # no such backbone: the explanation's own message says so
        return True


def explain_and_show(settings: ExplainSettings, request: gr.Request | None,
                     progress: gr.Progress | None) -> ExplainOutputs:
    """Explain within the budget, in the model lane, and return what the page shows."""
    started = time.perf_counter()
    explanation = _explain(settings, request, progress)
    seconds = time.perf_counter() - started  # decoding, waiting and explaining
    key = recent_results.put(explanation, Path(settings.image_path).name)
    rendered = render(explanation, settings.show_boxes)
    session = session_of(request)
    slider, heatmap = write_display(rendered.pair, rendered.heatmap, session)
    overlay_file, npy_file, png_file = write_downloads(explanation, rendered.pair[1], Path(settings.image_path).name,
                                                       session)
    summary = _summary(explanation, settings.backbone, seconds, rendered.note)
    predictions = label_dict(explanation)
    # A plain value for the class box, not gr.Dropdown(...) or gr.update(...): Gradio 6.31 stores every property
    # update as a new component in the session, under a new id, for as long as the session lives. Once per
    # result, that grew the server by one 1,000-choice dropdown per request (measured under load).
    return ExplainOutputs(slider, heatmap, predictions, summary, str(explanation.class_index), key,
                          overlay_file, npy_file, png_file, bundled_example(settings.image_path) or "")


def _explain(settings: ExplainSettings, request: gr.Request | None,
             progress: gr.Progress | None) -> camdemo.Explanation:
    """``camdemo.explain`` for ``settings``, refused first if over the budget; every failure as a message."""
    try:
        chosen = model_for(settings.backbone, session_of(request))
    except camdemo.CamdemoError as error:
        raise message(error) from None
    class_index = class_of(settings.class_choice, chosen)
    versus = None if settings.versus in (None, "", NO_CONTRAST) else class_of(settings.versus, chosen)
    with explained_safely("this image"):
        cost = estimate(chosen, settings.method, settings.layer, settings.options)
        check_budget(cost)
        target = _target(chosen)

        def work(progress):
            return camdemo.explain(display_image(settings.image_path), **target,
                                   method=settings.method, layer=settings.layer, class_index=class_index,
                                   direction=settings.direction, versus=versus,
                                   colormap=settings.colormap, options=settings.options,
                                   opacity=DEFAULT_OPACITY if settings.opacity is None else float(settings.opacity),
                                   sign=sign_for(settings.method, settings.sign, settings.options), progress=progress)

        return on_model(work, request=request, fast=cost.single_pass, progress=progress)


def _target(chosen: Backbone) -> dict[str, Any]:
    """``camdemo.explain``'s keyword for a backbone's name or a visitor's own model."""
    return {"backbone": chosen} if isinstance(chosen, str) else {"model": chosen}


def _summary(explanation: camdemo.Explanation, backbone: str, seconds: float, box_note: str) -> str:
    """The text under the result: what was explained and how long it took, then any notes."""
    notes = [f"{explanation.summary} Total {1000 * seconds:.0f} ms with decoding."]
    if outputs_text(explanation):
        notes.append(outputs_text(explanation))
    if explanation.note:
        notes.append(f"⚠️ {explanation.note}")
    if box_note:
        notes.append(box_note)
    if backbone == SHAPES and not is_shapes_scene(explanation):
        notes.append(SHAPES_ONLY)
    return "\n\n".join(notes)


class AutomaticRuns:
    """Skips the second of two identical automatic runs.

    Gradio's image component sends its change event twice for one upload (measured: 12 uploads, 17 runs),
    both with the new file, about 0.1 s apart. An automatic run of the same page, image and backbone is
    skipped while an identical one is running or within ``window`` seconds after it finished.
    """

    def __init__(self, window: float = 0.5, capacity: int = 4096):
        self.window = window
        self.capacity = capacity
        self._runs: OrderedDict[tuple, float | None] = OrderedDict()  # run → when it finished (None: running)
        self._lock = threading.Lock()

    def start(self, run: tuple) -> bool:
        """Claim ``run`` (page, image, backbone); False if it is a duplicate change event's second run."""
        with self._lock:
            if run in self._runs:
                finished = self._runs[run]
                if finished is None or time.monotonic() - finished < self.window:
                    return False
            self._runs[run] = None
            self._runs.move_to_end(run)
            while len(self._runs) > self.capacity:
                self._runs.popitem(last=False)
        return True

    def finish(self, run: tuple) -> None:
        with self._lock:
            self._runs[run] = time.monotonic()


automatic_runs = AutomaticRuns()


def restyle(key: str | None, colormap: str, opacity: float, show_boxes: bool = True, sign: str | None = None,
            request: gr.Request | None = None) -> RestyleOutputs:
    """Colormap, opacity, sign or box display changed: re-draw the last result from its raw map, no network."""
    explanation = recent_results.get(key)
    if explanation is None:
        if key:  # there was a result, but the server no longer keeps it (many results since)
            gr.Warning("This result is no longer kept on the server, so it cannot be re-drawn. "
                       "Press Explain to compute it again with the new style.")
        return unchanged(RestyleOutputs)
    try:
        styled = explanation.restyled(colormap, opacity, sign_for(explanation.method, sign, explanation.options))
    except camdemo.CamdemoError as error:
        raise message(error) from None
    rendered = render(styled, show_boxes)
    session = session_of(request)
    slider, heatmap = write_display(rendered.pair, rendered.heatmap, session)
    return RestyleOutputs(slider, heatmap,
                          *write_downloads(styled, rendered.pair[1], recent_results.file_name(key), session))


def on_prediction_click(event: gr.SelectData) -> str | Update:
    """A click on one of the top-5 predictions ("tiger cat (282)") selects that class (a plain value, see
    ``explain_and_show``)."""
    label = str(event.value.get("label", "") if isinstance(event.value, dict) else event.value)
    return prediction_class(label) or gr.skip()

