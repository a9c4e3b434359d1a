"""The map lands on the right pixels of the original image, and the overlay is the stated blend."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import camdemo
from camdemo import overlay
from camdemo.models import BackboneSpec, GapLinearHead, register_backbone


class RedDetector(nn.Module):
    """features = red channel (1×1 conv) at half resolution → GAP → linear: CAM of class 0 is the redness map."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 1, 1, bias=False), nn.AvgPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))
            self.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@pytest.fixture
def red_backbone(tmp_path, monkeypatch):
    """A registered backbone that goes through the real loading path (weights file, weights_only load)."""
    from camdemo import models
    monkeypatch.setattr(models, "_SPECS", dict(models._SPECS))
    monkeypatch.setattr(models, "_models", {})
    weights = tmp_path / "red.pth"
    torch.save(RedDetector().state_dict(), weights)
    register_backbone(BackboneSpec(
        name="red_detector", title="Red detector", build=RedDetector, weights_file=lambda: str(weights),
        weights_url=None, input_size=64, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        layer_names=lambda model: ["features"], cam_head=GapLinearHead("features", "fc"),
        categories=("red", "not red"),
    ))
    return "red_detector"


def test_heatmap_maps_back_onto_the_original_non_square_image(red_backbone):
    image = np.zeros((120, 300, 3), np.uint8)
    image[10:40, 220:290, 0] = 255  # a red patch in the top right of a wide image
    result = camdemo.explain(image, backbone=red_backbone, method="cam", class_index=0)
    assert result.heatmap.shape == (120, 300)
    row, column = np.unravel_index(result.heatmap.argmax(), result.heatmap.shape)
    assert 10 <= row < 40 and 220 <= column < 290
    assert result.heatmap[15:35, 230:280].min() > 0.5  # inside the patch
    assert result.heatmap[70:, :150].max() < 0.05  # far from it
    assert result.class_label == "red" and result.predictions[0].label == "red"
    gradcam = camdemo.explain(image, backbone=red_backbone, method="gradcam", class_index=0)
    np.testing.assert_allclose(gradcam.heatmap, result.heatmap, atol=1e-5)  # GAP→linear: Grad-CAM = ReLU(CAM)


def test_normalize_and_flat_maps():
    values, flat = overlay.normalize_map(np.array([[2.0, 4.0], [6.0, 10.0]]))
    np.testing.assert_allclose(values, [[0.0, 0.25], [0.5, 1.0]])
    assert not flat
    values, flat = overlay.normalize_map(np.full((3, 3), 7.0))
    assert flat and not values.any()


def test_blend_is_the_stated_formula():
    image = np.full((4, 4, 3), 100, np.uint8)
    heatmap = np.ones((4, 4), np.float32)
    colour = overlay.colorize(heatmap, "viridis")
    blended = overlay.blend(image, heatmap, "viridis", 0.25)
    expected = np.rint(0.75 * 100 + 0.25 * colour.astype(np.float64))
    assert np.abs(blended.astype(np.float64) - expected).max() <= 1
    assert (overlay.blend(image, heatmap, "jet", 0.0) == image).all()


def test_every_colormap_renders():
    ramp = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    for name in camdemo.COLORMAPS:
        rgb = overlay.colorize(ramp, name)
        assert rgb.shape == (16, 16, 3) and len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50


def test_the_default_colormap_is_perceptually_uniform_and_jet_is_still_there():
    """Lightness (CIELAB L*) along the default colormap rises with the value, in equal steps; jet's does not."""
    def lightness(name):
        rgb = overlay.colorize(np.linspace(0, 1, 256, dtype=np.float32)[None, :], name)
        return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[0, :, 0]

    def uniform(name):
        light = lightness(name)  # 8-bit lookup tables: neighbours may dip by a rounding step
        return bool((np.diff(light) > -0.5).all() and np.corrcoef(light, np.arange(256))[0, 1] > 0.99)

    assert overlay.DEFAULT_COLORMAP in overlay.PERCEPTUALLY_UNIFORM and uniform(overlay.DEFAULT_COLORMAP)
    assert all(uniform(name) for name in overlay.PERCEPTUALLY_UNIFORM)
    assert not uniform("jet") and "jet" in camdemo.COLORMAPS
    assert camdemo.explain(np.zeros((64, 64, 3), np.uint8), backbone="shapes_gapnet").colormap == "viridis"
