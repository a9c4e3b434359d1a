"""Each method against its paper's definition: hand-computed values, identities, direct autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import camdemo
from camdemo.models import GapLinearHead, load_model
from camdemo.explainers import CAM, GradCAM, Saliency, Target
from camdemo.drawing.overlay import normalize_map

from tests.helpers.networks import FlattenHeadNet, random_gap_net


def tiny_target(model, inputs, class_index=None, layer="features"):
    return Target(model=model, inputs=inputs, class_index=class_index, layer=model.get_submodule(layer),
                  layer_name=layer, head=GapLinearHead("features", "fc"))


def test_cam_equals_hand_computed_values(tiny_gap_net, tiny_input):
    """f1 = x = [[1,2],[3,4]], f2 = ReLU(0.5x − 1) = [[0,0],[0.5,1]].

    CAM_0 = 2·f1 − 1·f2 = [[2,4],[5.5,7]];  CAM_1 = −1·f1 + 3·f2 = [[−1,−2],[−1.5,−1]].
    Logits: mean(CAM_0) + 0.1 = 4.725 and mean(CAM_1) − 0.2 = −1.575, so the top-1 class is 0.
    """
    top1 = CAM().compute(tiny_target(tiny_gap_net, tiny_input))
    assert top1.class_index == 0
    torch.testing.assert_close(top1.values, torch.tensor([[2.0, 4.0], [5.5, 7.0]]))
    torch.testing.assert_close(top1.logits, torch.tensor([4.725, -1.575]))
    other = CAM().compute(tiny_target(tiny_gap_net, tiny_input, class_index=1))
    torch.testing.assert_close(other.values, torch.tensor([[-1.0, -2.0], [-1.5, -1.0]]))


def test_gradcam_equals_hand_computed_values_on_gap_net(tiny_gap_net, tiny_input):
    """∂y_0/∂f_k(i,j) = w_k/4, so α = (0.5, −0.25) and Grad-CAM_0 = ReLU(0.5·f1 − 0.25·f2) = [[0.5,1],[1.375,1.75]].

    The raw map keeps the sign. For class 1 (α = (−0.25, 0.75)) every position is negative,
    [[−0.25, −0.5], [−0.375, −0.25]], so Grad-CAM (its positive part) is all zeros.
    """
    result = GradCAM().compute(tiny_target(tiny_gap_net, tiny_input, class_index=0))
    torch.testing.assert_close(result.values, torch.tensor([[0.5, 1.0], [1.375, 1.75]]))
    empty = GradCAM().compute(tiny_target(tiny_gap_net, tiny_input, class_index=1))
    torch.testing.assert_close(empty.values, torch.tensor([[-0.25, -0.5], [-0.375, -0.25]]))
    torch.testing.assert_close(torch.relu(empty.values), torch.zeros(2, 2))


def test_gradcam_averages_position_dependent_gradients(tiny_gap_net, tiny_input):
    """α_1 = mean([[1,0],[0,1]]) = 0.5, α_2 = mean([[2,2],[0,0]]) = 1: map = 0.5·f1 + f2 = [[0.5,1],[2,3]]."""
    model = FlattenHeadNet(tiny_gap_net).eval()
    result = GradCAM().compute(tiny_target(model, tiny_input, class_index=0))
    torch.testing.assert_close(result.values, torch.tensor([[0.5, 1.0], [2.0, 3.0]]))


def _relu_normalized(values: torch.Tensor) -> np.ndarray:
    return normalize_map(torch.relu(values).cpu().numpy())[0]


def _gradcam_equals_cam(model, inputs, layer, head, classes):
    for class_index in classes:
        target = Target(model, inputs, class_index, model.get_submodule(layer), layer, head)
        cam = CAM().compute(target)
        gradcam = GradCAM().compute(target)
        np.testing.assert_allclose(_relu_normalized(gradcam.values), _relu_normalized(cam.values), atol=1e-5)
        # before the ReLU the two are proportional: Grad-CAM's signed map = CAM / Z
        np.testing.assert_allclose(normalize_map(gradcam.values.numpy())[0], normalize_map(cam.values.numpy())[0],
                                   atol=1e-5)


def test_gradcam_at_last_layer_equals_relu_cam_random_gap_net():
    model = random_gap_net(classes=5)  # seeds torch with 0
    _gradcam_equals_cam(model, torch.randn(1, 3, 12, 12), "features", GapLinearHead("features", "fc"), range(5))


def test_gradcam_at_last_layer_equals_relu_cam_real_efficientnet_lite0(cat_image):
    model = load_model("efficientnet_lite0")
    from camdemo.models import get_spec
    inputs = get_spec("efficientnet_lite0").preprocess(cat_image)
    _gradcam_equals_cam(model, inputs, "head", GapLinearHead("head", "classifier"), [285, 281, 967, 0])


def test_gradcam_equals_cam_through_inplace_relu_resnet18():
    """ResNet's layer4 ends in ReLU(inplace=True) after `out += identity`: the kept map must be untouched."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval().requires_grad_(False)
    _gradcam_equals_cam(model, torch.randn(1, 3, 64, 64), "layer4", GapLinearHead("layer4", "fc"), [0, 7, 999])


