"""What a map explains (``Objective``): s · (y_c − y_b). Every method that is linear in the explained score must
give, for "c rather than b", its map for c minus its map for b, and for "what lowers c" the negated map.

On ``TinyGapNet`` by hand (tests/helpers/networks.py): CAM for class 0 rather than 1 weights the features by
w^0 − w^1 = (2 − (−1), −1 − 3) = (3, −4); with f1 = x = [[1, 2], [3, 4]] and f2 = [[0, 0], [0.5, 1]] the map is
3·f1 − 4·f2 = [[3, 6], [7, 8]].
"""

from __future__ import annotations

import pytest
import torch

from camdemo.errors import CamdemoError
from camdemo.explainers import Target, get_method
from camdemo.explainers.base import Objective
from tests.helpers.networks import TINY_HEAD, TinyGapNet, random_gap_net, tiny_input


def _map(method: str, model, inputs, class_index: int, objective: Objective | None = None,
         layer: str = "features", head=None, options=None) -> torch.Tensor:
    target = Target(model=model, inputs=inputs, class_index=class_index, layer=model.get_submodule(layer),
                    layer_name=layer, head=head, objective=objective or Objective(), options=options or {})
    return get_method(method).compute(target).values


def test_cam_contrast_by_hand():
    model = TinyGapNet().eval()
    values = _map("cam", model, tiny_input(), 0, Objective(versus=1), head=TINY_HEAD)
    assert torch.allclose(values, torch.tensor([[3.0, 6.0], [7.0, 8.0]]))


@pytest.mark.parametrize("method", ["cam", "input_x_gradient", "integrated_gradients", "occlusion"])
def test_contrast_is_the_difference_of_the_two_maps(method):
    torch.manual_seed(1)
    model, image = random_gap_net(), torch.rand(1, 3, 16, 16)
    options = {"patch": 4, "stride": 4} if method == "occlusion" else {}
    head = TINY_HEAD if method == "cam" else None
    both = _map(method, model, image, 2, Objective(versus=4), head=head, options=options)
    expected = _map(method, model, image, 2, head=head, options=options) - \
        _map(method, model, image, 4, head=head, options=options)
    assert torch.allclose(both, expected, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize("method", ["cam", "input_x_gradient", "occlusion"])
def test_lowering_the_score_negates_the_map(method):
    torch.manual_seed(1)
    model, image = random_gap_net(), torch.rand(1, 3, 16, 16)
    options = {"patch": 4, "stride": 4} if method == "occlusion" else {}
    head = TINY_HEAD if method == "cam" else None
    down = _map(method, model, image, 1, Objective(direction=-1), head=head, options=options)
    assert torch.allclose(down, -_map(method, model, image, 1, head=head, options=options), atol=1e-6)


def test_gradcam_contrast_weights_channels_by_the_gradient_difference():
    """Grad-CAM of "c rather than b": α_k = mean ∂(y_c − y_b)/∂A_k, raw map Σ α_k A_k (signed; the display
    rectifies), by autograd here."""
    torch.manual_seed(2)
    model, image = random_gap_net(), torch.rand(1, 3, 16, 16)
    values = _map("gradcam", model, image, 0, Objective(versus=3))
    features = model.features(image).detach().requires_grad_(True)
    logits = model.fc(features.mean(dim=(2, 3)))
    (gradients,) = torch.autograd.grad(logits[0, 0] - logits[0, 3], features)
    expected = (gradients[0].mean(dim=(1, 2))[:, None, None] * features[0]).sum(0).detach()
    assert values.shape == expected.shape, (values.shape, expected.shape)
    assert torch.allclose(values, expected, rtol=1e-4, atol=1e-9), float((values - expected).abs().max())


def test_integrated_gradients_completeness_holds_for_the_contrast():
    """Σ IG = (y_c − y_b)(x) − (y_c − y_b)(baseline): completeness is stated for the explained score."""
    torch.manual_seed(3)
    model, image = random_gap_net(), torch.rand(1, 3, 16, 16)
    objective = Objective(versus=1)
    target = Target(model=model, inputs=image, class_index=0, objective=objective, options={"steps": 64})
    raw = get_method("integrated_gradients").compute(target)
    with torch.no_grad():
        both = model(torch.cat([image, torch.zeros_like(image)]))
    difference = float((both[0, 0] - both[0, 1]) - (both[1, 0] - both[1, 1]))
    assert abs(float(raw.values.sum()) - difference) < 0.01 * abs(difference)


def test_bad_objectives_are_refused_with_sentences():
    with pytest.raises(CamdemoError, match="direction"):
        Objective(direction=0)
    with pytest.raises(CamdemoError, match="contrast class 7 is out of range"):
        Objective(versus=7).check(5)
