"""The Compare tab: several methods side by side with their faithfulness, then one method across layers."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from camdemo.app.inputs import NumberSlider
from camdemo.app.compare import COMPARE_HELP
from camdemo.app.layout import method_picker
from camdemo.app.views import sweep_choices
from camdemo import DEFAULT_COMPARE_METHODS


@dataclass(frozen=True)
class CompareTab:
    compare_methods: gr.CheckboxGroup
    with_faithfulness: gr.Checkbox
    compare_button: gr.Button
    compare_gallery: gr.Gallery
    compare_table: gr.Markdown
    deletion_plot: gr.LinePlot
    insertion_plot: gr.LinePlot
    sweep_method: gr.Dropdown
    sweep_count: gr.Slider
    sweep_button: gr.Button
    sweep_gallery: gr.Gallery
    sweep_text: gr.Markdown


def build_compare_tab(backbone: str, method: str) -> CompareTab:
    """The Compare tab, set up for ``backbone``, its layer sweep for ``method``."""
    with gr.Tab("Compare"):
        gr.Markdown(COMPARE_HELP)
        with gr.Row():
            methods = method_picker(backbone, DEFAULT_COMPARE_METHODS, "image, backbone, layer and class")
            with gr.Column(scale=0, min_width=220):
                with_faithfulness = gr.Checkbox(value=True, label="Measure faithfulness (about 1 s per method)")
                button = gr.Button("Compare methods", variant="primary")
        gallery = gr.Gallery(label="Methods side by side", columns=4, height="auto", object_fit="contain")
        table = gr.Markdown()
        with gr.Row():
            deletion = _curve_plot("Deletion: most important pixels removed first (lower is better)")
            insertion = _curve_plot("Insertion: most important pixels restored first (higher is better)")
        sweep = _layer_sweep(backbone, method)
    return CompareTab(methods, with_faithfulness, button, gallery, table, deletion, insertion, *sweep)


def _curve_plot(title: str) -> gr.LinePlot:
    return gr.LinePlot(x="fraction of pixels", y="class probability", color="method", title=title, y_lim=[0, 1])


def _layer_sweep(backbone: str, method: str) -> tuple[gr.Dropdown, gr.Slider, gr.Button, gr.Gallery, gr.Markdown]:
    gr.Markdown("### Layer sweep: one method from early to late layers")
    with gr.Row():
        sweep_method = gr.Dropdown(sweep_choices(backbone), value=method, label="Method")
        sweep_count = NumberSlider(2, 8, value=4, step=1, label="Layers")
        sweep_button = gr.Button("Sweep the layers")
    gallery = gr.Gallery(label="Early → late", columns=4, height="auto", object_fit="contain")
    return sweep_method, sweep_count, sweep_button, gallery, gr.Markdown()
