"""On a GPU: the same maps as on the CPU. Runs only where CUDA is present (never in CI here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import camdemo

from tests.helpers import ASSETS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# float32 on both; cuDNN picks other algorithms and sums in another order, so maps agree to ~1e-4.
TOLERANCE = 2e-3


@pytest.mark.parametrize("method", ["cam", "gradcam", "saliency"])
@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "shapes_gapnet"])
def test_gpu_and_cpu_maps_agree(method, backbone):
    image = ASSETS / ("cat_and_coffee.jpg" if backbone != "shapes_gapnet" else "shapes_two.png")
    cpu = camdemo.explain(image, backbone=backbone, method=method, device="cpu")
    gpu = camdemo.explain(image, backbone=backbone, method=method, device="cuda")
    assert gpu.device.startswith("cuda") and gpu.class_index == cpu.class_index
    if method == "saliency":  # every ReLU6 gate on the way to the pixels: compare the pattern
        assert np.corrcoef(gpu.heatmap.ravel(), cpu.heatmap.ravel())[0, 1] > 0.999
    else:
        np.testing.assert_allclose(gpu.heatmap, cpu.heatmap, atol=TOLERANCE)
    np.testing.assert_allclose([p.probability for p in gpu.predictions], [p.probability for p in cpu.predictions],
                               atol=1e-4)


@pytest.mark.parametrize("method", ["cam", "gradcam", "gradcampp", "scorecam"])
def test_float16_maps_stay_within_the_stated_tolerance(method):
    """precision="half" on the GPU (float16) against float32 on the GPU, same class."""
    tolerance = camdemo.PRECISION_TOLERANCE["float16"]
    for name in ("cat_and_coffee.jpg", "astronaut.jpg", "coffee.jpg"):
        full = camdemo.explain(ASSETS / name, backbone="efficientnet_lite0", method=method, device="cuda")
        half = camdemo.explain(ASSETS / name, backbone="efficientnet_lite0", method=method,
                               class_index=full.class_index, device="cuda", precision="half")
        assert half.precision == "float16" and half.class_index == full.class_index
        assert np.abs(half.heatmap - full.heatmap).max() <= tolerance.max_heatmap_difference
        assert np.corrcoef(half.heatmap.ravel(), full.heatmap.ravel())[0, 1] >= tolerance.min_correlation
        assert abs(half.class_probability - full.class_probability) <= tolerance.max_probability_difference
