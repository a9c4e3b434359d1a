"""DeepLIFT with the Rescale rule, through ``captum.attr.DeepLift``.

Each nonlinearity y = f(x) passes back the multiplier m = Δy / Δx = (f(x) − f(x')) / (x − x') instead of its
derivative, where x' is the unit's value on the reference input; linear layers pass multipliers back by the
chain rule. Attribution_i = (x_i − x'_i) · m_i, and the attributions add up to the difference of the score:
Σ_i A_i = s(x) − s(x') ("summation-to-delta"), checked for every map and reported in its note.

captum writes state onto the modules it hooks, and its hooks are not filtered by thread, so DeepLift runs on
the call's working copy (``canonizers.working_copy``). captum's Rescale rule knows ``nn.ReLU`` but not
``nn.ReLU6``; on the copy each ReLU6 becomes min(ReLU(x), 6) = 6 − ReLU(6 − ReLU(x)), two ReLUs whose
multipliers multiply to Δ ReLU6 / Δx exactly (the ratios of differences telescope), so this is the Rescale
rule of ReLU6 itself.

Shrikumar, Greenside, Kundaje. "Learning Important Features Through Propagating Activation Differences."
ICML 2017. arXiv:1704.02685
"""

from __future__ import annotations

import functools
import warnings
from typing import Mapping

import torch
import torchvision.transforms.functional as TF
from torch import nn

from ..models import BackboneSpec, architecture
from .base import Objective, RawMap, Target, choose_classes
from .canonizers import uncovered_leaves, working_copy
from .input_gradients import InputAttributionMethod
from .options import Option

REFERENCES = ("black", "gray", "blurred")
BLUR_SIGMA = 1 / 28  # the blurred reference's Gaussian σ as a share of the image side (8 px at 224)


class ReLU6AsReLUs(nn.Module):
    """ReLU6(x) = 6 − ReLU(6 − ReLU(x)), with two ``nn.ReLU`` modules that captum's Rescale rule applies to."""

    def __init__(self) -> None:
        super().__init__()
        self.lower = nn.ReLU()
        self.upper = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 6.0 - self.upper(6.0 - self.lower(x))


def replace_relu6(model: nn.Module) -> nn.Module:
    """``model`` (a working copy) with each ``nn.ReLU6`` child replaced by ``ReLU6AsReLUs``, in place."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(module, name, ReLU6AsReLUs())
    return model


class ExplainedScore(nn.Module):
    """The explained score s · (y_c − y_b) of each row as one output column: what captum's ``target=0`` reads.

    Made per call. captum runs the inputs and the references as one batch of 2N rows, so the N classes repeat.
    """

    def __init__(self, model: nn.Module, objective: Objective, classes: list[int]) -> None:
        super().__init__()
        self.model = model
        self.objective = objective
        self.classes = classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self.model(x)
        classes = torch.as_tensor(self.classes, device=x.device).repeat(x.shape[0] // len(self.classes))
        return self.objective.scores(outputs, classes)[:, None]


# Leaves whose multipliers captum's DeepLift computes (Rescale) or that are linear at inference.
DEEPLIFT_LEAVES: tuple[type[nn.Module], ...] = (
    nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
    nn.Dropout, nn.Identity, nn.Flatten)


@functools.cache
def _deeplift_problem(backbone: str) -> str | None:
    return deeplift_problem(architecture(backbone))


def deeplift_problem(model: nn.Module) -> str | None:
    """Why captum's DeepLift cannot explain ``model`` with summation-to-delta, or None."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    uncovered = uncovered_leaves(model, DEEPLIFT_LEAVES)
    if uncovered:
        return (f"its {', '.join(uncovered)} layers have no Rescale rule in captum, so the attributions would not "
                "add up to the score difference.")
    if any(isinstance(module, (BasicBlock, Bottleneck)) for module in model.modules()):
        return ("its residual blocks call one ReLU module twice, and captum's DeepLift keeps one reference "
                "activation per module, so it cannot run on them.")
    return None


