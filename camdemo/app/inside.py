"""The Inside the network tab's texts, choice lists and captions, as plain values (no Gradio): the shipped gallery
and what a synthesis, a reconstruction or a dream says about itself."""

from __future__ import annotations

import camdemo

GALLERY_HELP = """## Inside the network
What has the network learned to look for? Each picture below was **synthesized** so that one channel of one layer
responds to it as strongly as possible (activation maximization, Olah, Mordvintsev & Schubert, *Feature
Visualization*, Distill 2017). Early layers respond to colors, edges and stripes; middle layers to textures and
parts (fur, eyes, wheels); late layers to whole object parts. The channels shown are those the example pictures
excite most."""
MAXIMIZE_HELP = """### Synthesize a channel
Starting from faint noise, gradient ascent changes the **image** (never the network) until the chosen channel's
mean activation is as high as it gets, with the image described by its decorrelated Fourier spectrum and
randomly shifted, scaled and rotated at each step so that the result is readable (Olah et al., Distill 2017).
Uses the Explain tab's backbone."""
RECONSTRUCT_HELP = """### What does each layer keep?
From noise, gradient descent finds an image whose activations at one layer match those of **your image**, with
a smoothness prior (Mahendran & Vedaldi, *Understanding Deep Image Representations by Inverting Them*,
CVPR 2015). Early layers give the image back almost exactly; deep layers keep what matters for the class and
lose exact colors and positions. Uses the Explain tab's image and backbone."""
DREAM_HELP = """### Deep Dream
Gradient ascent on the strength (½ · mean of the squared activations) of one layer in **your image**, at
several scales (octaves), with random shifts and normalized steps: whatever the layer sees, it sees more of
(Mordvintsev, Olah & Tyka, *Inceptionism*, 2015). Uses the Explain tab's image and backbone; the result is at
most 512 pixels on its longer side."""
TAG = "inside"  # one synthesis, reconstruction or dream at a time per visitor (camdemo.app.jobs)
MAXIMIZE_SIZE = 128  # pixels; ShapesGapNet's are 96
RECONSTRUCT_SIZE = 128
STOPPED = "Stopped: you pressed Stop."


def side_for(backbone: str, side: int) -> int:
    """``side``, or the backbone's input side where that is smaller (ShapesGapNet: 96)."""
    sizes = {info.name: info.input_size for info in camdemo.backbones()}
    return min(side, sizes.get(backbone, side))


def inside_layer_choices(backbone: str) -> list[tuple[str, str]]:
    """(label with channels × height × width, name) of the backbone's layers, early to late."""
    return [(info.label, info.name) for info in reversed(camdemo.layers(backbone))]


def dream_layer(backbone: str) -> str:
    """The layer the tab starts at: a middle one (patterns and parts)."""
    names = [info.name for info in camdemo.layers(backbone)]
    return names[len(names) // 2]


def reconstruction_layers(backbone: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Every layer (early to late) and the three ticked at first, spread from early to late (three fit the
    server's budget at the default steps on every built-in backbone)."""
    choices = inside_layer_choices(backbone)
    names = [name for _, name in choices]
    chosen = names[1:] if len(names) > 3 else names
    if len(chosen) > 3:
        chosen = [chosen[round(i * (len(chosen) - 1) / 2)] for i in range(3)]
    return choices, chosen


def gallery_items(backbone: str) -> tuple[list[tuple[str, str]], str]:
    """The shipped gallery of ``backbone`` as (picture file, caption), and a line on what it shows."""
    entries = camdemo.channel_gallery(backbone)
    if not entries:
        return [], (f"No gallery is shipped for this backbone; synthesize a channel below. Galleries: "
                    f"{', '.join(sorted({entry.backbone for entry in camdemo.channel_gallery()}))}.")
    items = [(str(entry.path), f"{entry.layer} · channel {entry.channel}") for entry in entries]
    layers = list(dict.fromkeys(entry.layer for entry in entries))
    return items, (f"Layers {', '.join(f'`{name}`' for name in layers)}, early to late, "
                   f"{len(entries) // max(1, len(layers))} channels each: those with the largest mean activation on "
                   "the example pictures. Synthesized with `python -m camdemo gallery` (128 steps, seed 0).")


def maximize_text(result: camdemo.ActivationImage) -> str:
    what = {"channel": f"channel {result.channel}", "neuron": f"the center neuron of channel {result.channel}",
            "class": f"class {result.channel}"}[result.objective]
    return (f"**{what}** of `{result.layer}`: mean activation {result.start_value:.3g} on the starting noise → "
            f"**{result.value:.3g}** on this image, after {result.steps} steps ({result.seconds:.1f} s).")


def reconstruction_items(result: camdemo.Reconstruction) -> list[tuple[object, str]]:
    """(picture, caption): the image as reconstructed from, then each layer's reconstruction."""
    items: list[tuple[object, str]] = [(result.original, "your image")]
    items += [(layer.image, f"{layer.layer} · pixel error {layer.pixel_error:.3f}") for layer in result.layers]
    return items


def reconstruction_table(result: camdemo.Reconstruction) -> str:
    rows = ["| layer | activation loss: noise → end | pixel error (0 = your image) | time |",
            "| --- | --- | --- | --- |"]
    rows += [f"| `{layer.layer}` | {layer.start_loss:.3f} → {layer.loss:.3f} | {layer.pixel_error:.3f} | "
             f"{layer.seconds:.1f} s |" for layer in result.layers]
    return ("\n".join(rows) + "\n\nThe activation loss is ‖Φ(x) − Φ(x₀)‖² / ‖Φ(x₀)‖² (0 = the layer cannot tell "
            "them apart); the pixel error grows with depth: deeper layers keep less of the picture itself.")


def dream_text(result: camdemo.Dream) -> str:
    height, width = result.image.shape[:2]
    return (f"`{result.layer}`, {result.octaves} octaves × {result.steps} steps, {width}×{height}: the layer's "
            f"strength ½·mean(A²) went from {result.start_value:.3g} to **{result.value:.3g}** "
            f"({result.seconds:.1f} s).")
