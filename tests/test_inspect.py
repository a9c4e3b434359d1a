"""A model camdemo has never seen: its layers, its CAM head, the pre-flight check, and token layers read as maps.

Every network here is built in the test (random weights); each check runs on it and then the model must be
exactly as it was: same weights, same train/eval mode per module, same requires_grad, no hook left.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import densenet121, mobilenet_v3_small, resnet18
from torchvision.models.vision_transformer import VisionTransformer

from camdemo.errors import CamdemoError
from camdemo.explainers import METHODS, Target, get_method
from camdemo.models import GapLinearHead
from camdemo.models.inspect import find_cam_head, find_layers
from camdemo.models.layers import LayerInfo, token_grid
from camdemo.models.preflight import check_model
from helpers.methods import assert_no_hooks, training_modes

LAYER_METHODS = ("gradcam", "gradcampp", "xgradcam", "layercam", "hirescam", "scorecam", "eigencam")
GUIDED = ("guided_backprop", "guided_gradcam")


class FunctionalReluNet(nn.Module):
    """A student's plain CNN: convolutions, ReLU called as a function, max pooling, functional GAP → linear."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        return self.fc(x.mean((2, 3)))


class InPlaceNet(nn.Module):
    """conv → BatchNorm → one in-place ReLU module used twice → GAP (adaptive_avg_pool2d + flatten) → linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        x = self.act(self.bn(self.conv1(x)))
        x = self.act(self.conv2(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class FlattenHeadCNN(nn.Module):
    """features (conv, ReLU module, max pool) → flatten → linear: no CAM head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(6 * 8 * 8, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class GrayscaleNet(nn.Module):
    """A 1-channel model with a module GAP head and one output (binary or regression)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1),
                                      nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(6, 1)

    def forward(self, x):
        return self.head(self.pool(self.features(x)).flatten(1))


def snapshot(model: nn.Module) -> dict:
    return {"state": {key: value.clone() for key, value in model.state_dict().items()},
            "modes": training_modes(model),
            "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
            "devices": {p.device for p in model.parameters()}}


def assert_untouched(model: nn.Module, before: dict) -> None:
    assert_no_hooks(model)
    after = snapshot(model)
    assert after["modes"] == before["modes"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["devices"] == before["devices"]
    assert after["state"].keys() == before["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), f"{key} changed"
    assert all(p.grad is None for p in model.parameters())


def names(layers: tuple[LayerInfo, ...]) -> list[str]:
    return [info.name for info in layers]


def hand_gradcam(model: nn.Module, layer: str, inputs: torch.Tensor, class_index: int,
                 extra_tokens: int | None = None) -> torch.Tensor:
    """Σ_k mean_ij(∂y_c/∂A_k) · A_k with A the layer's output (tokens: the patch tokens as a C×h×w map).

    The network goes on with a copy of A, so that an in-place ReLU after the layer cannot change A itself.
    """
    kept: list[torch.Tensor] = []

    def keep(_module, _args, output):
        kept.append(output)
        return output.clone()

    handle = model.get_submodule(layer).register_forward_hook(keep)
    try:
        with torch.enable_grad():
            inputs = inputs.clone().requires_grad_(True)  # a graph even where no parameter requires grad
            score = model(inputs)[0, class_index]
            (gradient,) = torch.autograd.grad(score, kept[0])
    finally:
        handle.remove()
    activation = kept[0].detach()
    if extra_tokens is not None:
        side = int((activation.shape[1] - extra_tokens) ** 0.5)
        activation = activation[:, extra_tokens:].transpose(1, 2).reshape(1, -1, side, side)
        gradient = gradient[:, extra_tokens:].transpose(1, 2).reshape(1, -1, side, side)
    weights = gradient[0].mean((1, 2))
    return (weights[:, None, None] * activation[0]).sum(0)


def tiny_vit() -> VisionTransformer:
    torch.manual_seed(0)
    model = VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                              num_classes=5)
    with torch.no_grad():  # torchvision starts the head at zero: every score would be 0 and every gradient too
        model.heads.head.weight.normal_()
    return model.eval()


# -- token grids ------------------------------------------------------------------------------------------------

def test_token_grid_reads_a_square_grid_after_a_few_tokens():
    assert token_grid(197) == (14, 1)  # ViT-B/16 at 224: class token + 14×14
    assert token_grid(201) == (14, 5)  # class token and 4 registers
    assert token_grid(16) == (4, 0)
    assert token_grid(24) == (4, 8)
    assert token_grid(34) is None  # 5×5 + 9: more extra tokens than any ViT has
    assert token_grid(3) is None  # 1×1 + 2: no grid
    info = LayerInfo("encoder", 768, 14, 14, kind="tokens", extra_tokens=1)
    assert info.label == "encoder · 768×14×14 (1 + 14×14 tokens)"
    assert LayerInfo("layer4", 512, 7, 7).label == "layer4 · 512×7×7"  # positional, as before


def test_gradcam_on_a_vit_block_equals_gradcam_on_its_reshaped_patch_tokens():
    model, x = tiny_vit(), torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    before = snapshot(model)
    for layer in ("encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1.ln_1"):
        raw = get_method("gradcam").compute(Target(model=model, inputs=x, layer=model.get_submodule(layer),
                                                   layer_name=layer, class_index=3))
        expected = hand_gradcam(model, layer, x, 3, extra_tokens=1)
        assert raw.values.shape == (4, 4)
        assert expected.abs().max() > 1e-3  # a map, not zeros
        torch.testing.assert_close(raw.values, expected, rtol=1e-4, atol=1e-6)
    # methods without gradients read the same map (Eigen-CAM's first component of the 32×4×4 patch map)
    raw = get_method("eigencam").compute(Target(model=model, inputs=x, layer=model.encoder.layers[0],
                                                layer_name="encoder.layers.encoder_layer_0"))
    assert raw.values.shape == (4, 4)
    assert_untouched(model, before)


def test_a_token_layer_that_is_not_a_square_grid_is_refused_with_a_sentence():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(3, 8)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):  # 5×5 patches + 9 leading tokens = 34
            tokens = self.embed(torch.cat([x[:, :, :3, :3].flatten(2), x.flatten(2)], 2).transpose(1, 2))
            return self.fc(tokens.mean(1))

    model = Tokens().eval()
    with pytest.raises(CamdemoError, match=r"'embed' outputs \(1, 34, 8\).*square grid"):
        get_method("gradcam").compute(Target(model=model, inputs=torch.randn(1, 3, 5, 5), layer=model.embed,
                                             layer_name="embed"))
    assert_no_hooks(model)


def test_a_vit_lists_its_blocks_as_tokens_and_defaults_to_a_layer_the_gradient_reaches():
    model = tiny_vit()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    layers = find_layers(model, x)
    by_name = {info.name: info for info in layers}
    assert by_name["conv_proj"] == LayerInfo("conv_proj", 32, 4, 4)
    block = by_name["encoder.layers.encoder_layer_0"]
    assert (block.kind, block.extra_tokens, block.channels, block.height) == ("tokens", 1, 32, 4)
    assert by_name["encoder.layers"].aliases == ("encoder.layers.encoder_layer_1",)  # the last block's output
    assert by_name["encoder"].aliases == ("encoder.ln",)
    report = check_model(model, x, methods=METHODS)
    # After the last block's attention only the class token reaches the head: zero gradient at the patch tokens.
    assert report.default_layer == "encoder.layers.encoder_layer_1.ln_1"
    assert report.cam_head is None and "'heads.head'" in report.cam_unavailable
    assert report.methods["gradcam"] is None and report.methods["cam"] is not None
    assert report.methods["guided_backprop"] is not None  # GELUs, no ReLU modules
    last = check_model(model, x, layer="encoder.layers.encoder_layer_1", methods=METHODS)
    assert "zero everywhere" in last.methods["gradcam"] and "class token" in last.methods["gradcam"]
    assert last.methods["scorecam"] is None  # needs no gradient


# -- layers and heads of small networks built here --------------------------------------------------------------

def test_a_plain_cnn_with_functional_relus():
    model = FunctionalReluNet().eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before = snapshot(model)
    assert find_layers(model, x) == (LayerInfo("conv2", 16, 8, 8), LayerInfo("conv1", 8, 16, 16))
    assert find_cam_head(model, x) == GapLinearHead("conv2", "fc", relu_before_pool=True)  # fc(mean(F.relu(conv2)))
    report = check_model(model, x, methods=METHODS)
    assert report.default_layer == report.layer == "conv2"
    assert report.head_kind == "classes" and report.output_shape == (2, 4)
    for name in GUIDED:
        assert "FunctionalReluNet" in report.methods[name] and "nn.ReLU" in report.methods[name]
    assert set(report.applicable) == set(METHODS) - set(GUIDED)
    assert_untouched(model, before)


def test_in_place_relu_used_twice_and_batchnorm_in_training_mode():
    model = InPlaceNet().train()
    model.conv1.requires_grad_(False)
    x = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    before = snapshot(model)
    layers = find_layers(model, x)
    assert names(layers) == ["conv2", "bn", "conv1"]  # 'act' runs twice: its output is ambiguous, not listed
    # fc reads the mean of act(conv2(x)); act is shared, so the head is named at conv2 with the ReLU before pooling
    assert find_cam_head(model, x) == GapLinearHead("conv2", "fc", relu_before_pool=True)
    report = check_model(model, x, methods=METHODS)
    assert all(reason is None for reason in report.methods.values()), report.methods
    training = [finding for finding in report.findings if "training mode" in finding.text]
    assert len(training) == 1 and training[0].module == "bn" and "eval mode" in training[0].text
    assert not any("in place" in finding.text for finding in report.findings)  # camdemo's hooks hand over a copy
    shared = check_model(model, x, layer="act", methods=METHODS)
    assert "runs 2 times" in shared.methods["gradcam"]
    assert shared.methods["saliency"] is None and shared.methods["guided_backprop"] is None
    assert_untouched(model, before)
    # Grad-CAM at conv2 through the in-place ReLU equals the hand computation
    model.eval()
    raw = get_method("gradcam").compute(Target(model=model, inputs=x, layer=model.conv2, layer_name="conv2",
                                               class_index=1))
    torch.testing.assert_close(raw.values, hand_gradcam(model, "conv2", x, 1), rtol=1e-4, atol=1e-6)


def test_an_activation_changed_in_place_behind_camdemos_back_is_reported():
    class Aliased(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.tap = nn.Identity()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            features = self.conv(x)
            tapped = self.tap(features)  # the same tensor: camdemo's copy goes on, the original is still here
            features.mul_(2)
            return self.fc(tapped.mean((2, 3)) + features.mean((2, 3)))

    model = Aliased().eval()
    x = torch.randn(1, 3, 8, 8)
    assert names(find_layers(model, x)) == ["conv"]  # an Identity after a listed module adds nothing
    report = check_model(model, x, layer="tap", methods=METHODS)
    assert "changed in place" in report.methods["gradcam"] and "'tap'" in report.methods["gradcam"]
    assert check_model(model, x, layer="conv", methods=METHODS).methods["gradcam"] is None


def test_a_flatten_head_has_no_cam_and_says_why():
    model = FlattenHeadCNN().eval()
    x = torch.randn(1, 3, 16, 16)
    assert names(find_layers(model, x)) == ["features", "features.1"]  # the conv is listed as its ReLU's output
    assert find_layers(model, x)[0].aliases == ("features.2",)
    assert find_cam_head(model, x) is None
    report = check_model(model, x, methods=METHODS)
    assert "flattened map of 'features'" in report.cam_unavailable
    assert report.methods["cam"] == report.cam_unavailable
    assert report.methods["gradcam"] is None and report.methods["guided_backprop"] is None


def test_a_one_channel_model_with_one_output():
    model = GrayscaleNet().eval()
    x = torch.randn(1, 1, 10, 10)
    assert find_layers(model, x) == (LayerInfo("features", 6, 10, 10, aliases=("features.3",)),
                                     LayerInfo("features.2", 6, 10, 10), LayerInfo("features.1", 4, 10, 10))
    report = check_model(model, x, methods=METHODS)
    assert report.cam_head == GapLinearHead("features", "head")
    assert report.head_kind == "single" and "binary" in report.head_kind_text and "regression" in report.head_kind_text
    assert set(report.applicable) == set(METHODS)


def test_channels_last_outputs_inside_a_block_are_not_read_as_maps():
    class Permuted(nn.Module):  # a ConvNeXt-style block: depthwise conv, then LayerNorm and Linear on N×H×W×C
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1, groups=3)
            self.norm = nn.LayerNorm(6)
            self.mix = nn.Linear(6, 6)
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            x = self.mix(self.norm(self.conv(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
            return self.fc(x.mean((2, 3)))

    assert names(find_layers(Permuted().eval(), torch.randn(1, 3, 8, 8))) == ["conv"]


def test_a_layer_that_does_not_reach_the_output():
    class SideBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Conv2d(3, 4, 3, padding=1)
            self.side = nn.Conv2d(4, 4, 1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            x = self.trunk(x)
            self.side(x)  # computed, then thrown away
            return self.fc(x.mean((2, 3)))

    model = SideBranch().eval()
    x = torch.randn(1, 3, 8, 8)
    report = check_model(model, x, methods=METHODS)
    assert names(report.layers) == ["side", "trunk"] and report.default_layer == "trunk"
    assert any(finding.module == "trunk" and "'side'" in finding.text for finding in report.findings)
    side = check_model(model, x, layer="side", methods=METHODS)
    assert "does not reach the output" in side.methods["gradcam"] and "'side'" in side.methods["gradcam"]
    assert side.methods["scorecam"] is None and side.methods["saliency"] is None


@pytest.mark.parametrize("output, expected", [
    (lambda y: {"logits": y}, "keys logits"),
    (lambda y: (y, y), "tuple"),
    (lambda y: y[:, :, None, None].expand(-1, -1, 2, 2), "(1, 3, 2, 2)"),
])
def test_an_output_that_is_not_scores_blocks_every_method(output, expected):
    class Wrapped(FunctionalReluNet):
        def forward(self, x):
            return output(super().forward(x)[:, :3])

    model = Wrapped().eval()
    report = check_model(model, torch.randn(1, 3, 8, 8), methods=METHODS)
    assert report.head_kind == "unsupported" and expected in report.head_kind_text
    assert report.applicable == () and all(expected in reason for reason in report.methods.values())
    assert report.layers  # the layers are still listed


def test_a_bad_example_input_or_layer_name_gets_a_sentence():
    model = FunctionalReluNet().eval()
    with pytest.raises(CamdemoError, match="N×C×H×W"):
        find_layers(model, torch.randn(3, 8, 8))
    with pytest.raises(CamdemoError, match="failed on the example input"):
        find_layers(model, torch.randn(1, 1, 8, 8))  # 1 channel for a 3-channel model
    with pytest.raises(CamdemoError, match="'conv3' is not a module.*conv2, conv1"):
        check_model(model, torch.randn(1, 3, 8, 8), layer="conv3")
    assert_no_hooks(model)


# -- torchvision architectures with random weights --------------------------------------------------------------

@pytest.mark.slow  # about 3 s here, like each torchvision network below
def test_resnet18_layers_and_head():
    model = resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    before = snapshot(model)
    report = check_model(model, x, methods=METHODS)
    assert report.default_layer == "layer4" and report.layers[0].aliases == ("layer4.1",)
    assert {"layer3", "layer2", "layer1", "layer4.0", "layer4.1.bn2"} <= set(names(report.layers))
    assert "layer4.1.relu" not in names(report.layers)  # the block's ReLU module runs twice
    assert report.cam_head == GapLinearHead("layer4", "fc")
    assert set(report.applicable) == set(METHODS), report.methods
    assert_untouched(model, before)


@pytest.mark.slow
def test_gradcam_through_found_resnet18_layers_equals_the_hand_computation():
    torch.manual_seed(0)
    model = resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    before = snapshot(model)
    layers = names(find_layers(model, x))
    for layer in ("layer4", "layer3.0", "layer4.1.bn2"):
        assert layer in layers
        raw = get_method("gradcam").compute(Target(model=model, inputs=x, layer=model.get_submodule(layer),
                                                   layer_name=layer, class_index=7))
        torch.testing.assert_close(raw.values, hand_gradcam(model, layer, x, 7), rtol=1e-4, atol=1e-6)
    assert_untouched(model, before)


@pytest.mark.slow
def test_mobilenet_v3_small_has_a_hidden_layer_after_pooling():
    model = mobilenet_v3_small(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    before = snapshot(model)
    report = check_model(model, x, methods=METHODS)
    assert report.cam_head is None
    assert "hidden layer 'classifier.0'" in report.cam_unavailable and "'classifier.3'" in report.cam_unavailable
    assert report.default_layer == "features" and report.layers[0].channels == 576
    assert report.methods["gradcam"] is None and report.methods["guided_backprop"] is None
    assert_untouched(model, before)


@pytest.mark.slow
def test_densenet121_rectifies_before_pooling():
    model = densenet121(weights=None).eval()
    assert find_cam_head(model, torch.randn(1, 3, 64, 64)) == GapLinearHead("features", "classifier",
                                                                            relu_before_pool=True)
    assert_no_hooks(model)


def test_a_model_that_cuts_the_gradient_to_the_pixels():
    class Quantized(FunctionalReluNet):
        def forward(self, x):
            return super().forward(x.detach() if torch.is_grad_enabled() else x)

    model = Quantized().eval()
    report = check_model(model, torch.randn(1, 3, 8, 8), methods=METHODS)
    for name in ("saliency", "smoothgrad", "input_x_gradient", "integrated_gradients"):
        assert "no gradient reaches the input" in report.methods[name], name
    assert report.methods["gradcam"] is None and report.methods["occlusion"] is None
