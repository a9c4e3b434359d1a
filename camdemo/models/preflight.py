"""The pre-flight check of a model camdemo has never seen: which methods apply to it, and why not.

``check_model`` runs the model twice on an example input (see ``camdemo.models.inspect`` for the first
pass, without gradients; the second has them) and says, in sentences that name the module concerned,
what a person should know before explaining it: the CAM head or why there is none, ReLUs called as
functions (guided methods change nn.ReLU modules only), a layer that does not reach the output, an
output that is not N×classes, modules in training mode, a layer used twice, an activation changed in
place behind camdemo's hooks. The model is left as it was found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import threading

import torch
from torch import nn

from ..errors import CamdemoError
from .inspect import (GUIDED_ACTIVATIONS, Survey, cam_head_and_reason, layer_info, layers_of, left_as_found,
                      survey_model)
from .layers import MAX_EXTRA_TOKENS, LayerInfo
from .spec import GapLinearHead


class MethodLike(Protocol):
    """What ``check_model`` reads of a method (``camdemo.explainers.Method``), so that this layer need not import it."""

    @property
    def name(self) -> str: ...

    @property
    def family(self) -> str: ...

    @property
    def uses_layer(self) -> bool: ...


@dataclass(frozen=True)
class Finding:
    """Something a person should know about the model, about one module (``module``; "" for the whole model)."""

    module: str
    text: str

    def __str__(self) -> str:
        return self.text


HeadKind = Literal["single", "classes", "unsupported"]


@dataclass(frozen=True)
class ModelReport:
    """The pre-flight check of a model: what camdemo found and, per method, why it does not apply (None: it does)."""

    layers: tuple[LayerInfo, ...]
    default_layer: str | None  # the deepest listed layer whose map the scores' gradient reaches
    layer: str | None  # the layer checked: the one asked for, else the default
    cam_head: GapLinearHead | None
    cam_unavailable: str | None  # why there is no CAM head, when cam_head is None
    output_shape: tuple[int, ...] | None  # None when the output is not a tensor
    head_kind: HeadKind  # single: N×1 (binary or regression, ambiguous); classes: N×K; unsupported
    head_kind_text: str
    methods: Mapping[str, str | None] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    @property
    def applicable(self) -> tuple[str, ...]:
        """The methods that apply, in the order given."""
        return tuple(name for name, reason in self.methods.items() if reason is None)

    def summary(self) -> str:
        """The report in a few lines of text."""
        lines = [f"Output: {self.head_kind_text}"]
        if self.layers:
            lines.append("Layers: " + "; ".join(info.label for info in self.layers))
        lines.append(f"Layer checked: {self.layer}" if self.layer else "No layer with a spatial map was found.")
        lines.append(f"CAM head: {self.cam_head.layer} → {self.cam_head.classifier}" if self.cam_head
                     else f"CAM head: none. {self.cam_unavailable}")
        lines += [f"- {finding.text}" for finding in self.findings]
        lines += [f"{name}: {'applies' if reason is None else reason}" for name, reason in self.methods.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Gradients:
    """From one pass with gradients: per probed layer "ok", "zero" or "none" (no path), and the input's."""

    layers: dict[str, str]
    input: str
    modified_in_place: tuple[str, ...]  # layers whose output was changed in place after the layer ran
    error: str | None = None


