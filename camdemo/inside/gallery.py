"""The precomputed gallery: what each main layer of the built-in backbones responds to, shipped in ``assets/inside``.

    python -m camdemo gallery                  # every backbone in GALLERY_LAYERS (minutes on 2 cores)
    python -m camdemo gallery shapes_gapnet    # one backbone, its entries replaced in the index

Which channels: for each layer, the ``CHANNELS`` channels with the largest mean activation (over positions and
images) on the bundled example pictures the backbone is meant for (the photos for the ImageNet backbones, the
generated shapes for ShapesGapNet): the channels these pictures excite most, so a visitor can look for the
same patterns in them. Each channel's image is synthesized by ``maximize_channels`` (the settings in
``SETTINGS``, seed 0) and saved as a small JPEG; ``assets/inside/index.json`` lists them with the activation
each image reaches and the mean the example pictures reach.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..assets import ASSETS_DIR, EXAMPLES, asset
from ..errors import CamdemoError
from ..images import load_image
from .activation_max import maximize_channels
from .probe import probe

GALLERY_DIR = ASSETS_DIR / "inside"
INDEX = GALLERY_DIR / "index.json"
CHANNELS = 4
# Early, middle and late stages of each backbone (names from ``camdemo.layers``).
GALLERY_LAYERS: dict[str, tuple[str, ...]] = {
    "efficientnet_lite0": ("blocks.4", "blocks.10", "blocks.15"),
    "efficientnet_lite1": ("blocks.6", "blocks.14", "blocks.20"),
    "efficientnet_lite2": ("blocks.6", "blocks.14", "blocks.20"),
    "shapes_gapnet": ("block1", "block2", "features"),
}
SETTINGS = {"steps": 128, "size": 128, "seed": 0}
SHAPES_SIZE = 96  # ShapesGapNet's input side
JPEG_QUALITY = 85
CRITERION = ("the channels with the largest mean activation (over positions and images) on the bundled example "
             "pictures: the photos for the ImageNet backbones, the generated shapes for ShapesGapNet")


@dataclass(frozen=True)
class GalleryEntry:
    """One synthesized channel of the shipped gallery."""

    backbone: str
    layer: str
    channel: int
    file: str  # relative to ``assets/inside``
    value: float  # the channel's mean activation on this image (as synthesized, before JPEG)
    examples_mean: float  # the channel's mean activation on the example pictures
    size: int
    steps: int

    @property
    def path(self) -> Path:
        return GALLERY_DIR / self.file


def channel_gallery(backbone: str | None = None) -> list[GalleryEntry]:
    """The shipped gallery's entries (of ``backbone``, or all), in the index's order: layers early to late."""
    if not INDEX.is_file():
        return []
    entries = [GalleryEntry(**entry) for entry in json.loads(INDEX.read_text())["entries"]]
    return [entry for entry in entries if backbone in (None, entry.backbone)]


def example_pictures(backbone: str) -> list[np.ndarray]:
    """The bundled examples a backbone is meant for: the generated shapes for ShapesGapNet, else the photos."""
    shapes = backbone == "shapes_gapnet"
    return [load_image(asset(name)) for name in EXAMPLES if name.startswith("shapes_") == shapes]


def strongest_channels(backbone: str, layer: str, count: int = CHANNELS) -> list[tuple[int, float]]:
    """The ``count`` channels of ``layer`` with the largest mean activation on ``example_pictures``, strongest
    first, with that mean."""
    found = probe(backbone, layer)
    inputs = torch.cat([found.spec.preprocess(rgb, found.device) for rgb in example_pictures(backbone)])
    with torch.no_grad(), found.reader() as read:
        means = read(inputs).mean(dim=(0, 2, 3))
    top = torch.topk(means, k=min(count, means.numel()))
    return list(zip(top.indices.tolist(), top.values.tolist()))


def build(backbones: list[str], log=print) -> list[GalleryEntry]:
    """Synthesize the gallery of ``backbones``, write their JPEGs and update the index (other backbones kept)."""
    GALLERY_DIR.mkdir(parents=True, exist_ok=True)
    kept = [entry for entry in channel_gallery() if entry.backbone not in backbones]
    made: list[GalleryEntry] = []
    for backbone in backbones:
        if backbone not in GALLERY_LAYERS:
            raise CamdemoError(f"No gallery layers are chosen for '{backbone}'. Choose from: "
                               f"{', '.join(GALLERY_LAYERS)}.")
        size = SHAPES_SIZE if backbone == "shapes_gapnet" else SETTINGS["size"]
        for layer in GALLERY_LAYERS[backbone]:
            started = time.perf_counter()
            strongest = strongest_channels(backbone, layer)
            results = maximize_channels(probe(backbone, layer), [channel for channel, _ in strongest],
                                        steps=SETTINGS["steps"], size=size, seed=SETTINGS["seed"])
            for result, (channel, mean) in zip(results, strongest):
                name = f"{backbone}/{layer}_c{channel}.jpg"
                (GALLERY_DIR / backbone).mkdir(exist_ok=True)
                Image.fromarray(result.image).save(GALLERY_DIR / name, quality=JPEG_QUALITY, optimize=True)
                made.append(GalleryEntry(backbone, layer, channel, name, round(result.value, 4), round(mean, 4),
                                         size, SETTINGS["steps"]))
            log(f"{backbone} {layer}: channels {[c for c, _ in strongest]} in {time.perf_counter() - started:.0f} s")
    order = {name: number for number, name in enumerate(GALLERY_LAYERS)}
    entries = sorted(kept + made, key=lambda entry: order.get(entry.backbone, len(order)))
    INDEX.write_text(json.dumps({"criterion": CRITERION, "settings": SETTINGS,
                                 "entries": [asdict(entry) for entry in entries]}, indent=1) + "\n")
    return made

