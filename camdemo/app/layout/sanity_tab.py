"""The Sanity check tab: maps of a model whose layers are randomized one after another."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from camdemo.app.inputs import NumberSlider
from camdemo.app.compare import SANITY_HELP
from camdemo.app.layout import method_picker
from camdemo import DEFAULT_SANITY_METHODS


@dataclass(frozen=True)
class SanityTab:
    sanity_methods: gr.CheckboxGroup
    sanity_steps: gr.Slider
    sanity_button: gr.Button
    sanity_table: gr.Markdown
    sanity_gallery: gr.Gallery


def build_sanity_tab(backbone: str) -> SanityTab:
    """The Sanity check tab, set up for ``backbone``."""
    with gr.Tab("Sanity check"):
        gr.Markdown(SANITY_HELP)
        with gr.Row():
            methods = method_picker(backbone, DEFAULT_SANITY_METHODS, "image, backbone and class")
            with gr.Column(scale=0, min_width=220):
                steps = NumberSlider(2, 8, value=4, step=1, label="Randomization steps")
                button = gr.Button("Randomize the model and compare", variant="primary")
        table = gr.Markdown()
        gallery = gr.Gallery(label="Maps as more layers get random weights (rows: steps)",
                             columns=len(DEFAULT_SANITY_METHODS), height="auto", object_fit="contain")
    return SanityTab(methods, steps, button, table, gallery)
