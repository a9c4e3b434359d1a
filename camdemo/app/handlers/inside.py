"""The Inside the network tab: the gallery follows the backbone; activation maximization, reconstruction and Deep
Dream run in the slow lane, one at a time per visitor (``TAG``), budgeted before they start, stopped by Stop."""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr

import camdemo
from camdemo.app import inside as views
from camdemo.app.budget import check_budget
from camdemo.app.display import display_image
from camdemo.app.downloads import write_file, write_gallery
from camdemo.app.inputs import NO_IMAGE_FOR_TAB, checked_name, message, whole_number
from camdemo.app.work import on_model, session_of, stop_mine


class GalleryOutputs(NamedTuple):
    channel_gallery: list[tuple[str, str]]
    gallery_text: str


class InsideLayers(NamedTuple):
    maximize_layer: Any  # gr.Dropdown updates: the new backbone's layers
    reconstruct_layers: Any
    dream_layer: Any


class MaximizeOutputs(NamedTuple):
    maximize_image: str
    maximize_text: str


class ReconstructOutputs(NamedTuple):
    reconstruct_gallery: list[tuple[str, str]]
    reconstruct_text: str


class DreamOutputs(NamedTuple):
    dream_image: str
    dream_download: str
    dream_text: str


def on_backbone_inside(backbone: str) -> tuple[GalleryOutputs, InsideLayers]:
    """A new backbone: its gallery and its layers."""
    items, text = views.gallery_items(backbone)
    choices = views.inside_layer_choices(backbone)
    layers, chosen = views.reconstruction_layers(backbone)
    return (GalleryOutputs(items, text),
            InsideLayers(gr.Dropdown(choices=choices, value=views.dream_layer(backbone)),
                         gr.CheckboxGroup(choices=layers, value=chosen),
                         gr.Dropdown(choices=choices, value=views.dream_layer(backbone))))


def show_backbone(backbone: str) -> tuple[Any, ...]:
    """``on_backbone_inside`` flattened, for Gradio's outputs list."""
    gallery, layers = on_backbone_inside(backbone)
    return (*gallery, *layers)


def run_maximize(backbone: str, layer: str | None, channel: Any, neuron: bool, steps: Any,
                 request: gr.Request | None = None, progress=gr.Progress()) -> MaximizeOutputs:
    """Activation maximization of one channel (or its center neuron), live."""
    layer = checked_name(layer, "layer")
    steps = whole_number(steps, 16, 512, "steps")
    channel = whole_number(channel, 0, 100_000, "the channel")
    size = views.side_for(backbone, views.MAXIMIZE_SIZE)
    _budget("maximize", backbone=backbone, steps=steps, size=size)
    result = on_model(lambda progress: camdemo.maximize_activation(
        backbone=backbone, layer=layer, channel=channel, neuron=bool(neuron), steps=steps, size=size,
        progress=progress), request=request, progress=progress, tag=views.TAG)
    (path, _), = write_gallery([(result.image, "")], session_of(request))
    return MaximizeOutputs(path, views.maximize_text(result))


def run_reconstruct(image_path: str | None, backbone: str, layers: Any, steps: Any,
                    request: gr.Request | None = None, progress=gr.Progress()) -> ReconstructOutputs:
    """The Explain tab's image reconstructed from each ticked layer."""
    if not image_path:
        raise gr.Error(NO_IMAGE_FOR_TAB, print_exception=False)
    if not layers or not isinstance(layers, (list, tuple)) or not all(isinstance(name, str) for name in layers):
        raise gr.Error("Tick at least one layer to reconstruct from.", print_exception=False)
    steps = whole_number(steps, 20, 400, "steps")
    size = views.side_for(backbone, views.RECONSTRUCT_SIZE)
    _budget("reconstruct", backbone=backbone, steps=steps, size=size, layers=len(layers))
    result = on_model(lambda progress: camdemo.reconstruct(
        display_image(image_path), backbone=backbone, layers=list(layers), steps=steps, size=size,
        progress=progress), request=request, progress=progress, tag=views.TAG)
    items = write_gallery(views.reconstruction_items(result), session_of(request))
    return ReconstructOutputs(items, views.reconstruction_table(result))


def run_dream(image_path: str | None, backbone: str, layer: str | None, octaves: Any, steps: Any,
              request: gr.Request | None = None, progress=gr.Progress()) -> DreamOutputs:
    """Deep Dream of the Explain tab's image at one layer; the result also as a PNG download."""
    if not image_path:
        raise gr.Error(NO_IMAGE_FOR_TAB, print_exception=False)
    layer = checked_name(layer, "layer")
    octaves = whole_number(octaves, 1, 4, "octaves")
    steps = whole_number(steps, 2, 20, "steps")
    _budget("dream", backbone=backbone, steps=steps, size=512, octaves=octaves)
    result = on_model(lambda progress: camdemo.deep_dream(
        display_image(image_path), backbone=backbone, layer=layer, octaves=octaves, steps=steps,
        progress=progress), request=request, progress=progress, tag=views.TAG)
    session = session_of(request)
    (shown, _), = write_gallery([(result.image, "")], session)
    download = write_file(result.image, f"deep_dream_{backbone}_{result.layer}.png", session)
    return DreamOutputs(shown, download, views.dream_text(result))


def stop_inside(request: gr.Request | None = None) -> None:
    """Stop: the visitor's running synthesis, reconstruction or dream stops at its next step."""
    stop_mine(request, views.TAG, views.STOPPED)


def _budget(kind: str, **settings: Any) -> None:
    """Refuse, before any work, a run whose estimate is over the server's budget (or an unknown backbone)."""
    try:
        cost = camdemo.inside_cost(kind, **settings)
    except camdemo.CamdemoError as error:
        raise message(error) from None
    check_budget(cost)
