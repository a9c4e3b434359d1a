"""A model camdemo has never seen, from Python: ``camdemo.wrap_model`` and ``explain(image, model=...)``.

The map of a wrapped module must equal the built-in path's map for the same architecture and weights, the
module must be left exactly as it was (mode, requires_grad, hooks, device), and every kind of output (softmax,
multi-label, binary, regression) must be explained and predicted as that kind reads.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torchvision

import camdemo
from camdemo.models import BackboneSpec, register_backbone
from tests.helpers.methods import assert_no_hooks, training_modes
from tests.helpers.networks import FunctionalNet, random_gap_net
from tests.helpers.registry import isolated_registry

RNG = np.random.default_rng(0)
PHOTO = RNG.integers(0, 256, (48, 40, 3), dtype=np.uint8)


def _resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=7)


def test_three_lines():
    """The README's example: a module, its input, its labels; then any method."""
    net = random_gap_net(classes=3)
    spec = camdemo.wrap_model(net, input_size=32, labels=["ant", "bee", "cat"])
    result = camdemo.explain(PHOTO, model=spec, method="gradcam")
    assert result.class_label in {"ant", "bee", "cat"} and result.heatmap.shape == PHOTO.shape[:2]
    assert [info.name for info in camdemo.layers(spec)][0] == "features"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cam", "gradcam", "saliency", "integrated_gradients", "guided_backprop"])
def test_a_wrapped_model_gives_the_built_in_paths_map(method):
    """The same ResNet-18 (random weights) as a registered backbone and as a user's module: the same map."""
    mine = _resnet18().eval()
    spec = camdemo.wrap_model(mine, input_size=64, labels=[f"c{i}" for i in range(7)])
    assert spec.cam_head is not None and (spec.cam_head.layer, spec.cam_head.classifier) == ("layer4", "fc")
    builtin_copy = copy.deepcopy(mine)
    with isolated_registry():
        register_backbone(BackboneSpec(
            name="resnet18_here", title="ResNet-18 (random)", build=lambda: builtin_copy, weights_file=lambda: None,
            weights_url=None, input_size=64, mean=spec.mean, std=spec.std, layer_names=lambda _m: ["layer4"],
            cam_head=spec.cam_head, categories=spec.categories, install_hint="built here"))
        registry_spec = camdemo.models.get_spec("resnet18_here")
        with pytest.MonkeyPatch.context() as patch:  # weights "on disk": the architecture itself, built here
            patch.setattr(camdemo.models.weights, "load_weights", lambda s: s.build())
            expected = camdemo.explain(PHOTO, backbone=registry_spec.name, method=method, class_index=3,
                                       options={"steps": 8} if method == "integrated_gradients" else None)
    result = camdemo.explain(PHOTO, model=spec, method=method, class_index=3,
                             options={"steps": 8} if method == "integrated_gradients" else None)
    assert np.allclose(result.raw_map, expected.raw_map, rtol=1e-4, atol=1e-6 * np.abs(expected.raw_map).max())
    assert [p.index for p in result.predictions] == [p.index for p in expected.predictions]


def test_the_users_model_is_left_as_it_was():
    """Train mode, requires_grad and device stay the user's; no hook is left; the map is the eval-mode map."""
    model = _resnet18().train()
    before_modes, before_grads = training_modes(model), [p.requires_grad for p in model.parameters()]
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    spec = camdemo.wrap_model(model, input_size=64)
    for method in ("cam", "gradcam", "guided_backprop", "occlusion"):
        camdemo.explain(PHOTO, model=spec, method=method, options={"patch": 32, "stride": 32}
                        if method == "occlusion" else None)
    assert training_modes(model) == before_modes and [p.requires_grad for p in model.parameters()] == before_grads
    assert all(torch.equal(v, before_state[k]) for k, v in model.state_dict().items())  # BN statistics too
    assert_no_hooks(model)
    assert all(p.grad is None for p in model.parameters())


def test_a_bare_module_and_a_one_channel_model_with_a_functional_head():
    """A 1-channel model whose ReLU and GAP are functional: its head is found (ReLU before pooling) and CAM runs."""
    net = FunctionalNet(channels=1, outputs=3).eval()
    spec = camdemo.wrap_model(net, input_size=28, channels=1)
    assert spec.cam_head is not None and spec.cam_head.layer == "conv2" and spec.cam_head.relu_before_pool
    cam = camdemo.explain(PHOTO, model=spec, method="cam", class_index=1)
    gray = torch.from_numpy(np.asarray(spec.model_pixels(PHOTO), np.float32) / 255) @ torch.tensor(
        [0.299, 0.587, 0.114])
    with torch.no_grad():
        features = torch.relu(net.conv2(torch.relu(net.conv1(gray[None, None]))))[0]
        expected = torch.einsum("k,khw->hw", net.fc.weight[1], features).numpy()
    assert np.allclose(cam.raw_map, expected, atol=1e-5)
    bare = camdemo.explain(PHOTO, model=random_gap_net(classes=4), method="gradcam")  # RGB 224, ImageNet mean/std
    assert bare.raw_map.shape == (224, 224) and bare.model_title == "your_model"


