"""Methods that attribute the class score to the input pixels through gradients.

Each computes an attribution with the input's shape (N×3×S×S) and then reduces the color
channels to one map: ``attribute`` and ``reduce``. Keeping the two apart is what lets SmoothGrad
wrap any of them (it averages attributions over noisy copies, then reduces).
"""

from __future__ import annotations

import functools
import threading
from abc import abstractmethod
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models import BackboneSpec, architecture
from .base import FORWARD_PASS, Method, RawMap, Target, choose_classes
from .options import Option, batch_size_option


class InputAttributionMethod(Method):
    """Base of the gradient family: ``attribute`` → N×3×S×S, ``reduce`` → N×S×S."""

    uses_layer = False
    family = "gradient"
    group = "attribution"  # what the map shows (base.GROUPS); saliency and SmoothGrad: "functions"

    @abstractmethod
    def attribute(self, target: Target, inputs: torch.Tensor, classes: list[int]) -> torch.Tensor:
        """Attributions (N×3×S×S) of each image's class score to its input values."""

    def reduce(self, attributions: torch.Tensor) -> torch.Tensor:
        """Color channels → one map: the signed sum for signed methods, else the largest magnitude."""
        return attributions.sum(dim=1) if self.signed else attributions.abs().amax(dim=1)

    def attribute_and_logits(self, target: Target) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(attributions, logits, classes) for ``target``. This default runs a forward pass for the logits
        first; single-pass methods override it to take the logits from their own gradient pass."""
        with torch.no_grad():
            logits = target.model(target.inputs)
        classes = choose_classes(logits, target.class_index)
        return self.attribute(target, target.inputs, classes), logits, classes

    def compute_batch(self, target: Target) -> list[RawMap]:
        attributions, logits, classes = self.attribute_and_logits(target)
        values = self.reduce(attributions).detach()
        return [RawMap(values[i], logits[i], c) for i, c in enumerate(classes)]


def class_score_gradients(target: Target, inputs: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """∂y_c/∂x for each image of ``inputs`` and its class c (one forward and one backward pass), where y_c is
    ``target``'s explained score (``Objective``: the class logit unless a direction or contrast is set)."""
    return gradients_and_logits(target, inputs, classes)[0]


