"""Backbones: weights load exactly, normalization is the measured one, CAM heads are what they claim."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import camdemo
from camdemo.models import efficientnet_lite
from camdemo.models import (IMAGENET_MEAN, IMAGENET_STD, TF_LITE_MEAN, TF_LITE_STD, architecture, backbone_names,
                               get_spec, load_model)

from tests.helpers import ASSETS
from tests.helpers.registry import isolated_registry

LITE = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


@pytest.mark.parametrize("name", LITE)
def test_own_efficientnet_lite_matches_reference_package_exactly(name):
    """Our definition loads the published state dict strictly and gives the reference package's logits."""
    from efficientnet_lite_pytorch import EfficientNet

    path = efficientnet_lite.weights_path(name)
    ours = efficientnet_lite.build(name, path).eval()
    reference = EfficientNet.from_pretrained(name.replace("_", "-"), weights_path=path).eval()
    size = efficientnet_lite.VARIANTS[name].resolution
    inputs = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs), reference(inputs), rtol=0, atol=1e-5)


def _stem_variance_ratio(name: str, mean, std) -> float:
    """Geometric mean over live stem channels of (variance of conv output on photos) / (BN running variance)."""
    model = load_model(name)
    size = get_spec(name).input_size
    batch = []
    for file in ["chelsea_cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg"]:
        rgb = cv2.resize(camdemo.load_image(ASSETS / file), (size, size), interpolation=cv2.INTER_AREA)
        batch.append((rgb.astype(np.float32) / 255.0 - np.array(mean, np.float32)) / np.array(std, np.float32))
    inputs = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
    with torch.no_grad():
        variance = model.stem[0](inputs).var(dim=(0, 2, 3))
    running = model.stem[1].running_var
    live = running > 1e-3
    return float((variance[live] / running[live]).log().mean().exp())


@pytest.mark.parametrize("name", LITE)
def test_normalization_is_the_one_the_weights_were_trained_with(name):
    """The stem BatchNorm remembers the variance it saw in training; (x−127)/128 reproduces it, ImageNet
    mean/std gives ~(0.5/0.229)² ≈ 4.7× too much. docs/backbones.md, 'Input normalization', reports the numbers."""
    ours = _stem_variance_ratio(name, TF_LITE_MEAN, TF_LITE_STD)
    imagenet = _stem_variance_ratio(name, IMAGENET_MEAN, IMAGENET_STD)
    assert abs(np.log(ours)) < abs(np.log(imagenet))
    assert 0.5 < ours < 1.5 and imagenet > 2.5


@pytest.mark.parametrize("name", [n for n in backbone_names() if get_spec(n).cam_head is not None])
def test_declared_cam_head_reproduces_the_logits(name):
    """classifier(mean(activation(layer output))) must equal the model's own output: then CAM is exact."""
    spec = get_spec(name)
    model = load_model(name) if spec.offline else architecture(name)
    outputs = {}
    handle = model.get_submodule(spec.cam_head.layer).register_forward_hook(
        lambda _m, _a, out: outputs.__setitem__("features", out.clone()))
    try:
        inputs = torch.randn(1, spec.channels, spec.input_size, spec.input_size,
                             generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            logits = model(inputs)
    finally:
        handle.remove()
    features = outputs["features"]
    if spec.cam_head.relu_before_pool:
        features = torch.relu(features)
    classifier = model.get_submodule(spec.cam_head.classifier)
    with torch.no_grad():
        torch.testing.assert_close(classifier(features.mean(dim=(2, 3))), logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", backbone_names())
def test_every_backbone_lists_layers_and_methods_with_reasons(name):
    layers = camdemo.layers(name)
    assert layers and all(info.height >= 1 and info.channels > 0 for info in layers)
    assert layers[0].name == get_spec(name).layer_names(architecture(name))[0]
    assert layers[0].height * layers[0].width <= layers[-1].height * layers[-1].width  # last stage first
    methods = {m.name: m for m in camdemo.methods(name)}
    assert methods["gradcam"].available and methods["saliency"].available
    if not methods["cam"].available:
        assert methods["cam"].reason and "Grad-CAM" in methods["cam"].reason
        with pytest.raises(camdemo.CamdemoError, match="not available"):
            camdemo.explain(ASSETS / "chelsea_cat.jpg", backbone=name, method="cam")


def test_layer_labels_show_shapes():
    assert [info.label for info in camdemo.layers("resnet50")][:2] == ["layer4 · 2048×7×7", "layer3 · 1024×14×14"]
    assert camdemo.layers("efficientnet_lite0")[0].label == "head · 1280×7×7"


def test_unknown_names_give_clear_errors_listing_choices():
    image = ASSETS / "chelsea_cat.jpg"
    with pytest.raises(camdemo.CamdemoError, match="Choose one of: head, blocks.15"):
        camdemo.explain(image, layer="layer4")
    with pytest.raises(camdemo.CamdemoError, match="Unknown backbone 'resnet9'.*efficientnet_lite0"):
        camdemo.explain(image, backbone="resnet9")
    with pytest.raises(camdemo.CamdemoError, match="Unknown method 'lime'.*gradcam"):
        camdemo.explain(image, method="lime")
    with pytest.raises(camdemo.CamdemoError, match="Unknown colormap"):
        camdemo.explain(image, colormap="rainbow-unicorn")
    with pytest.raises(camdemo.CamdemoError, match="defined only at 'head'"):
        camdemo.explain(image, method="cam", layer="blocks.10")


def test_missing_torchvision_weights_say_which_file_and_others_keep_working(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty hub cache
    spec = get_spec("resnet50")
    assert not spec.offline
    with pytest.raises(camdemo.CamdemoError) as caught:
        camdemo.explain(ASSETS / "chelsea_cat.jpg", backbone="resnet50")
    message = str(caught.value)
    assert "resnet50-11ad3fa6.pth" in message and str(tmp_path) in message and "download-weights resnet50" in message
    assert {info.name: info.ready_offline for info in camdemo.backbones()}["resnet50"] is False
    assert camdemo.explain(ASSETS / "chelsea_cat.jpg", backbone="efficientnet_lite1").class_label.endswith("cat")


def test_torchvision_weights_in_the_cache_are_used(tmp_path, monkeypatch):
    """The loading path a user with downloaded weights takes, with a state dict placed in the hub cache."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    spec = get_spec("resnet18")
    state = torch.nn.Module.state_dict(spec.build())
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    assert spec.offline
    with isolated_registry(fresh_models=True):  # loaded afresh, from that file; forgotten afterwards
        result = camdemo.explain(ASSETS / "chelsea_cat.jpg", backbone="resnet18", method="cam")
        assert result.layer == "layer4" and result.heatmap.shape == (300, 451)
        model = load_model("resnet18")
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        torch.testing.assert_close(model.fc.weight, state["fc.weight"])