def test_every_kind_of_output():
    torch.manual_seed(0)
    net = random_gap_net(classes=4)
    multi = camdemo.explain(PHOTO, model=camdemo.wrap_model(net, input_size=32, output="multilabel"), method="cam",
                            class_index=2)
    with torch.no_grad():
        spec = camdemo.wrap_model(net, input_size=32)
        logits = net(spec.preprocess(spec.model_pixels(PHOTO)))[0]
    assert multi.class_probability == pytest.approx(float(torch.sigmoid(logits[2])), abs=1e-6)  # not a softmax
    assert sum(p.probability for p in multi.predictions) != pytest.approx(1.0)

    one = torch.nn.Sequential(random_gap_net(classes=1))
    with pytest.raises(camdemo.CamdemoError, match="binary classifier .* or a regression"):
        camdemo.wrap_model(one, input_size=32)
    binary = camdemo.wrap_model(one, input_size=32, output="binary", labels=["defect"])
    up = camdemo.explain(PHOTO, model=binary, method="gradcam", options=None)
    down = camdemo.explain(PHOTO, model=binary, method="gradcam", direction="down")
    assert [p.label for p in up.predictions] == ["defect", "not defect"]
    assert up.predictions[0].probability + up.predictions[1].probability == pytest.approx(1.0)
    assert np.allclose(down.raw_map, -up.raw_map) and "argues against 'defect'" in down.note

    regression = camdemo.wrap_model(one, input_size=32, output="regression", labels=["load (kN)"])
    value = camdemo.explain(PHOTO, model=regression, method="input_x_gradient")
    with torch.no_grad():
        expected = float(one(regression.preprocess(regression.model_pixels(PHOTO)))[0, 0])
    assert np.isnan(value.class_probability) and value.predictions[0].output == pytest.approx(expected, rel=1e-5)
    assert "output 0 'load (kN)'" in value.summary
    with pytest.raises(camdemo.CamdemoError, match="compares two classes"):
        camdemo.explain(PHOTO, model=regression, versus=0)


def test_contrast_on_a_users_model_is_the_difference_of_maps():
    spec = camdemo.wrap_model(random_gap_net(classes=5), input_size=32)
    both = camdemo.explain(PHOTO, model=spec, method="cam", class_index=1, versus=3)
    one = camdemo.explain(PHOTO, model=spec, method="cam", class_index=1)
    other = camdemo.explain(PHOTO, model=spec, method="cam", class_index=3)
    assert np.allclose(both.raw_map, one.raw_map - other.raw_map, atol=1e-5)
    assert "'class 1' rather than 'class 3'" in both.note and both.versus == 3


def test_what_cannot_work_gets_a_sentence():
    net = random_gap_net(classes=3)
    with pytest.raises(camdemo.CamdemoError, match="channels must be 1"):
        camdemo.wrap_model(net, channels=4)
    with pytest.raises(camdemo.CamdemoError, match="mean has 1 value"):
        camdemo.wrap_model(net, mean=[0.5])
    with pytest.raises(camdemo.CamdemoError, match="2 labels were given for a model with 3 outputs"):
        camdemo.wrap_model(net, input_size=32, labels=["a", "b"])
    with pytest.raises(camdemo.CamdemoError, match="could not run on a blank"):
        camdemo.wrap_model(net, input_size=32, channels=1)
    with pytest.raises(camdemo.CamdemoError, match="must be a torch.nn.Module"):
        camdemo.wrap_model("resnet.pt")  # type: ignore[arg-type]
    spec = camdemo.wrap_model(net, input_size=32)
    with pytest.raises(camdemo.CamdemoError, match="does not move your model"):
        camdemo.explain(PHOTO, model=spec, device="meta")
    with pytest.raises(camdemo.CamdemoError, match="contrast class 9 is out of range"):
        camdemo.explain(PHOTO, model=spec, versus=9)
    with pytest.raises(camdemo.CamdemoError, match="Unknown direction"):
        camdemo.explain(PHOTO, model=spec, direction="sideways")


@pytest.mark.slow
def test_cat_rather_than_espresso_lands_on_the_cat(pair_image):
    """The issue's check, on a real backbone: Grad-CAM of tiger cat (282) rather than espresso (967)."""
    result = camdemo.explain(pair_image, backbone="efficientnet_lite0", method="gradcam", class_index=282,
                             versus=967)
    heatmap = result.heatmap
    cat_half = pair_image.shape[1] // 2
    assert heatmap[:, :cat_half].mean() > 3 * heatmap[:, cat_half:].mean()
    assert "rather than 'espresso'" in result.note