def _probe_gradients(model: nn.Module, inputs: torch.Tensor, layers: dict[str, int]) -> _Gradients:
    """One pass with gradients: ∂(sum of the outputs)/∂(each layer's output and the input).

    Each probed layer's output is replaced by output + z for a zero leaf z of its own, so one backward
    pass gives every layer's gradient (∂/∂z = ∂/∂output) without cutting the path to earlier layers; the
    network receives a new tensor, as with camdemo's hooks. ``layers`` maps names to the number of extra
    leading tokens (only the patch tokens of a token layer count). A layer whose output tensor is changed
    in place after the layer ran (through another reference to it: the network itself goes on with the
    new tensor) is in ``modified_in_place``: camdemo would read the changed values.
    """
    zeros: dict[str, torch.Tensor] = {}
    kept: dict[str, tuple[torch.Tensor, int]] = {}

    owner = threading.get_ident()

    def probe(name: str) -> Callable[[nn.Module, tuple, object], object]:
        def hook(_module: nn.Module, _args: tuple, output: object) -> object:
            if threading.get_ident() != owner:
                return None  # another thread's pass through the same model
            if not isinstance(output, torch.Tensor) or not output.is_floating_point() or name in zeros:
                return None
            kept[name] = (output, output._version)
            zeros[name] = torch.zeros_like(output, requires_grad=True)
            return output + zeros[name]
        return hook

    leaf = inputs.detach().clone().requires_grad_(inputs.is_floating_point())
    handles = [model.get_submodule(name).register_forward_hook(probe(name)) for name in layers]
    try:
        with left_as_found(model), torch.enable_grad():
            output = model(leaf)
            if not isinstance(output, torch.Tensor) or not output.is_floating_point() or not output.requires_grad:
                return _Gradients({name: "none" for name in layers}, "none", ())
            wanted = [*zeros.values(), leaf] if leaf.requires_grad else list(zeros.values())
            gradients = torch.autograd.grad(output.float().sum(), wanted, allow_unused=True)
    except Exception as error:  # the user's model: report what failed rather than fail the check
        return _Gradients({}, "none", (), error=f"{type(error).__name__}: {error}")
    finally:
        for handle in handles:
            handle.remove()
    verdicts = {}
    for (name, _), gradient in zip(zeros.items(), gradients):
        if gradient is not None and gradient.dim() == 3:
            gradient = gradient[:, layers[name]:, :]
        verdicts[name] = "none" if gradient is None else "zero" if not bool(gradient.any()) else "ok"
    input_verdict = "none"
    if leaf.requires_grad and gradients[-1] is not None:
        input_verdict = "ok" if bool(gradients[-1].any()) else "zero"
    modified = tuple(name for name, (tensor, version) in kept.items() if tensor._version != version)
    return _Gradients(verdicts, input_verdict, modified)


def _output_kind(output: object) -> tuple[tuple[int, ...] | None, HeadKind, str]:
    if isinstance(output, torch.Tensor):
        shape = tuple(output.shape)
        if output.dim() == 2 and shape[1] == 1:
            return shape, "single", (f"{shape}: one output per image. That is a binary classifier (one sigmoid "
                                     "logit) or a regression, and the shape cannot tell which: say which.")
        if output.dim() == 2:
            return shape, "classes", (f"{shape}: {shape[1]} outputs per image, read as class scores (one per "
                                      "class; softmax classes, independent labels or several regression outputs "
                                      "look alike).")
        return shape, "unsupported", (f"{shape}: not one row of scores per image (N×classes). camdemo explains "
                                      "classifier and regression outputs; wrap the model so that it returns N×K "
                                      "scores (for a single output, N×1).")
    kind = type(output).__name__
    keys = f" with keys {', '.join(map(str, output))}" if isinstance(output, Mapping) else ""
    return None, "unsupported", (f"a {kind}{keys}, not a tensor of scores N×classes. Wrap the model so that "
                                 "forward() returns the scores tensor only (e.g. output['logits'] or output[0]).")


def _resolve(model: nn.Module, layer: str, layers: tuple[LayerInfo, ...]) -> None:
    try:
        module = model.get_submodule(layer) if layer else None
    except AttributeError:
        module = None
    if module is None or module is model:
        choices = ", ".join(info.name for info in layers) or "none found"
        raise CamdemoError(f"'{layer}' is not a module of this model. Layers with a spatial map: {choices} "
                           "(any name from model.named_modules() works).")


