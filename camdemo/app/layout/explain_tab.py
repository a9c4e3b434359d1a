"""The Explain tab: the upload and the settings on the left, the result on the right (on a phone: the upload,
then the result, then the settings; see ``camdemo.app.browser.PHONE_CSS``)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from camdemo.app.inputs import NumberSlider
from gradio.components import Component

from camdemo.app.budget import describe_cost
from camdemo.app.classes import CLASS_BOX_ID
from camdemo.app.examples import example_paths
from camdemo.app.layout.own_model import OwnModelPanel, build_own_model_panel
from camdemo.app.options import build_controls, describe_all
from camdemo.app.uploads import ImageUpload
from camdemo.app.views import (AUTO_CLASS, DIRECTIONS, NO_CONTRAST, backbone_choices, backbone_status, class_choices,
                               colormap_choices, contrast_choices, default_layer, layer_choices, method_choices,
                               method_help, offline_table)
from camdemo.drawing.overlay import DEFAULT_COLORMAP, DEFAULT_OPACITY

LAYER_HELP = (
    "A layer is one stage of the network. Layers near the top of this list come late in the network: they "
    "respond to whole objects and give coarse maps. Layers further down come early: they respond to edges and "
    "textures and give finer, less class-specific maps. The numbers are channels × height × width."
)
CLASS_HELP = ("Type a name and press Enter (whole names and words match first), pick one from the list, or click "
              "one of the top-5 predictions.")
TARGET_HELP = ("Rather than: explain why the network chose this class over another one (the difference of their "
               "scores). Lowers: the evidence against the class (for a regression, what pushes the output down).")
BOXES_HELP = ("Magenta: the box around the map's largest region above 20% of its maximum (the CAM paper's rule). "
              "The generated shapes examples also show their objects' true boxes (white).")


@dataclass(frozen=True)
class ExplainControls:
    """What a person chooses: the image and every setting."""

    image: ImageUpload
    backbone: gr.Dropdown
    backbone_status: gr.Markdown
    method: gr.Radio
    layer: gr.Dropdown
    class_choice: gr.Dropdown
    colormap: gr.Dropdown
    opacity: gr.Slider
    sign: gr.Radio
    options: list[Component]  # one control per method setting (``camdemo.app.options``)
    show_boxes: gr.Checkbox
    cost: gr.Markdown
    explain_button: gr.Button
    direction: gr.Radio  # what raises the score, or what lowers it
    versus: gr.Dropdown  # "why this class rather than that one" (NO_CONTRAST: none)
    own_model: OwnModelPanel  # the page's own ONNX model


@dataclass(frozen=True)
class ExplainResults:
    """What the page shows of a result, and the views that explain it."""

    slider: gr.ImageSlider
    heatmap: gr.Image
    top5: gr.Label
    summary: gr.Markdown
    download_overlay: gr.DownloadButton
    download_npy: gr.DownloadButton
    download_png: gr.DownloadButton
    method_help: gr.Markdown
    steps_button: gr.Button
    steps_text: gr.Markdown
    steps_gallery: gr.Gallery


@dataclass(frozen=True)
class PageState:
    """What the page remembers between events, unseen (built after the tabs, so that they stay one row)."""

    result_key: gr.State  # the last result's key in ``recent_results``
    pending_class: gr.State  # a class from a shared link, used once by the next automatic run
    backbone_by_example: gr.State  # the backbone was switched by an example, not by the person
    example_name: gr.Textbox  # the bundled example shown, for the shared link


@dataclass(frozen=True)
class ExplainTab:
    controls: ExplainControls
    results: ExplainResults


def build_explain_tab(backbone: str, method: str) -> ExplainTab:
    """The Explain tab, set up for ``backbone`` and ``method``."""
    with gr.Tab("Explain"), gr.Row(elem_id="camdemo-explain"):
        with gr.Column(scale=2, elem_id="camdemo-controls"):
            image = ImageUpload(label="Your image", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                height=320)
            with gr.Column(elem_id="camdemo-settings"):  # below the result on a phone (PHONE_CSS)
                controls = _settings(image, backbone, method)
        with gr.Column(scale=3, elem_id="camdemo-results"):
            results = _results(backbone, method)
    return ExplainTab(controls, results)


def build_page_state() -> PageState:
    """The page's hidden state; call it after the last tab."""
    return PageState(gr.State(None), gr.State(None), gr.State(False), gr.Textbox(visible="hidden", label="example"))


