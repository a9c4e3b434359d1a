"""Reduced precision (``precision="half"``, ``"float16"``, ``"bfloat16"``): the layer methods' maps stay
within ``camdemo.PRECISION_TOLERANCE`` of float32, and nothing else changes precision behind one's back.

float16 is the GPU's format; torch also runs it on the CPU (slowly), so its arithmetic is checked here
too. ``test_cuda.py`` repeats the check with the GPU's own kernels where there is one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import camdemo
from camdemo.explainers import Target, base, get_method

from tests.helpers import ASSETS


def assert_within_tolerance(reduced: camdemo.Explanation, full: camdemo.Explanation) -> None:
    tolerance = camdemo.PRECISION_TOLERANCE[reduced.precision]
    assert reduced.class_index == full.class_index
    assert np.abs(reduced.heatmap - full.heatmap).max() <= tolerance.max_heatmap_difference
    assert np.corrcoef(reduced.heatmap.ravel(), full.heatmap.ravel())[0, 1] >= tolerance.min_correlation
    assert abs(reduced.class_probability - full.class_probability) <= tolerance.max_probability_difference


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
@pytest.mark.parametrize("method", ["cam", "gradcam", "layercam", "eigencam"])
@pytest.mark.parametrize("image", ["cat_and_coffee.jpg", "astronaut.jpg"])
@pytest.mark.slow
def test_layer_methods_in_reduced_precision_stay_within_the_stated_tolerance(precision, method, image):
    full = camdemo.explain(ASSETS / image, backbone="efficientnet_lite0", method=method, device="cpu")
    reduced = camdemo.explain(ASSETS / image, backbone="efficientnet_lite0", method=method,
                              class_index=full.class_index, device="cpu", precision=precision)
    assert (full.precision, reduced.precision) == ("float32", precision)
    assert f"in {precision}" in reduced.summary and "float" not in full.summary
    assert not np.array_equal(reduced.heatmap, full.heatmap)  # it really ran in another precision
    assert_within_tolerance(reduced, full)


def test_half_means_bfloat16_on_a_cpu_and_pixel_gradient_methods_stay_in_float32():
    """bfloat16 flips ReLU6 gates on the way to the pixels: saliency's correlation with float32 fell to 0.56."""
    assert camdemo.explain(ASSETS / "coffee.jpg", backbone="efficientnet_lite0", method="gradcam", device="cpu",
                           precision="half").precision == "bfloat16"
    full = camdemo.explain(ASSETS / "coffee.jpg", backbone="efficientnet_lite0", method="saliency", device="cpu")
    asked = camdemo.explain(ASSETS / "coffee.jpg", backbone="efficientnet_lite0", method="saliency", device="cpu",
                            precision="half")
    assert asked.precision == "float32" and np.array_equal(asked.heatmap, full.heatmap)
    honored = {info.name for info in camdemo.methods("efficientnet_lite0") if info.reduced_precision}
    assert {"cam", "gradcam", "scorecam"} <= honored
    assert not {"saliency", "integrated_gradients", "occlusion", "guided_gradcam"} & honored
    with pytest.raises(camdemo.CamdemoError, match="Unknown precision 'int8'. Choose one of: float32, half"):
        camdemo.explain(ASSETS / "coffee.jpg", precision="int8")


def test_the_forward_cache_keeps_precisions_apart(monkeypatch):
    """CAM reuses a cached forward pass for another class; a float32 one must not answer a half request."""
    image = ASSETS / "chelsea_cat.jpg"
    full = camdemo.explain(image, backbone="efficientnet_lite0", method="cam", device="cpu", precision="float32")
    monkeypatch.setenv("CAMDEMO_PRECISION", "half")  # the default when not told, as `app.py --precision half`
    half = camdemo.explain(image, backbone="efficientnet_lite0", method="cam", device="cpu")
    again = camdemo.explain(image, backbone="efficientnet_lite0", method="cam", device="cpu")
    assert half.precision == again.precision == "bfloat16" and np.array_equal(half.heatmap, again.heatmap)
    assert not np.array_equal(half.heatmap, full.heatmap)
    assert_within_tolerance(half, full)


def test_float16_gradients_are_scaled_so_small_ones_do_not_vanish(monkeypatch):
    """A GAP → linear net whose class weights are ~1e-7: dScore/dA = w_k / 256 ≈ 1e-9, below float16's
    smallest number (6e-8). Scaling the score by 1024 for the backward pass keeps the Grad-CAM map (its
    gradients are still subnormal, hence only 0.99); without it every gradient rounds to zero."""
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
    model = nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4)).eval()
    with torch.no_grad():
        model[3].weight.mul_(1e-6)
    inputs = torch.randn(1, 3, 16, 16)

    def gradcam(dtype):
        target = Target(model=model, inputs=inputs, class_index=1, layer=features[3], layer_name="0.3",
                        autocast_dtype=dtype)
        return get_method("gradcam").compute(target).values

    full, scaled = gradcam(None), gradcam(torch.float16)
    assert scaled.dtype == torch.float32 and full.abs().max() < 1e-8
    assert np.corrcoef(scaled.ravel().numpy(), full.ravel().numpy())[0, 1] > 0.99
    monkeypatch.setattr(base, "FLOAT16_GRADIENT_SCALE", 1.0)
    assert gradcam(torch.float16).abs().max() == 0  # what the scaling prevents