def _findings(model: nn.Module, survey: Survey, layer: str | None, layers: tuple[LayerInfo, ...],
              gradients: _Gradients | None, output_text: str, output_ok: bool) -> tuple[dict[str, str], list[Finding]]:
    """(problems by requirement, findings): the requirements are "output", "layer", "layer gradient",
    "input gradient" and "guided"; each problem is a sentence for a person."""
    problems: dict[str, str] = {}
    findings: list[Finding] = []

    def problem(requirement: str, module: str, text: str) -> None:
        problems.setdefault(requirement, text)
        findings.append(Finding(module, text))

    if not output_ok:
        problem("output", "", f"The model's output is {output_text}")
    if survey.training:
        first = survey.training[0]
        more = f" and {len(survey.training) - 1} more BatchNorm or Dropout modules are" \
            if len(survey.training) > 1 else " is"
        findings.append(Finding(first, f"'{first}' ({type(model.get_submodule(first)).__name__}){more} in training "
                                       "mode. camdemo explains in eval mode (BatchNorm uses its running averages, "
                                       "Dropout keeps everything) and gives your model its mode back afterwards; "
                                       "call model.eval() to get the scores camdemo explains."))
    if layer is None:
        problem("layer", "", "No module outputs a spatial map (N×C×H×W with more than one position) or a "
                             "square grid of tokens, so the CAM-family methods have no layer to explain.")
    else:
        calls = survey.calls.get(layer, 0)
        info = next((info for info in layers if layer == info.name or layer in info.aliases), None)
        shape_ok = info is not None or any(layer_info(layer, output.tensor.shape, ()) is not None
                                           for output in survey.outputs if output.name == layer)
        if calls == 0:
            problem("layer", layer, f"Layer '{layer}' does not run when the model runs on the example input.")
        elif calls > 1:
            problem("layer", layer, f"Layer '{layer}' runs {calls} times in one pass (the same module is used in "
                                    "several places), so its output is ambiguous: choose the block that contains it, "
                                    "or give each use a module of its own.")
        elif not shape_ok:
            problem("layer", layer, f"Layer '{layer}' does not output a spatial map (N×C×H×W) or a square grid of "
                                    f"tokens (N×T×C with at most {MAX_EXTRA_TOKENS} class or register tokens).")
    if gradients is not None and gradients.error is not None:
        problem("layer gradient", "", f"Computing gradients through the model failed: {gradients.error}")
        problem("input gradient", "", f"Computing gradients through the model failed: {gradients.error}")
    elif gradients is not None and layer is not None and "layer" not in problems:
        verdict = gradients.layers.get(layer, "none")
        if verdict == "none":
            problem("layer gradient", layer, f"Layer '{layer}' does not reach the output: the scores do not depend "
                                             "on it (no gradient), so gradient-based methods give nothing there.")
        elif verdict == "zero":
            tokens = info is not None and info.kind == "tokens"
            why = (" After it, the scores read only the class token (as in a ViT's last block), so choose an "
                   "earlier block or this block's first LayerNorm." if tokens else "")
            problem("layer gradient", layer, f"The scores' gradient at layer '{layer}' is zero everywhere for the "
                                             f"example input, so its gradient-based maps would be blank.{why}")
        if layer in gradients.modified_in_place:
            problem("layer", layer, f"The output of '{layer}' is changed in place after the layer runs, through "
                                    "another reference to it (e.g. a tensor it returns unchanged, then modified with "
                                    "an in-place operation), so camdemo would read the changed values: choose the "
                                    "module that makes the tensor, or replace the in-place operation.")
    if gradients is not None and gradients.error is None and gradients.input != "ok":
        text = ("The scores do not depend on the input pixels through gradients (no gradient reaches the input: "
                "a detach(), a no_grad block or a non-differentiable step in forward())."
                if gradients.input == "none" else
                "The scores' gradient with respect to the input is zero everywhere for the example input.")
        problem("input gradient", "", text + " Methods that differentiate with respect to the pixels give nothing.")
    findings += _guided_findings(model, survey, problems)
    return problems, findings