def test_inplace_operations_do_not_change_gradcam():
    """Grad-CAM at a layer whose output is modified in place downstream equals the out-of-place model's."""
    torch.manual_seed(0)
    inplace = torchvision.models.resnet18(weights=None).eval()
    out_of_place = torchvision.models.resnet18(weights=None).eval()
    out_of_place.load_state_dict(inplace.state_dict())
    for module in out_of_place.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    inputs = torch.randn(1, 3, 64, 64)
    for layer in ["layer4.1.bn2", "layer3.0.conv1", "layer2"]:  # bn2's output gets `+= identity` in place
        a = GradCAM().compute(Target(inplace, inputs, 3, inplace.get_submodule(layer), layer))
        b = GradCAM().compute(Target(out_of_place, inputs, 3, out_of_place.get_submodule(layer), layer))
        torch.testing.assert_close(a.values, b.values)


@pytest.mark.parametrize("builder", [lambda: torchvision.models.resnet18(weights=None),
                                     lambda: load_model("efficientnet_lite0")])
def test_saliency_equals_direct_autograd(builder):
    torch.manual_seed(1)
    model = builder().eval()
    inputs = torch.randn(1, 3, 96, 96)
    result = Saliency().compute(Target(model, inputs, class_index=42))
    x = inputs.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[0, 42], x)
    torch.testing.assert_close(result.values, gradient[0].abs().amax(dim=0))
    assert result.class_index == 42


def test_explain_heatmap_is_normalized_original_size_and_cam_is_signed(cat_image):
    result = camdemo.explain(cat_image, method="cam")
    assert result.heatmap.shape == cat_image.shape[:2] and result.heatmap.dtype == np.float32
    assert result.heatmap.min() == 0.0 and result.heatmap.max() == pytest.approx(1.0)
    assert result.overlay.shape == cat_image.shape and result.overlay.dtype == np.uint8
    assert result.raw_map.shape == (7, 7)
    against = camdemo.explain(cat_image, method="cam", class_index=0)  # 'tench': the image argues against it
    assert against.raw_map.min() < 0  # CAM keeps its sign, as in the paper


def test_cam_mean_plus_bias_is_the_logit_real_weights(cat_image):
    """y_c = mean_{x,y} M_c(x, y) + b_c: the identity that makes CAM the class score resolved in space."""
    from camdemo.models import get_spec
    model = load_model("efficientnet_lite0")
    inputs = get_spec("efficientnet_lite0").preprocess(cat_image)
    for class_index in [285, 0, 504]:
        head = GapLinearHead("head", "classifier")
        result = CAM().compute(Target(model, inputs, class_index, model.head, "head", head))
        expected = result.logits[class_index] - model.classifier.bias[class_index]
        torch.testing.assert_close(result.values.mean(), expected, rtol=1e-5, atol=1e-5)


def test_flat_map_is_reported_not_hidden(cat_image):
    """Grad-CAM for a class with no positive evidence gives a flat map and says so."""
    scores = [camdemo.explain(cat_image, method="gradcam", class_index=c) for c in range(0, 1000, 97)]
    flat = [s for s in scores if (s.raw_map <= 0).all()]
    for result in flat:
        assert "flat" in result.note and result.heatmap.max() == 0.0


def test_gradcam_steps_are_the_pieces_of_the_same_map(pair_image):
    from camdemo.teaching.steps import gradcam_steps
    steps = gradcam_steps(pair_image, class_index=967, top=6)
    assert steps.class_label == "espresso" and steps.layer == "head" and steps.channels == 1280
    np.testing.assert_array_equal(steps.weighted_sum, camdemo.explain(pair_image, class_index=967).raw_map)
    np.testing.assert_allclose(steps.after_relu, np.maximum(steps.weighted_sum, 0))
    np.testing.assert_array_equal(steps.heatmap, camdemo.explain(pair_image, class_index=967).heatmap)
    shares = [step.mean_contribution for step in steps.strongest]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0 > steps.weakest[0].mean_contribution
    for step in steps.strongest:  # contribution = α_k · mean(A_k)
        assert step.mean_contribution == pytest.approx(step.weight * step.activation.mean(), rel=1e-4)
