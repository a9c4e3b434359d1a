"""The propagation methods against their definitions: conservation, hand-computed z⁺, summation-to-delta,
zennit's own results, the PatternNet paper's toy example, the linearity of the seed, and an untouched model."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import camdemo
from camdemo.errors import CamdemoError
from camdemo.explainers import METHODS, DeepLift, LRP, PatternNet, Target
from camdemo.explainers.base import Objective
from camdemo.explainers.patterns import PatternSet, fit_patterns, register_patterns, unregister_patterns, \
    weights_digest
from camdemo.models import get_spec, load_model

from tests.helpers.methods import assert_no_hooks, training_modes
from tests.helpers.networks import random_gap_net

PROPAGATION = ["lrp", "deep_taylor", "deconvnet", "deeplift", "patternnet", "patternattribution"]


PLAIN = Objective()


def _target(model: nn.Module, inputs: torch.Tensor, class_index=None, objective: Objective = PLAIN,
            **options) -> Target:
    method_options = LRP().check_options(options) if options else {}
    return Target(model, inputs, class_index, options=method_options, objective=objective)


def _bias_free_relu_net() -> nn.Module:
    torch.manual_seed(4)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(6, 8, 3, bias=False),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4, bias=False)).eval()


def test_lrp_epsilon_conserves_the_score_exactly_without_biases():
    """LRP-ε with ε → 0 on a bias-free ReLU net: Σ_i R_i = y_c (every layer passes on exactly what it gets)."""
    model = _bias_free_relu_net()
    inputs = torch.randn(2, 3, 8, 8)
    for class_index in range(4):
        target = _target(model, inputs, (class_index, class_index), rules="epsilon", epsilon=1e-9)
        relevance, logits, _ = LRP().attribute_and_logits(target)
        torch.testing.assert_close(relevance.sum(dim=(1, 2, 3)), logits[:, class_index], rtol=1e-5, atol=1e-5)


def test_lrp_epsilon_conserves_through_an_efficientnet_lite_block_with_its_residual_sum():
    """An MBConv block (1×1 expand, depthwise 3×3, 1×1 project, BatchNorm after each, ReLU6, residual + x) with
    BatchNorm biases and means at zero: after merging, no layer has a bias, so LRP-ε conserves exactly, which it
    does only because the residual sum splits its relevance between x and the branch (without the Sum
    canonizer the skip would pass the whole relevance on a second time)."""
    from camdemo.models.efficientnet_lite import MBConv

    torch.manual_seed(2)
    block = MBConv(8, 8, 3, 1, 2)
    assert block.residual
    for module in block.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
    model = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), block, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 3, bias=False)).eval()
    inputs = torch.randn(2, 3, 6, 6)
    relevance, logits, classes = LRP().attribute_and_logits(_target(model, inputs, None, rules="epsilon",
                                                                    epsilon=1e-9))
    torch.testing.assert_close(relevance.sum(dim=(1, 2, 3)), logits[[0, 1], classes], rtol=1e-4, atol=1e-5)


def test_lrp_epsilon_with_a_bias_gives_the_bias_its_share():
    """y = wᵀx + b, one dense layer: LRP-ε gives R_i = w_i x_i · y / (y + ε), so Σ R = y − b up to ε:
    x = (1, 2, 3), w = (0.5, −1, 2), b = 1.5: y = 0.5 − 2 + 6 + 1.5 = 6, Σ R = 4.5 (the bias keeps 1.5)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 1)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
        model[1].bias.fill_(1.5)
    relevance = LRP().attribute(_target(model, torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1), 0, rules="epsilon",
                                        epsilon=1e-9), torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1), [0])
    torch.testing.assert_close(relevance.flatten(), torch.tensor([0.5, -2.0, 6.0]))
    assert float(relevance.sum()) == pytest.approx(4.5, abs=1e-5)


