"""On the real EfficientNet-Lite weights: sensible predictions and class-discriminative maps."""

from __future__ import annotations

import numpy as np
import pytest

import camdemo

from tests.helpers import ASSETS

pytestmark = pytest.mark.slow  # real weights on photos, every backbone

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
CUP_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug
CAT_HALF_END = 451  # cat_and_coffee.jpg: the cat fills columns 0–450, the cup 451–900


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_examples_get_sensible_top1(backbone):
    assert camdemo.explain(ASSETS / "chelsea_cat.jpg", backbone=backbone).predictions[0].index in CAT_CLASSES
    assert camdemo.explain(ASSETS / "coffee.jpg", backbone=backbone).predictions[0].index in {967, 968}


def test_predictions_are_top5_softmax(cat_image):
    result = camdemo.explain(cat_image)
    probabilities = [p.probability for p in result.predictions]
    assert len(result.predictions) == 5 and probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < sum(probabilities) <= 1.0 + 1e-6
    assert result.predictions[0].label == camdemo.class_names()[result.predictions[0].index]
    assert result.class_index == result.predictions[0].index  # class_index=None explains the top-1


@pytest.mark.parametrize("method", ["gradcam", "cam"])
@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_two_objects_each_class_peaks_on_its_object(method, backbone, pair_image):
    for class_index, on_cat in [(285, True), (281, True), (967, False), (968, False)]:
        heatmap = camdemo.explain(pair_image, backbone=backbone, method=method, class_index=class_index).heatmap
        row, column = np.unravel_index(heatmap.argmax(), heatmap.shape)
        assert (column < CAT_HALF_END) == on_cat, f"{method} peak for class {class_index} at column {column}"
        cat_mass, cup_mass = heatmap[:, :CAT_HALF_END].mean(), heatmap[:, CAT_HALF_END:].mean()
        assert (cat_mass > cup_mass) == on_cat


def test_grad_cam_at_earlier_layers_is_finer(cat_image):
    late = camdemo.explain(cat_image, layer="head")
    early = camdemo.explain(cat_image, layer="blocks.7")
    assert late.raw_map.shape == (7, 7) and early.raw_map.shape == (14, 14)
    assert early.heatmap.shape == late.heatmap.shape == cat_image.shape[:2]
