"""The map lands on the right pixels of the original image, and the overlay is the stated blend."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

import camdemo
from camdemo.drawing import overlay

from tests.helpers.registry import isolated_registry, register_red_detector


@pytest.fixture
def red_backbone(tmp_path):
    """RedDetector (tests/helpers/networks.py) registered as a backbone that goes through the real loading
    path (weights file, weights_only load), in a registry and model cache of this test's own."""
    with isolated_registry(fresh_models=True):
        yield register_red_detector(tmp_path)


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
    color = overlay.colorize(heatmap, "viridis")
    blended = overlay.blend(image, heatmap, "viridis", 0.25)
    expected = np.rint(0.75 * 100 + 0.25 * color.astype(np.float64))
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
        light = lightness(name)  # 8-bit lookup tables: neighbors may dip by a rounding step
        return bool((np.diff(light) > -0.5).all() and np.corrcoef(light, np.arange(256))[0, 1] > 0.99)

    assert overlay.DEFAULT_COLORMAP in overlay.PERCEPTUALLY_UNIFORM and uniform(overlay.DEFAULT_COLORMAP)
    assert all(uniform(name) for name in overlay.PERCEPTUALLY_UNIFORM)
    assert not uniform("jet") and "jet" in camdemo.COLORMAPS
    assert camdemo.explain(np.zeros((64, 64, 3), np.uint8), backbone="shapes_gapnet").colormap == "viridis"


def _with_map(result, raw_map, sign="positive"):
    """``result`` with a hand-made raw map over an image of the map's own size (no upsampling)."""
    return replace(result, raw_map=np.asarray(raw_map, np.float32), sign=sign,
                   image=np.zeros((*np.shape(raw_map), 3), np.uint8))


def test_the_color_scale_is_labeled_with_the_shown_parts_ends(red_backbone):
    """raw = [[-2, 1], [3, 0.5]]: for the class max(v, 0) spans 0…3, against it max(−v, 0) spans 0…2,
    both signs share ±max|v| = ±3 with 0 in the middle."""
    result = camdemo.explain(np.zeros((64, 64, 3), np.uint8), backbone=red_backbone, method="cam", class_index=0)
    raw = [[-2.0, 1.0], [3.0, 0.5]]
    positive, negative, both = (_with_map(result, raw, sign) for sign in ("positive", "negative", "both"))
    assert positive.value_range() == (0.0, 3.0)
    assert overlay.scale_labels(*positive.value_range()) == [(0.0, "0"), (1.0, "3")]
    assert negative.value_range() == (0.0, 2.0)
    assert both.value_range() == (-3.0, 3.0)
    assert overlay.scale_labels(*both.value_range()) == [(0.0, "-3"), (0.5, "0"), (1.0, "+3")]
    assert _with_map(result, [[1.5, 2.0], [4.0, 3.25]]).value_range() == (1.5, 4.0)  # all positive: min to max
    assert overlay.scale_labels(0.000123456, 12.3456) == [(0.0, "0.000123"), (1.0, "12.3")]


def test_the_scale_ends_are_the_values_at_the_shown_heatmaps_ends(red_backbone):
    """A one-pixel peak of 8 in a 4×4 map, shown over 16×16: bicubic upsampling lowers the peak, the
    heatmap is stretched again, so its 1 stands for less than 8: for the value the map has there."""
    result = camdemo.explain(np.zeros((64, 64, 3), np.uint8), backbone=red_backbone, method="cam", class_index=0)
    raw = np.zeros((4, 4), np.float32)
    raw[1, 2] = 8.0
    peak = replace(result, raw_map=raw, image=np.zeros((16, 16, 3), np.uint8))
    heatmap, _ = overlay.display_heatmap(raw, (16, 16))
    low, high = peak.value_range()
    assert low == 0.0 and high < 8.0
    assert high == pytest.approx(peak.map_values()[np.unravel_index(heatmap.argmax(), heatmap.shape)], rel=1e-5)


@pytest.mark.parametrize("colormap", ["viridis", "jet", "diverging"])
def test_the_color_bar_runs_through_the_colormap_and_sits_under_the_heatmap(colormap):
    """The bar's first column is colormap(0), its last colormap(1), and every column in between in order."""
    width = 300
    bar = overlay.color_bar(colormap, width, -1.0, 2.0, "evidence for the class, low to high")
    strip = next(row for row in bar if not (row == overlay.SCALE_BACKGROUND).all())  # the bar's top row
    assert (strip[0] == overlay.colorize(np.zeros((1, 1), np.float32), colormap)[0, 0]).all()
    assert (strip[-1] == overlay.colorize(np.ones((1, 1), np.float32), colormap)[0, 0]).all()
    assert (strip == overlay.colorize(np.linspace(0, 1, width, dtype=np.float32)[None, :], colormap)[0]).all()
    heatmap = overlay.colorize(np.random.default_rng(0).random((120, width), np.float32), colormap)
    stacked = overlay.with_color_bar(heatmap, bar)
    assert stacked.shape == (120 + bar.shape[0], width, 3) and (stacked[:120] == heatmap).all()
    with pytest.raises(camdemo.CamdemoError, match="pixels wide"):
        overlay.with_color_bar(heatmap[:, :200], bar)


def test_an_explanations_color_scale_says_what_the_colors_mean():
    assert overlay.scale_caption("positive", True, "Grad-CAM") == "Grad-CAM: evidence for the class, low to high"
    assert overlay.scale_caption("negative") == "evidence against the class, low to high"
    assert "blue: against the class" in overlay.scale_caption("both")
    assert "for or against" in overlay.scale_caption("positive", signed=False)
