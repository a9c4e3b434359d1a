"""The teaching network registered as a backbone like any other: ShapesGapNet, trained here on generated shapes."""

from __future__ import annotations

from ..assets import ASSETS_DIR
from ..models import BackboneSpec, GapLinearHead, register_backbone
from . import scenes
from .network import ShapesGapNet

def shapes_spec() -> BackboneSpec:
    weights = ASSETS_DIR / "shapes_gapnet.pt"
    return BackboneSpec(
        name="shapes_gapnet",
        title="ShapesGapNet (teaching)",
        build=lambda: ShapesGapNet(len(scenes.CLASSES)),
        weights_file=lambda: str(weights) if weights.is_file() else None,
        weights_url=None,
        input_size=scenes.IMAGE_SIZE,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        layer_names=lambda model: ["features", "block2", "block1", "stem"],
        cam_head=GapLinearHead("features", "classifier"),
        categories=scenes.CLASSES,
        note="a small GAP network trained here on generated cluttered shapes with known boxes; works offline",
        install_hint="Train it with `python -m camdemo.teaching.train`.",
        repair_hint=("Restore the committed copy with `git checkout assets/shapes_gapnet.pt`, or train a new one "
                     "with `python -m camdemo.teaching.train`."),
    )




register_backbone(shapes_spec())
