"""Definitions that must hold on every backbone, not only on the ones where the weak spot does not show
(issue 18): the layer methods at DenseNet's last layer, XGrad-CAM on signed activations, Score-CAM's
channel subset."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from camdemo.engine import explain_on_model
from camdemo.models import backbone_names, get_spec, load_model

CAM_HEAD_BACKBONES = [name for name in backbone_names() if get_spec(name).cam_head is not None]


@functools.lru_cache(maxsize=None)
def backbone_model(name: str) -> nn.Module:
    """Real weights where they are on this machine (EfficientNet-Lite, ShapesGapNet), else seeded random ones."""
    spec = get_spec(name)
    if spec.offline:
        return load_model(name)
    torch.manual_seed(0)
    return spec.build().eval().requires_grad_(False)


# --- 1. the layer methods read what global pooling reads ----------------------------------------------


@pytest.mark.parametrize("name", CAM_HEAD_BACKBONES)
def test_gradcam_xgradcam_hirescam_equal_cam_over_area_on_every_gap_backbone(name, cat_image):
    """At the layer pooling reads, y_c = Σ_k w_k^c · mean(F_k) + b_c, so ∂y_c/∂F_k(i, j) = w_k^c / Z at every
    position (Z = h·w). Then Grad-CAM's α_k = w_k^c / Z; XGrad-CAM's w_k = Σ_ij (F_k / ΣF_k) · w_k^c / Z =
    w_k^c / Z (F ≥ 0 here); HiResCAM's Σ_k g ⊙ F = Σ_k w_k^c F_k / Z. All three signed maps are CAM / Z.

    On DenseNet F = ReLU(features.norm5): the gradient must be taken at F, where it is w^c / Z also where
    F = 0, not through the network's ReLU, which passes none there."""
    model, layer = backbone_model(name), get_spec(name).cam_head.layer
    cam = explain_on_model(model, cat_image, backbone=name, method="cam", layer=layer)
    for method in ("gradcam", "xgradcam", "hirescam"):
        other = explain_on_model(model, cat_image, backbone=name, method=method, layer=layer,
                                 class_index=cam.class_index)
        np.testing.assert_allclose(other.raw_map * cam.raw_map.size, cam.raw_map, rtol=1e-4,
                                   atol=1e-4 * np.abs(cam.raw_map).max(), err_msg=method)