def test_zplus_on_a_two_layer_relu_net_by_hand():
    """x = (1, 2); hidden h = ReLU(W1 x), W1 = [[1, 1], [3, −1]]: h = (3, 1); y = W2 h, W2 = [[1, 2]]: y = 5.

    z⁺ at the top: contributions h_k w_k⁺ = (3, 2), total 5, so R_h = 5 · (3, 2) / 5 = (3, 2).
    z⁺ at the bottom: h1's positive contributions x_i w_1i⁺ = (1, 2) → R_x += 3 · (1/3, 2/3) = (1, 2);
    h2's are (3·1, 2·0) = (3, 0) → R_x += 2 · (1, 0) = (2, 0). So R_x = (3, 2), adding up to y = 5.
    """
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 1.0], [3.0, -1.0]]))
        model[3].weight.copy_(torch.tensor([[1.0, 2.0]]))
    inputs = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    relevance = LRP().attribute(_target(model, inputs, 0, rules="zplus"), inputs, [0])
    torch.testing.assert_close(relevance.flatten(), torch.tensor([3.0, 2.0]))
    pixels_0_to_4 = lambda level: torch.full((1, 2, 1, 1), 4.0 * level / 255)  # noqa: E731  # inputs in [0, 4]
    deep_taylor = METHODS["deep_taylor"].compute(Target(model, inputs, 0, constant_input=pixels_0_to_4))
    assert float(deep_taylor.values.sum()) == pytest.approx(5.0, rel=1e-4)  # z⁺ on top, zᴮ at the input: conserves


def test_deeplift_summation_to_delta_on_a_relu_net():
    """Rescale rule: Σ_i A_i = s(x) − s(x') for the black reference (zeros for a bare model), to 1e-4."""
    model = random_gap_net(classes=5)
    inputs = torch.randn(3, 3, 12, 12)
    for objective in (Objective(), Objective(direction=-1, versus=2)):
        target = Target(model, inputs, (0, 1, 4), options=DeepLift().check_options({}), objective=objective)
        attributions, delta, difference = DeepLift().deeplift(target, inputs, [0, 1, 4])
        with torch.no_grad():
            expected = objective.scores(model(inputs), [0, 1, 4]) - objective.scores(
                model(torch.zeros_like(inputs)), [0, 1, 4])
        torch.testing.assert_close(attributions.sum(dim=(1, 2, 3)), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(difference, expected)
        assert delta.abs().max() < 1e-4


@pytest.mark.slow
def test_deeplift_on_lite0_rescales_relu6_and_reports_the_gap(cat_image):
    """ReLU6 as two ReLUs keeps the Rescale rule exact on EfficientNet-Lite: the note's gap is below 0.1%."""
    result = camdemo.explain(cat_image, method="deeplift")
    gap = float(result.method_note.rsplit("a gap of ", 1)[1].rstrip("%.")) / 100
    assert "Summation-to-delta" in result.method_note and gap < 1e-3


def test_lrp_contrast_is_the_difference_of_the_two_maps_and_direction_flips_it():
    """The seed of "c rather than b" is y_c·e_c − y_b·e_b, and every rule is linear in the relevance it gets."""
    model = random_gap_net(classes=5)
    inputs = torch.randn(1, 3, 12, 12)

    def relevance(class_index: int, objective: Objective = PLAIN) -> torch.Tensor:
        return LRP().attribute(_target(model, inputs, class_index, objective, rules="epsilon"), inputs, [class_index])

    torch.testing.assert_close(relevance(1, Objective(versus=3)), relevance(1) - relevance(3), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(relevance(1, Objective(direction=-1)), -relevance(1))


@pytest.mark.slow
@pytest.mark.parametrize("architecture, composite", [("vgg16", "EpsilonPlusFlat"), ("resnet50", "EpsilonGammaBox")])
def test_lrp_equals_zennit_used_directly_on_torchvision_networks(architecture, composite):
    """camdemo's path (a working copy, its canonizers, the seed) gives zennit's own result with zennit's
    torchvision canonizers, on random weights (pretrained ones are not here)."""
    from zennit import composites
    from zennit.attribution import Gradient
    from zennit.torchvision import ResNetCanonizer, VGGCanonizer

    torch.manual_seed(0)
    model = getattr(torchvision.models, architecture)(weights=None).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics, so that merging them matters
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    inputs = torch.randn(1, 3, 64, 64)
    low, high = torch.full((1, 3, 1, 1), -2.5), torch.full((1, 3, 1, 1), 2.5)
    canonizer = VGGCanonizer() if architecture == "vgg16" else ResNetCanonizer()
    kwargs = {"low": low, "high": high} if composite == "EpsilonGammaBox" else {}
    theirs = getattr(composites, composite)(canonizers=[canonizer], **kwargs)
    with Gradient(model, theirs) as attributor:
        output, expected = attributor(inputs.clone(), lambda out: torch.eye(1000)[[7]] * out)
    rules = "epsilon-plus-flat" if composite == "EpsilonPlusFlat" else "epsilon-gamma-box"
    target = Target(model, inputs, 7, options=LRP().check_options({"rules": rules}),
                    constant_input=lambda level: torch.full((1, 3, 64, 64), -2.5 if level == 0 else 2.5))
    ours, logits, _ = LRP().attribute_and_logits(target)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))
    torch.testing.assert_close(logits, output, rtol=1e-4, atol=1e-4)