def _settings(image: ImageUpload, backbone: str, method: str) -> ExplainControls:
    with gr.Row():
        gr.Examples([[path] for path in example_paths(for_shapes=False)], inputs=[image],
                    label="Photos (ImageNet backbones)")
        gr.Examples([[path] for path in example_paths(for_shapes=True)], inputs=[image],
                    label="Generated shapes (ShapesGapNet, true boxes)")
    backbone_box = gr.Dropdown(backbone_choices(), value=backbone, label="Backbone (classifier)")
    status = gr.Markdown(backbone_status(backbone))
    own_model = build_own_model_panel()
    method_box = gr.Radio(method_choices(backbone), value=method, label="Method")
    layer = gr.Dropdown(layer_choices(backbone), value=default_layer(backbone, method), label="Target layer",
                        info=LAYER_HELP, allow_custom_value=True)
    class_choice = gr.Dropdown(class_choices(backbone), value=AUTO_CLASS, label="Class to explain", info=CLASS_HELP,
                               filterable=True, allow_custom_value=True, elem_id=CLASS_BOX_ID)
    with gr.Row():
        versus = gr.Dropdown(contrast_choices(backbone), value=NO_CONTRAST, label="… rather than", info=TARGET_HELP,
                             filterable=True, allow_custom_value=True)
        direction = gr.Radio(DIRECTIONS, value="up", label="Show")
    with gr.Row():
        colormap = gr.Dropdown(colormap_choices(), value=DEFAULT_COLORMAP, label="Colormap")
        opacity = NumberSlider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05, label="Heatmap opacity")
    with gr.Accordion("Method settings", open=False):
        sign, options = build_controls()
    show_boxes = gr.Checkbox(value=True, label="Show boxes", info=BOXES_HELP)
    cost = gr.Markdown(describe_cost(backbone, method, default_layer(backbone, method)))
    button = gr.Button("Explain", variant="primary")
    return ExplainControls(image, backbone_box, status, method_box, layer, class_choice, colormap, opacity, sign,
                           options, show_boxes, cost, button, direction, versus, own_model)


def _results(backbone: str, method: str) -> ExplainResults:
    slider = gr.ImageSlider(label="Original ⟷ heatmap overlay (drag the handle)", type="filepath",
                            slider_position=15)
    with gr.Row():
        heatmap = gr.Image(label="Heatmap alone", type="filepath", interactive=False)
        top5 = gr.Label(label="Top-5 predictions", num_top_classes=5)
    summary = gr.Markdown()
    with gr.Row():
        downloads = (gr.DownloadButton("Overlay (PNG)", size="sm"),
                     gr.DownloadButton("Heatmap (.npy, float)", size="sm"),
                     gr.DownloadButton("Heatmap (PNG, gray)", size="sm"))
    help_text = gr.Markdown(method_help(backbone, method))
    with gr.Accordion("Step by step: how Grad-CAM builds this map", open=False):
        steps_button = gr.Button("Show the steps for this image, layer and class")
        steps_text = gr.Markdown()
        steps_gallery = gr.Gallery(label="Grad-CAM step by step", columns=4, height="auto", object_fit="contain",
                                   show_label=False)
    _reference(backbone)
    return ExplainResults(slider, heatmap, top5, summary, *downloads, help_text, steps_button, steps_text,
                          steps_gallery)


def _reference(backbone: str) -> None:
    """Closed accordions for looking things up: every method, and which backbones work offline."""
    with gr.Accordion("All methods at a glance", open=False):
        gr.Markdown(describe_all(backbone))
    with gr.Accordion("Which backbones work offline?", open=False):
        gr.Markdown(offline_table())
