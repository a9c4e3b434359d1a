"""The Inside the network tab: the shipped gallery of strongest channels at once, then activation maximization,
content reconstruction and Deep Dream run live (each one at a time per visitor, with a progress bar and Stop)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from camdemo.app.inputs import LayerCheckboxes, NumberSlider
from camdemo.app.inside import (DREAM_HELP, GALLERY_HELP, MAXIMIZE_HELP, RECONSTRUCT_HELP, dream_layer,
                                         gallery_items, inside_layer_choices, reconstruction_layers)


@dataclass(frozen=True)
class InsideTab:
    channel_gallery: gr.Gallery
    gallery_text: gr.Markdown
    maximize_layer: gr.Dropdown
    maximize_channel: gr.Number
    maximize_neuron: gr.Checkbox
    maximize_steps: gr.Slider
    maximize_button: gr.Button
    maximize_stop: gr.Button
    maximize_image: gr.Image
    maximize_text: gr.Markdown
    reconstruct_layers: gr.CheckboxGroup
    reconstruct_steps: gr.Slider
    reconstruct_button: gr.Button
    reconstruct_stop: gr.Button
    reconstruct_gallery: gr.Gallery
    reconstruct_text: gr.Markdown
    dream_layer: gr.Dropdown
    dream_octaves: gr.Slider
    dream_steps: gr.Slider
    dream_button: gr.Button
    dream_stop: gr.Button
    dream_image: gr.Image
    dream_download: gr.DownloadButton
    dream_text: gr.Markdown


def build_inside_tab(backbone: str) -> InsideTab:
    """The Inside the network tab, set up for ``backbone`` (the Explain tab's backbone and image are used)."""
    with gr.Tab("Inside the network"):
        gr.Markdown(GALLERY_HELP)
        items, text = gallery_items(backbone)
        gallery = gr.Gallery(items, label="What does each layer respond to? (shipped, synthesized in advance)",
                             columns=4, height="auto", object_fit="contain")
        gallery_text = gr.Markdown(text)
        maximize = _maximize(backbone)
        reconstruct = _reconstruct(backbone)
        dream = _dream(backbone)
    return InsideTab(gallery, gallery_text, *maximize, *reconstruct, *dream)


def _maximize(backbone: str) -> tuple:
    gr.Markdown(MAXIMIZE_HELP)
    with gr.Row():
        layer = gr.Dropdown(inside_layer_choices(backbone), value=dream_layer(backbone), label="Layer",
                            allow_custom_value=True)  # a raw API call may name any layer: camdemo checks it
        channel = gr.Number(value=0, precision=0, minimum=0, label="Channel")
        neuron = gr.Checkbox(value=False, label="Center neuron only")
        steps = NumberSlider(16, 512, value=128, step=16, label="Steps (the step budget)")
    with gr.Row():
        button = gr.Button("Synthesize this channel", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    image = gr.Image(label="The image that excites this channel most", type="filepath", interactive=False)
    return layer, channel, neuron, steps, button, stop, image, gr.Markdown()


def _reconstruct(backbone: str) -> tuple:
    gr.Markdown(RECONSTRUCT_HELP)
    layers, chosen = reconstruction_layers(backbone)
    with gr.Row():
        boxes = LayerCheckboxes(layers, value=chosen, label="Layers (early → late)")
        steps = NumberSlider(20, 400, value=100, step=10, label="Steps per layer")
    with gr.Row():
        button = gr.Button("Reconstruct from these layers", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    gallery = gr.Gallery(label="Your image, then what each layer keeps", columns=5, height="auto",
                         object_fit="contain")
    return boxes, steps, button, stop, gallery, gr.Markdown()


def _dream(backbone: str) -> tuple:
    gr.Markdown(DREAM_HELP)
    with gr.Row():
        layer = gr.Dropdown(inside_layer_choices(backbone), value=dream_layer(backbone), label="Layer to amplify",
                            allow_custom_value=True)
        octaves = NumberSlider(1, 4, value=3, step=1, label="Octaves")
        steps = NumberSlider(2, 20, value=8, step=1, label="Steps per octave")
    with gr.Row():
        button = gr.Button("Dream", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    image = gr.Image(label="Deep Dream", type="filepath", interactive=False)
    download = gr.DownloadButton("Deep Dream (PNG)", size="sm")
    return layer, octaves, steps, button, stop, image, download, gr.Markdown()