def test_zennit_rules_are_the_published_definitions():
    """iNNvestigate's (and the LRP overview's) definitions on one dense layer, x = (1, −2), w = (3, 1), b = 0:
    z_i = x_i w_i = (3, −2), y = 1. ε: R = z · y / y = (3, −2). α2β1: R = (2 · 3/3 − 1 · (−2)/(−2)) · y = (2, −1)
    per positive/negative part, i.e. R_1 = 2, R_2 = −1. z⁺ (positive contributions only): R = (1, 0)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 1, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[3.0, 1.0]]))
    inputs = torch.tensor([1.0, -2.0]).view(1, 2, 1, 1)
    expected = {"epsilon": [3.0, -2.0], "alpha2-beta1": [2.0, -1.0], "zplus": [1.0, 0.0], "alpha1-beta0": [1.0, 0.0]}
    for rules, values in expected.items():
        relevance = LRP().attribute(_target(model, inputs, 0, rules=rules, epsilon=1e-9), inputs, [0])
        torch.testing.assert_close(relevance.flatten(), torch.tensor(values), msg=rules)


def test_fitted_pattern_recovers_the_signal_direction_of_the_papers_toy_example():
    """x = s · a_s + d · a_d with a_s = (1, 0), a_d = (1, 1) and w = (1, −1): y = wᵀx = s filters the distractor
    out, but w is not the signal's direction. The pattern cov(x, y) / wᵀcov(x, y) = a_s · var(s) / var(s) = a_s
    (Kindermans et al. 2018, §2), with every sample (linear) and with only y > 0 (the ReLU case)."""
    generator = torch.Generator().manual_seed(0)
    s, d = torch.randn(20000, generator=generator), torch.randn(20000, generator=generator)
    x = (s[:, None] * torch.tensor([1.0, 0.0]) + d[:, None] * torch.tensor([1.0, 1.0])).view(-1, 2, 1, 1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 1, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, -1.0]]))
    linear = fit_patterns(model, x.split(1000))["1"]
    relu_case = fit_patterns(model, x.split(1000), linear_layers=["none"])["1"]
    torch.testing.assert_close(linear, torch.tensor([[1.0, 0.0]]), atol=0.02, rtol=0)
    torch.testing.assert_close(relu_case, torch.tensor([[1.0, 0.0]]), atol=0.03, rtol=0)

    register_patterns("toy", PatternSet({"1": linear}, weights_digest(model)))
    try:  # PatternNet's signal is the pattern times the output: a_s · y, not w · y
        image = torch.tensor([0.5, 2.0]).view(1, 2, 1, 1)
        signal = PatternNet().attribute(Target(model, image, 0), image, [0])
        y = float(model(image).detach())
        torch.testing.assert_close(signal.flatten(), linear.flatten() * y)  # seeded with y, then through a
    finally:
        unregister_patterns("toy")


def test_shipped_patterns_belong_to_the_shipped_teaching_weights():
    """Retraining the teaching network without refitting its patterns would make them silently stale."""
    from camdemo.explainers.patterns import patterns_for
    found = patterns_for("shapes_gapnet")
    assert found is not None and found.weights_digest == weights_digest(load_model("shapes_gapnet"))
    reason = METHODS["patternnet"].unavailable_reason(get_spec("efficientnet_lite0"))
    assert reason and "fitted" in reason and "camdemo.teaching.patterns fit" in reason


@pytest.mark.parametrize("method", PROPAGATION)
def test_the_model_is_untouched_after_each_method_and_after_an_error(method):
    """Parameters and buffers bit-identical, requires_grad flags, modes and hooks as before; also on error."""
    model = load_model("shapes_gapnet")
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    flags = {name: parameter.requires_grad for name, parameter in model.named_parameters()}
    modes = training_modes(model)
    image = camdemo.load_image(get_spec("shapes_gapnet").weights_file().rsplit("/", 1)[0] + "/shapes_star.png")
    result = camdemo.explain(image, backbone="shapes_gapnet", method=method)
    assert result.class_index == 3 and result.raw_map.shape == (96, 96)
    with pytest.raises(CamdemoError, match="out of range"):
        camdemo.explain(image, backbone="shapes_gapnet", method=method, class_index=99)
    assert all(torch.equal(state[name], tensor) for name, tensor in model.state_dict().items())
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
    assert training_modes(model) == modes
    assert_no_hooks(model)


@pytest.mark.slow
def test_cascading_randomization_shows_which_propagation_maps_ignore_the_weights(capsys):
    """Adebayo et al. (2018): a map that barely changes when the weights are randomized shows the image, not the
    model. On the teaching network with its classifier randomized (seed 0), Guided Backprop keeps its map
    (Spearman ≥ 0.7 with the trained one), while LRP's changes (< 0.5): the numbers are printed, not hidden."""
    image = camdemo.load_image(get_spec("shapes_gapnet").weights_file().rsplit("/", 1)[0] + "/shapes_star.png")
    methods = ["guided_backprop", "deconvnet", "lrp", "deeplift"]
    steps = camdemo.cascading_randomization(image, backbone="shapes_gapnet", methods=methods, randomizations=2)
    with capsys.disabled():
        for step in steps:
            print(f"\n{step.label}: " + ", ".join(f"{name} {step.spearman[name]:.2f}" for name in methods))
    classifier = steps[1]
    assert steps[1].randomized == ("classifier",)
    assert classifier.spearman["guided_backprop"] >= 0.7
    assert classifier.spearman["lrp"] < 0.5 and classifier.spearman["deeplift"] < 0.5
    assert classifier.spearman["deconvnet"] > classifier.spearman["lrp"]


@pytest.mark.slow
def test_threads_running_propagation_and_gradient_methods_on_one_model_get_their_sequential_results():
    """zennit's and captum's hooks are not filtered by thread; on a per-call copy they cannot reach a concurrent
    saliency or Guided Backprop call on the shared model, nor each other."""
    import threading

    import numpy as np

    directory = get_spec("shapes_gapnet").weights_file().rsplit("/", 1)[0]
    image = camdemo.load_image(directory + "/shapes_two.png")
    jobs = ["lrp", "saliency", "deeplift", "guided_backprop", "patternattribution", "deconvnet", "deep_taylor"]
    alone = [camdemo.explain(image, backbone="shapes_gapnet", method=method).raw_map for method in jobs]
    together: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(3):
            together[i] = camdemo.explain(image, backbone="shapes_gapnet", method=jobs[i]).raw_map

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for method, single, concurrent in zip(jobs, alone, together):
        np.testing.assert_array_equal(concurrent, single, err_msg=method)
    assert_no_hooks(load_model("shapes_gapnet"))