def gradients_and_logits(target: Target, inputs: torch.Tensor, class_index
                         ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(∂y_c/∂x, logits, classes) of ``target.model`` from one forward and one backward pass; ``class_index``
    as in ``Target``.

    The sum of the N explained scores is differentiated: images do not interact in eval mode, so
    each image receives only its own class's gradient.
    """
    inputs = inputs.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = target.model(inputs)
        classes = choose_classes(logits, class_index)
        score = target.scores(logits, classes).sum()
        (gradients,) = torch.autograd.grad(score, inputs)
    return gradients, logits.detach(), classes


def has_relu_modules(spec: BackboneSpec) -> bool:
    """Whether ``spec``'s architecture has ReLU modules (the ones guided backpropagation changes)."""
    if spec.module is not None:  # a user's model: looked at each time, not kept alive by a cache
        return _relu_modules_in(spec.module)
    return _backbone_has_relu_modules(spec.name)


@functools.cache
def _backbone_has_relu_modules(backbone: str) -> bool:
    return _relu_modules_in(architecture(backbone))


def _relu_modules_in(model: nn.Module) -> bool:
    return any(isinstance(module, GUIDED_ACTIVATIONS) for module in model.modules())


class InputXGradient(InputAttributionMethod):
    """R(x) = x ⊙ ∂y_c/∂x, summed over color channels (signed).

    The first-order Taylor term of the score around the zero input. For a linear model it is
    exactly each input's contribution, and it equals Integrated Gradients with a zero baseline.

    Shrikumar, Greenside, Shcherbina, Kundaje. "Not Just a Black Box: Learning Important Features
    Through Propagating Activation Differences." arXiv:1605.01713 (2016)
    """

    name = "input_x_gradient"
    title = "Input × Gradient"
    paper = ("Shrikumar et al., "
             "Not Just a Black Box: Learning Important Features Through Propagating Activation Differences, "
             "arXiv:1605.01713")
    summary = (
        "Input × Gradient multiplies each input value by the gradient of the class score with respect to it: a "
        "first-order estimate of how much that pixel contributes. Signed: positive pixels push towards the class. "
        "One forward and one full backward pass."
    )
    signed = True

    def attribute(self, target, inputs, classes):
        return inputs * class_score_gradients(target, inputs, classes)

    def attribute_and_logits(self, target):
        gradients, logits, classes = gradients_and_logits(target, target.inputs, target.class_index)
        return target.inputs * gradients, logits, classes


BASELINES = {"black": 0, "white": 255, "gray": 128}


class IntegratedGradients(InputAttributionMethod):
    """IG_i(x) = (x_i − x'_i) · ∫₀¹ ∂y_c/∂x_i (x' + α(x − x')) dα, summed over color channels.

    The integral is computed with Gauss–Legendre quadrature in exactly ``steps`` points. With
    ``path="quadratic"`` (the default) the points are placed at α = t² for Gauss–Legendre nodes t,
    with weights 2t·w: the same integral, but with more points near the baseline, where the
    gradients of a trained ReLU6 network swing most (measured: on EfficientNet-Lite0 and a black
    baseline the integrand's spread is 100× larger for α < 0.06 than elsewhere). ``path="linear"``
    uses the nodes as they are, as captum does.

    Completeness: Σ_i IG_i = y_c(x) − y_c(x'). It is checked for every map and the gap is reported.
    With ``adaptive=True`` the step count is doubled while the gap exceeds ``tolerance``, up to
    ``max_steps``. The baseline x' is a uniform black, gray or white image.

    Sundararajan, Taly, Yan. "Axiomatic Attribution for Deep Networks." ICML 2017. arXiv:1703.01365
    """

    name = "integrated_gradients"
    title = "Integrated Gradients"
    paper = "Sundararajan et al., Axiomatic Attribution for Deep Networks, ICML 2017 (arXiv:1703.01365)"
    summary = (
        "Integrated Gradients fades the image in from a baseline (a black image by default) and adds up the "
        "gradients along the way, times how much each pixel differs from the baseline. The attributions add up to "
        "the score difference between the image and the baseline: the note shows how closely (switch on adaptive "
        "steps to double the step count until they agree within 1%). Signed. One forward and backward pass per step."
    )
    cost = "1 forward + 1 backward per step"
    signed = True
    declared_options = (
        Option("steps", 128, "int", "integration steps",
               "Points on the path from the baseline to the image: exactly this many forward and backward passes.",
               low=2, high=1024),
        Option("baseline", "black", "choice", "baseline image",
               "The uniform image the path starts from.", choices=tuple(BASELINES),
               aliases=(("grey", "gray"),)),  # the old spelling, from code written before the sweep
        Option("adaptive", False, "bool", "adaptive steps",
               "Double the steps while the attributions miss the score difference by more than the tolerance."),
        Option("max_steps", 256, "int", "most adaptive steps",
               "The most steps adaptive doubling may reach (raised to steps when lower).",
               low=2, high=1024, in_app=False),
        Option("tolerance", 0.01, "float", "completeness tolerance",
               "The completeness gap, relative to the score difference, that adaptive doubling aims for.",
               low=0.0, high=1.0, in_app=False),
        Option("path", "quadratic", "choice", "path spacing",
               "Where the points lie: quadratic puts more near the baseline, linear is captum's spacing.",
               choices=("quadratic", "linear"), in_app=False),
        batch_size_option("path points"),
    )

    def check_combination(self, options):
        options["max_steps"] = max(options["steps"], options["max_steps"])

    def passes(self, options, *, channels, input_size):
        """``steps`` passes and two forward passes (image and baseline); with ``adaptive``, the most it can
        take: steps + 2·steps + … up to ``max_steps``."""
        steps, total = options["steps"], options["steps"]
        while options["adaptive"] and steps * 2 <= options["max_steps"]:
            steps *= 2
            total += steps
        return total + 2 * FORWARD_PASS

    def quadrature(self, target: Target, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Points α in (0, 1) and weights such that Σ weight · g(α) ≈ ∫₀¹ g(α) dα."""
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        t, w = 0.5 * (nodes + 1), 0.5 * weights
        if self.option(target, "path") == "quadratic":
            return t ** 2, w * 2 * t
        return t, w

    def baseline(self, target: Target) -> torch.Tensor:
        return target.constant(BASELINES[self.option(target, "baseline")])

    def integrate(self, target: Target, image: torch.Tensor, class_index: int, steps: int,
                  report=None) -> torch.Tensor:
        """IG of one image (1×3×S×S) with ``steps`` quadrature points."""
        points, weights = self.quadrature(target, steps)
        alphas = torch.tensor(points, dtype=image.dtype, device=image.device)
        step_weights = torch.tensor(weights, dtype=image.dtype, device=image.device)
        baseline = self.baseline(target)
        difference = image - baseline
        total = torch.zeros_like(difference)
        batch = self.option(target, "batch_size")
        for start in range(0, steps, batch):
            path = baseline + alphas[start:start + batch, None, None, None] * difference
            gradients = class_score_gradients(target, path, [class_index] * len(path))
            total += (step_weights[start:start + batch, None, None, None] * gradients).sum(dim=0, keepdim=True)
            if report is not None:
                report(min(steps, start + batch), steps)
        return difference * total

    def attribute(self, target, inputs, classes):
        steps = self.option(target, "steps")

        def report(i: int):  # per image of ``inputs``: progress over all of them
            return lambda done, of: target.report((i + done / of) / len(classes), f"step {done} of {of}")

        return torch.cat([self.integrate(target, inputs[i:i + 1], c, steps, report(i)) for i, c in enumerate(classes)])

    def completeness(self, target: Target, image: int, attributions: torch.Tensor, class_index: int
                     ) -> tuple[float, float]:
        """(Σ attributions, y_c(x) − y_c(baseline)) for one image."""
        with torch.no_grad():
            scores = target.scores(target.model(torch.cat([target.inputs[image:image + 1], self.baseline(target)])),
                                   class_index)
        return float(attributions.sum()), float(scores[0] - scores[1])

    def compute_batch(self, target: Target) -> list[RawMap]:
        with torch.no_grad():  # the images' and the baseline's scores, once: completeness compares against them
            logits = target.model(torch.cat([target.inputs, self.baseline(target)]))
        logits, baseline_logits = logits[:-1], logits[-1]
        classes = choose_classes(logits, target.class_index)
        results = []
        for i, class_index in enumerate(classes):
            image_score, baseline_score = target.scores(torch.stack([logits[i], baseline_logits]), class_index).tolist()
            difference = image_score - baseline_score
            steps, used = self.option(target, "steps"), 0
            while True:
                def report(done, of, used=used, i=i):
                    target.report((i + min(0.99, (used + done) / (used + of + 1e-9))) / len(classes),
                                  f"Integrated Gradients: step {done} of {of}")
                attributions = self.integrate(target, target.inputs[i:i + 1], class_index, steps, report)
                used += steps
                total = float(attributions.sum())
                gap = abs(total - difference) / max(abs(difference), 1e-12)
                if not self.option(target, "adaptive") or gap <= self.option(target, "tolerance") \
                        or steps * 2 > self.option(target, "max_steps"):
                    break
                steps *= 2
            note = self.completeness_note(target, total, difference, gap, steps)
            results.append(RawMap(self.reduce(attributions)[0].detach(), logits[i], class_index, note))
        return results

    def completeness_note(self, target: Target, total: float, difference: float, gap: float, steps: int) -> str:
        """What a person should read about completeness: the sum, the score difference and the gap."""
        note = (f"Completeness: the attributions add up to {total:.3f}; the score difference between the image "
                f"and the {self.option(target, 'baseline')} baseline is {difference:.3f}: a gap of {gap:.1%} "
                f"with {steps} steps.")
        if gap > self.option(target, "tolerance"):
            hint = "More steps would narrow it" if self.option(target, "adaptive") else \
                "More steps (or adaptive steps) would narrow it"
            note += f" {hint} (the network's gradients change abruptly along the path)."
        return note


GUIDED_ACTIVATIONS = (nn.ReLU, nn.ReLU6)


def _positive_only(gradient: torch.Tensor) -> torch.Tensor:
    return gradient.clamp(min=0)


@contextmanager
def guided_relus(model: nn.Module) -> Iterator[int]:
    """Inside the block, this thread's backward passes through the ReLU modules of ``model`` are guided.

    A thread-filtered forward hook on every ``nn.ReLU``/``nn.ReLU6`` puts a gradient hook on the
    module's output that keeps only positive gradients; together with the ReLU's own backward (zero
    where its input was ≤ 0) this is Springenberg et al.'s rule. The gradient hook belongs to that
    one output tensor, so it dies with the call's graph. Yields the number of modules guided.
    Removed on exit, also on error. ReLUs called as functions are not seen.
    """
    owner = threading.get_ident()

    def hook(_module, _args, output):
        if threading.get_ident() == owner and torch.is_grad_enabled() and output.requires_grad:
            output.register_hook(_positive_only)
        return None

    handles = [module.register_forward_hook(hook) for module in model.modules()
               if isinstance(module, GUIDED_ACTIVATIONS)]
    try:
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()


class GuidedBackprop(InputAttributionMethod):
    """R(x) = ∂y_c/∂x with every ReLU's backward pass replaced by
    ∂_in = [input > 0] · ReLU(∂_out): only positive gradients flow back.

    Shown as the largest magnitude over color channels. Sharp and pretty, but Adebayo et al.
    (2018) showed it barely changes when the model's weights are randomized: it largely
    reconstructs the image's edges. The sanity check tab shows this.

    Springenberg, Dosovitskiy, Brox, Riedmiller. "Striving for Simplicity: The All Convolutional
    Net." ICLR Workshop 2015. arXiv:1412.6806
    """

    group = "signal"
    name = "guided_backprop"
    title = "Guided Backprop"
    paper = ("Springenberg et al., Striving for Simplicity: The All Convolutional Net, "
             "ICLR Workshop 2015 (arXiv:1412.6806)")
    summary = (
        "Guided Backpropagation computes the input gradient but lets only positive gradients pass back through "
        "each ReLU. The result looks crisp, but it mostly shows the image's edges whatever the class or even the "
        "weights: see the sanity check tab. One forward and one full backward pass."
    )

    def unavailable_reason(self, spec):
        return None if has_relu_modules(spec) else (
            "Guided Backpropagation changes the backward pass of ReLU units, and this network has none (it uses "
            "other activations), so the result would be plain gradients.")

    def attribute(self, target, inputs, classes):
        with guided_relus(target.model):
            return class_score_gradients(target, inputs, classes)

    def attribute_and_logits(self, target):
        with guided_relus(target.model):  # the forward pass is unchanged, so its logits are the model's
            return gradients_and_logits(target, target.inputs, target.class_index)


class GuidedGradCAM(InputAttributionMethod):
    """R(x) = GuidedBackprop(x) ⊙ upsample(Grad-CAM(x)), bilinear to the input size.

    Guided Backprop's detail, restricted to where Grad-CAM (at the chosen layer) finds evidence
    for the class. Shown as the largest magnitude over color channels.

    Selvaraju et al., Grad-CAM, ICCV 2017 (section 3.1). arXiv:1610.02391
    """

    group = "signal"
    name = "guided_gradcam"
    title = "Guided Grad-CAM"
    paper = ("Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization, "
             "ICCV 2017 (arXiv:1610.02391), section 3.1")
    summary = (
        "Guided Grad-CAM multiplies Guided Backpropagation's fine detail by the (upsampled) Grad-CAM map, keeping "
        "the detail only where Grad-CAM finds evidence for the class. Two forward and backward passes."
    )
    cost = "2 forward + 2 backward"
    uses_layer = True

    def unavailable_reason(self, spec):
        return GuidedBackprop().unavailable_reason(spec)

    def passes(self, options, *, channels, input_size):
        return 2.0  # Grad-CAM's pass and Guided Backprop's

    def attribute(self, target, inputs, classes):
        return self._guided_times_gradcam(replace_inputs(target, inputs, classes))[0]

    def attribute_and_logits(self, target):
        return self._guided_times_gradcam(target)

    def _guided_times_gradcam(self, target: Target) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        from .gradcam import GradCAM

        gradcam = GradCAM()
        forward = gradcam.forward(target)  # its logits choose the classes: no extra forward pass
        raws = gradcam.finish(target, forward)
        classes = [raw.class_index for raw in raws]
        coarse = F.interpolate(torch.stack([torch.relu(raw.values) for raw in raws])[:, None],
                               size=target.inputs.shape[-2:], mode="bilinear", align_corners=False)
        guided = GuidedBackprop().attribute(target, target.inputs, classes)
        return guided * coarse, forward.logits.detach(), classes


def replace_inputs(target: Target, inputs: torch.Tensor, classes: list[int]) -> Target:
    """``target`` for other inputs (noisy copies, say) and explicit classes."""
    return replace(target, inputs=inputs, class_index=tuple(classes))