def _guided_findings(model: nn.Module, survey: Survey, problems: dict[str, str]) -> list[Finding]:
    """Guided backpropagation changes the backward pass of ``nn.ReLU``/``nn.ReLU6`` modules only."""
    findings = []
    relu_modules = [name for module, name in survey.names.items()
                    if isinstance(module, GUIDED_ACTIVATIONS) and survey.calls.get(name, 0) > 0]
    functional = sorted(survey.functional_relus)
    if functional:
        places = ", ".join(f"'{name}'" if name else f"the forward() of the model itself ({type(model).__name__})"
                           for name in functional)
        text = (f"ReLU is called as a function (F.relu, torch.relu or x.relu()) in {places}. Guided Backprop and "
                "Guided Grad-CAM change the backward pass of nn.ReLU modules only, so they would guide "
                f"{'only some' if relu_modules else 'none'} of the ReLUs: use nn.ReLU modules there to use them.")
        problems.setdefault("guided", text)
        findings += [Finding(name, text) for name in functional[:1]]
    elif not relu_modules:
        problems.setdefault("guided", "Guided Backprop and Guided Grad-CAM change the backward pass of nn.ReLU "
                                      "modules, and none runs in this model (it uses other activations), so the "
                                      "result would be plain gradients.")
    return findings


def _method_reason(method: MethodLike, problems: dict[str, str], cam: tuple[GapLinearHead | None, str | None]
                   ) -> str | None:
    """Why ``method`` does not apply given the problems found, or None."""
    if "output" in problems:
        return problems["output"]
    if method.name == "cam":
        return cam[1] if cam[0] is None else None
    if method.name.startswith("guided") and "guided" in problems:
        return problems["guided"]
    if method.uses_layer:
        if "layer" in problems:
            return problems["layer"]
        if getattr(method, "needs_gradients", True) and "layer gradient" in problems:
            return problems["layer gradient"]
    pixel_gradients = method.family == "gradient" or (not method.uses_layer and method.family != "perturbation")
    if pixel_gradients and "input gradient" in problems:
        return problems["input gradient"]
    return None


def check_model(module: nn.Module, example_input: torch.Tensor, *, layer: str | None = None,
                methods: Mapping[str, MethodLike] | None = None) -> ModelReport:
    """The pre-flight check of ``module`` on ``example_input``: two passes (one with gradients) in eval mode.

    ``layer`` is the layer to check (default: the deepest listed one that the scores' gradient reaches).
    ``methods`` (``camdemo.explainers.METHODS``) are the methods to judge; the report says, for each, why it
    does not apply, or None. The model is left as it was (see the module docstring).
    """
    survey = survey_model(module, example_input)
    layers = layers_of(survey)
    if layer is not None:
        _resolve(module, layer, layers)
    cam = cam_head_and_reason(module, survey)
    output_shape, head_kind, head_text = _output_kind(survey.output)
    probed = {info.name: info.extra_tokens for info in layers}
    if layer is not None and layer not in probed:
        match = next((info for info in layers if layer in info.aliases), None)
        probed[layer] = match.extra_tokens if match else 0
    gradients = None
    if head_kind != "unsupported":  # every listed layer's output is watched for in-place changes
        gradients = _probe_gradients(module, example_input, probed)
    reached = [info.name for info in layers if gradients is None or gradients.layers.get(info.name) == "ok"]
    default = reached[0] if reached else (layers[0].name if layers else None)
    checked = layer if layer is not None else default
    problems, findings = _findings(module, survey, checked, layers, gradients, head_text, head_kind != "unsupported")
    if cam[0] is not None:
        findings.insert(0, Finding(cam[0].classifier, f"CAM applies: '{cam[0].classifier}' reads the global average "
                                   f"of {'the ReLU of ' if cam[0].relu_before_pool else ''}'{cam[0].layer}'."))
    names = [info.name for info in layers]
    skipped = names[:names.index(reached[0])] if reached else []
    if skipped and default is not None:
        findings.append(Finding(default, f"Default layer '{default}': the scores' gradient does not reach the "
                                               f"deeper layers {', '.join(map(repr, skipped))} (or is zero there)."))
    reasons = {name: _method_reason(method, problems, cam) for name, method in (methods or {}).items()}
    return ModelReport(layers=layers, default_layer=default, layer=checked, cam_head=cam[0], cam_unavailable=cam[1],
                       output_shape=output_shape, head_kind=head_kind, head_kind_text=head_text, methods=reasons,
                       findings=tuple(findings))