def test_the_evaluation_views_take_a_users_model():
    """Compare, faithfulness and the sanity check run on a wrapped model; the sanity check randomizes a copy."""
    net = random_gap_net(classes=3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    spec = camdemo.wrap_model(net, input_size=32)
    cells = camdemo.compare_methods(PHOTO, backbone=spec, methods=["cam", "gradcam", "saliency"], increments=4)
    assert [cell.explanation.method for cell in cells] == ["cam", "gradcam", "saliency"]
    assert all(cell.faithfulness is not None and 0.0 <= cell.faithfulness.curves.deletion_auc <= 1.0
               for cell in cells)
    steps = camdemo.cascading_randomization(PHOTO, backbone=spec, methods=["gradcam"], randomizations=2)
    assert len(steps) == 3 and all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_faithfulness_follows_the_outputs_kind():
    """A binary model's deletion curve starts at σ(y), its probability; not at a softmax over one output (= 1)."""
    one = torch.nn.Sequential(random_gap_net(classes=1))
    spec = camdemo.wrap_model(one, input_size=32, output="binary")
    result = camdemo.explain(PHOTO, model=spec, method="gradcam")
    curves = camdemo.faithfulness(result, increments=4).curves
    assert curves.deletion[0] == pytest.approx(result.class_probability, abs=1e-5) and curves.deletion[0] < 1.0


@pytest.mark.slow
def test_torchvision_mobilenet_with_random_weights():
    """MobileNetV3's head has a hidden linear layer after the pooling, so CAM does not apply and says why; the
    methods that apply run at the deepest spatial layer."""
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=4).eval()
    spec = camdemo.wrap_model(net, input_size=64)
    reasons = {info.name: info.reason for info in camdemo.methods(spec)}
    assert reasons["cam"] and "global average pooling followed by one linear" in reasons["cam"]
    assert reasons["gradcam"] is None and reasons["integrated_gradients"] is None
    result = camdemo.explain(PHOTO, model=spec, method="gradcam")
    assert result.layer == camdemo.layers(spec)[0].name and result.raw_map.ndim == 2


def test_the_pre_flight_check_says_why_in_words_that_name_the_module():
    """A model whose ReLUs are functions: the guided methods are refused with the check's sentence, which names
    the module; ``check_model`` also works on a built-in backbone's architecture."""
    spec = camdemo.wrap_model(FunctionalNet(channels=1), input_size=28, channels=1)
    reasons = {info.name: info.reason for info in camdemo.methods(spec)}
    assert reasons["guided_backprop"] and "function" in reasons["guided_backprop"]
    assert reasons["cam"] is None and reasons["gradcam"] is None
    report = camdemo.check_model(spec)
    assert report is spec.report and report.default_layer == "conv2"
    assert any("called as a function" in finding.text for finding in report.findings)
    assert camdemo.check_model("shapes_gapnet").cam_head is not None


def test_a_vision_transformer_is_explained_at_a_token_layer():
    """A torchvision ViT (random weights, small): its blocks are listed as token layers, the default is the deepest
    one the class score's gradient reaches, and Grad-CAM there is a map over the 4×4 patch grid."""
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                            num_classes=5).eval()
    torch.nn.init.normal_(vit.heads.head.weight, std=0.1)  # torchvision starts the head at zero: no gradient at all
    spec = camdemo.wrap_model(vit, input_size=64)
    first = camdemo.layers(spec)[0]
    assert first.kind == "tokens" and first.extra_tokens == 1 and (first.height, first.width) == (4, 4)
    result = camdemo.explain(PHOTO, model=spec, method="gradcam")
    assert result.layer == first.name and result.raw_map.shape == (4, 4) and np.abs(result.raw_map).max() > 0


def test_more_things_a_user_can_get_wrong_get_sentences():
    net = random_gap_net(classes=3)
    with pytest.raises(camdemo.CamdemoError, match="'meta' device"):
        camdemo.wrap_model(random_gap_net(classes=3).to("meta"), input_size=32)
    with pytest.raises(camdemo.CamdemoError, match="up to 4,194,304 values"):
        camdemo.wrap_model(net, data_shape=(100_000, 100_000))
    with pytest.raises(camdemo.CamdemoError, match="labels must be a list"):
        camdemo.wrap_model(net, input_size=32, labels="abc")
    spec = camdemo.wrap_model(net, input_size=32)
    with pytest.raises(camdemo.CamdemoError, match="must differ from the class explained"):
        camdemo.explain(PHOTO, model=spec, class_index=1, versus=1)
    with pytest.raises(camdemo.CamdemoError, match="index of the class to contrast with"):
        camdemo.explain(PHOTO, model=spec, class_index=1, versus="bee")  # type: ignore[arg-type]
    assert camdemo.explain(PHOTO, model=spec, method="cam", direction="DOWN").direction == "down"
    flatten = camdemo.wrap_model(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(),
                                                     torch.nn.Linear(2 * 30 * 30, 3)), input_size=32)
    with pytest.raises(camdemo.CamdemoError) as refused:
        camdemo.explain(PHOTO, model=flatten, method="cam")
    assert str(refused.value).startswith("CAM is not available for your_model: '2' reads the flattened map of '0'")