class DeepLift(InputAttributionMethod):
    """A_i = (x_i − x'_i) · m_i with Rescale multipliers m (captum), summed over color channels (signed);
    Σ_i A_i = s(x) − s(x') is checked and reported. The reference x' is a black, gray or blurred image.

    Shrikumar, Greenside, Kundaje. "Learning Important Features Through Propagating Activation
    Differences." ICML 2017. arXiv:1704.02685
    """

    name = "deeplift"
    title = "DeepLift"
    paper = ("Shrikumar et al., Learning Important Features Through Propagating Activation Differences, "
             "ICML 2017 (arXiv:1704.02685)")
    summary = (
        "DeepLift compares the image with a reference (a black, gray or blurred image) and passes the score "
        "difference back through the network: each ReLU passes on the ratio of its output's change to its input's "
        "change (the Rescale rule) instead of its slope. The attributions add up to the score difference between "
        "the image and the reference; the note shows how closely. Signed. Two forward passes and one backward pass."
    )
    family = "propagation"
    group = "attribution"
    cost = "1 forward + 1 backward of image and reference together"
    signed = True
    declared_options = (
        Option("reference", "black", "choice", "reference image",
               "What the image is compared with: a uniform black or gray image, or the image blurred "
               f"(Gaussian, σ = 1/{round(1 / BLUR_SIGMA)} of its side).", choices=REFERENCES),
    )

    def unavailable_reason(self, spec: BackboneSpec) -> str | None:
        module = getattr(spec, "module", None)  # a user's wrapped model: looked at each time, not cached
        return deeplift_problem(module) if module is not None else _deeplift_problem(spec.name)

    def passes(self, options: Mapping, *, channels: int, input_size: int) -> float:
        # The image and the reference in one doubled forward+backward pass, with captum's per-module hooks:
        # measured 6.7 to 7.7 passes on EfficientNet-Lite0 (docs/performance.md).
        return 8.0

    def references(self, target: Target, inputs: torch.Tensor) -> torch.Tensor:
        """The reference input x' of each image (N×3×S×S)."""
        reference = self.option(target, "reference")
        if reference == "blurred":
            side = inputs.shape[-1]
            sigma = max(0.5, BLUR_SIGMA * side)
            kernel = 2 * int(3 * sigma) + 1
            return TF.gaussian_blur(inputs.detach(), [kernel, kernel], [sigma, sigma])
        level = 0 if reference == "black" else 128
        return target.constant(level).expand_as(inputs).contiguous()

    def deeplift(self, target: Target, inputs: torch.Tensor, classes: list[int]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(attributions, Σ attributions − (s(x) − s(x')), s(x) − s(x')) per image, from captum on a copy."""
        from captum.attr import DeepLift as CaptumDeepLift

        model = replace_relu6(working_copy(target.model))
        wrapped = ExplainedScore(model, target.objective, classes)
        references = self.references(target, inputs)
        with warnings.catch_warnings(), torch.enable_grad():
            warnings.simplefilter("ignore")  # captum announces the hooks it sets (on the copy) and removes
            attributions, delta = CaptumDeepLift(wrapped).attribute(
                inputs.detach().clone(), baselines=references, target=0, return_convergence_delta=True)
            with torch.no_grad():
                difference = (wrapped(inputs) - wrapped(references))[:, 0]
        return attributions.detach(), delta.detach(), difference

    def attribute(self, target, inputs, classes):
        return self.deeplift(target, inputs, classes)[0]

    def compute_batch(self, target: Target) -> list[RawMap]:
        with torch.no_grad():
            logits = target.model(target.inputs)
        classes = choose_classes(logits, target.class_index)
        attributions, delta, difference = self.deeplift(target, target.inputs, classes)
        values = self.reduce(attributions)
        reference = self.option(target, "reference")
        return [RawMap(values[i], logits[i], c, summation_note(float(attributions[i].sum()), float(difference[i]),
                                                               float(delta[i]), reference))
                for i, c in enumerate(classes)]


def summation_note(total: float, difference: float, delta: float, reference: str) -> str:
    """What a person should read about summation-to-delta: the sum, the score difference and the gap."""
    relative = abs(delta) / max(abs(difference), 1e-12)
    return (f"Summation-to-delta: the attributions add up to {total:.3f}; the score difference between the image "
            f"and the {reference} reference is {difference:.3f}: a gap of {relative:.2%}.")
