"""Definitions that must hold on every backbone, not only on the ones where the weak spot does not show
(issue 18): the layer methods at DenseNet's last layer, XGrad-CAM on signed activations, Score-CAM's
channel subset."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from camdemo.api import explain_on_model
from camdemo.explainers import ScoreCAM, Target, XGradCAM
from camdemo.models import backbone_names, get_spec, load_model

from tests.helpers.networks import SignedFeaturesNet

CAM_HEAD_BACKBONES = [name for name in backbone_names() if get_spec(name).cam_head is not None]


@functools.cache
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
    spec = get_spec(name)
    model, layer = backbone_model(name), spec.cam_head.layer
    image = cat_image if spec.data_shape is None else \
        np.random.default_rng(0).random(spec.data_shape).astype(np.float32)  # a data model: a matrix
    cam = explain_on_model(model, image, backbone=name, method="cam", layer=layer)
    for method in ("gradcam", "xgradcam", "hirescam"):
        other = explain_on_model(model, image, backbone=name, method=method, layer=layer,
                                 class_index=cam.class_index)
        np.testing.assert_allclose(other.raw_map * cam.raw_map.size, cam.raw_map, rtol=1e-4,
                                   atol=1e-4 * np.abs(cam.raw_map).max(), err_msg=method)


# --- 2. XGrad-CAM where activations can be negative ---------------------------------------------------


def _xgradcam(model: nn.Module, tiny_input: torch.Tensor):
    return XGradCAM().compute(Target(model.eval(), tiny_input, 0, model.features, "features"))


def test_xgradcam_zero_sum_channel_gets_a_bounded_weight(tiny_input):
    """w_k = Σ A_k·g_k / Σ|A_k|:  w1 = (1 + 4) / 10 = 0.5 (= the paper's, f1 ≥ 0);  w2 = 1.5 / 4 = 0.375
    (the paper's ΣA = 0 would give 1.5 / (0 + ε): 1.5e7 with ε = 1e-7).
    Map = 0.5·f1 + 0.375·f2 = [[0.5 − 0.5625, 1 − 0.1875], [1.5 + 0.1875, 2 + 0.5625]]
        = [[−0.0625, 0.8125], [1.6875, 2.5625]]. The note says that the Σ|A| rule was used."""
    result = _xgradcam(SignedFeaturesNet(), tiny_input)
    torch.testing.assert_close(result.values, torch.tensor([[-0.0625, 0.8125], [1.6875, 2.5625]]))
    assert "Σ|A|" in result.note


def test_xgradcam_is_continuous_through_a_zero_channel_sum(tiny_input):
    """Shifting f2 by δ = ±1e-3 moves Σ f2 from −4e-3 to +4e-3. Σ|f2| stays 4, so w2 = (1.5 + δ) / 4 and the
    map moves by about δ; the paper's 1.5 / Σf2 would flip from −375 to +375."""
    below = _xgradcam(SignedFeaturesNet(shift=-1e-3), tiny_input).values
    above = _xgradcam(SignedFeaturesNet(shift=1e-3), tiny_input).values
    torch.testing.assert_close(below, above, rtol=0, atol=1e-2)


# --- 3. Score-CAM with fewer passes than channels -------------------------------------------------------


def _scorecam(model: nn.Module, tiny_input: torch.Tensor, class_index: int, channels: int):
    method = ScoreCAM()
    return method.compute(Target(model, tiny_input, class_index, model.features, "features",
                                 options=method.check_options({"channels": channels})))


def test_scorecam_subset_equals_the_full_method_when_every_score_is_equal(tiny_gap_net, tiny_input):
    """Class 0's row of the linear layer set to 0: y_0 = 0.1 for every input, so every masked score is equal,
    α = softmax(0.1, 0.1) = (1/2, 1/2) and the full map is (f1 + f2) / 2 = ([[1, 2], [3, 4]] + [[0, 0], [0.5, 1]]) / 2
    = [[0.5, 1], [1.75, 2.5]]. With channels=1 only f1 (variance 1.25 > 0.17) is scored; f2 gets the lowest
    measured score, 0.1, so the map is the same. (Weight 0 for f2 would give f1 alone.)"""
    with torch.no_grad():
        tiny_gap_net.fc.weight[0] = 0.0
    full = _scorecam(tiny_gap_net, tiny_input, 0, channels=0)
    subset = _scorecam(tiny_gap_net, tiny_input, 0, channels=1)
    expected = torch.tensor([[0.5, 1.0], [1.75, 2.5]])
    torch.testing.assert_close(full.values, expected)
    torch.testing.assert_close(subset.values, expected)
    assert full.note == ""
    assert "1 of the 2 varying channels were scored" in subset.note and "carry 50% of the weight" in subset.note

