"""The bundled example images: which backbone each goes with, and whether an upload is one of them.

No Gradio here. A generated shapes example selects the teaching network (ShapesGapNet); a photo the default
ImageNet backbone.
"""

from __future__ import annotations

from pathlib import Path

import camdemo
from camdemo.assets import EXAMPLES, asset

SHAPES = "shapes_gapnet"  # the teaching network, trained on the generated shapes examples only


def example_backbone(name: str) -> str:
    """Generated shape examples go with the teaching network; photos with the default ImageNet backbone."""
    return SHAPES if name.startswith("shapes_") else camdemo.DEFAULT_BACKBONE


def example_paths(for_shapes: bool) -> list[str]:
    """The bundled examples that go with the teaching network (``for_shapes``) or with the ImageNet backbones."""
    return [str(asset(name)) for name in EXAMPLES if (example_backbone(name) == SHAPES) == for_shapes]


def bundled_example(image_path: str | None) -> str | None:
    """The name of the bundled example this upload is (same name and same bytes), else None."""
    if not image_path:
        return None
    path = Path(image_path)
    original = asset(path.name)
    if path.name in EXAMPLES and original.is_file() and path.stat().st_size == original.stat().st_size \
            and path.read_bytes() == original.read_bytes():
        return path.name
    return None


def backbone_for_image(image_path: str | None, backbone: str, chosen_by_example: bool = False) -> str | None:
    """The backbone a new image should switch to, or None to keep the current one.

    A clicked shapes example selects ShapesGapNet; a photo example goes back to the default backbone. A
    person's own upload goes to the default ImageNet backbone when ShapesGapNet was chosen by an example,
    not by the person (who may want to see how the teaching network fares on a photo).
    """
    if not image_path:
        return None
    name = bundled_example(image_path)
    if name is None:
        return camdemo.DEFAULT_BACKBONE if backbone == SHAPES and chosen_by_example else None
    wanted = example_backbone(name)
    if (wanted == SHAPES) != (backbone == SHAPES):
        return wanted
    return None


# Examples of the Matrices & signals tab: (file in assets/, the model of data it goes with, caption). Adding one is
# one line here; an example whose model is not registered on this server is left out.
DATA_EXAMPLES: list[tuple[str, str, str]] = [
    ("digits_example_1.npy", "digits_gapnet", "A cluttered 9 (true box in digits_example_1.png)"),
    ("digits_example_2.npy", "digits_gapnet", "A cluttered digit among clutter cut from other digits"),
    ("beam_healthy.npy", "beam_gapnet", "A healthy cantilever beam's spectrogram"),
    ("beam_stiffness_loss.npy", "beam_gapnet", "Stiffness loss: the modes moved down (changed rows known)"),
    ("beam_crack.npy", "beam_gapnet", "A breathing crack adds 2·f2 ≈ 82 Hz (rows 19–22)"),
]


def truth_picture(path: str) -> str | None:
    """The example's ground truth drawn (``<stem>_truth.png`` beside ``<stem>.npy``), if there is one."""
    picture = Path(path).with_name(Path(path).stem + "_truth.png")
    return str(picture) if picture.is_file() else None


def data_examples(entries: list[tuple[str, str, str]] | None = None) -> list[tuple[str, str, str]]:
    """(path, backbone, caption) of the data examples (``entries``, default ``DATA_EXAMPLES``) whose model is
    registered here and whose file exists."""
    registered = {info.name for info in camdemo.backbones() if info.data_shape is not None}
    return [(str(asset(name)), backbone, caption) for name, backbone, caption in
            (DATA_EXAMPLES if entries is None else entries) if backbone in registered and asset(name).is_file()]
