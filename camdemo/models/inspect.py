"""A model camdemo has never seen: its layers worth explaining, its CAM head, and a pre-flight check.

Pure functions over an ``nn.Module`` and an example input (N×C×H×W, on the model's device; a real image
or random values, not zeros, so that gradients are not zero by accident). Each runs the model on the
example input, in eval mode, and leaves it as it was: hooks exist only inside the call (removed in
``finally``, also on error), every submodule gets its own train/eval mode back, parameters keep their
``requires_grad`` and nothing moves to another device.

* ``find_layers``: one pass without gradients; every module whose output is a spatial map (N×C×H×W,
  H·W > 1) or a token sequence on a square grid (N×T×C, see ``token_grid``), deepest first.
* ``find_cam_head``: an ``nn.Linear`` producing the model's output from the spatial mean of a module's
  map (or of its ReLU), checked numerically.
* ``check_model``: both, plus a pass with gradients, as a ``ModelReport`` that says for each method
  whether it applies and, if not, why, in sentences that name the module concerned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import CamdemoError
from .layers import MAX_EXTRA_TOKENS, LayerInfo, token_grid
from .spec import GapLinearHead

# Modules that only transform their input element-wise: not listed when the module feeding them is.
ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Identity,
               nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
GUIDED_ACTIVATIONS = (nn.ReLU, nn.ReLU6)  # what guided backpropagation hooks (explainers/input_gradients.py)
FUNCTIONAL_RELUS = {torch.relu, torch.relu_, F.relu, F.relu_, F.relu6, torch.Tensor.relu, torch.Tensor.relu_}
TRAIN_MODE_MATTERS = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.AlphaDropout)


class MethodLike(Protocol):
    """What ``check_model`` reads of a method (``camdemo.explainers.Method``), so that this layer need not import it."""

    name: str
    family: str
    uses_layer: bool


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


# ----------------------------------------------------------------------------------------------------------------
# One pass without gradients, recording what every module produced


@dataclass
class _Output:
    """One module call's tensor output that could be a layer: the tensor, its version then, and when it finished."""

    name: str
    tensor: torch.Tensor
    version: int
    order: int
    input_key: tuple[int, int] | None  # (id, version) of the first input, at the call

    @property
    def key(self) -> tuple[int, int]:
        return id(self.tensor), self.version


@dataclass
class _Map:
    """A 4-D output's summaries for the head search: spatial mean, mean of its ReLU, sum of all values per image."""

    name: str
    order: int
    mean: torch.Tensor
    relu_mean: torch.Tensor
    flat_sum: torch.Tensor
    numel: int


@dataclass
class _Survey:
    names: dict[nn.Module, str]
    calls: dict[str, int] = field(default_factory=dict)
    outputs: list[_Output] = field(default_factory=list)
    maps: list[_Map] = field(default_factory=list)
    linears: list[tuple[str, torch.Tensor, torch.Tensor]] = field(default_factory=list)  # name, input, output
    functional_relus: dict[str, int] = field(default_factory=dict)  # enclosing module name → calls
    stack: list[str] = field(default_factory=list)
    in_hook: bool = False  # our own hooks' tensor operations are not the model's
    output: Any = None
    training: tuple[str, ...] = ()  # BatchNorm/Dropout modules found in train mode


class _FunctionalRelus(TorchFunctionMode):
    """Counts ReLUs called as functions (``F.relu``, ``torch.relu``, ``x.relu()``) outside ReLU modules.

    Runs in the real forward pass, so it sees exactly the calls this input makes, where fx tracing
    would fail on data-dependent control flow; a branch this input does not take is not seen.
    """

    def __init__(self, survey: _Survey, model: nn.Module):
        super().__init__()
        self.survey, self.model = survey, model

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func in FUNCTIONAL_RELUS and not self.survey.in_hook:
            where = self.survey.stack[-1] if self.survey.stack else ""
            inside = self.model.get_submodule(where) if where else self.model
            if not isinstance(inside, GUIDED_ACTIVATIONS):
                self.survey.functional_relus[where] = self.survey.functional_relus.get(where, 0) + 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _left_as_found(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; afterwards every submodule has its own mode back."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _check_input(example_input: object) -> torch.Tensor:
    if not isinstance(example_input, torch.Tensor) or example_input.dim() != 4:
        shape = tuple(example_input.shape) if isinstance(example_input, torch.Tensor) else type(example_input).__name__
        raise CamdemoError(f"The example input is {shape}; give one batch of images as a tensor N×C×H×W, "
                           "preprocessed as the model expects.")
    return example_input


def _run(model: nn.Module, inputs: torch.Tensor) -> Any:
    try:
        return model(inputs)
    except CamdemoError:
        raise
    except Exception as error:  # the user's model: any exception means the example input does not fit it
        raise CamdemoError(f"The model failed on the example input {tuple(inputs.shape)}: {type(error).__name__}: "
                           f"{error}. Check its shape, channels, dtype and device.") from error


def _survey(model: nn.Module, example_input: torch.Tensor) -> _Survey:
    """One pass without gradients, in eval mode, with a hook on every module (all removed afterwards)."""
    inputs = _check_input(example_input)
    names = {module: name for name, module in model.named_modules() if name}
    survey = _Survey(names, training=tuple(name for module, name in names.items()
                                           if module.training and isinstance(module, TRAIN_MODE_MATTERS)))
    input_keys: dict[str, tuple[int, int] | None] = {}
    # the head search needs summaries only of maps as wide as some linear layer's input (pooled or flattened)
    widths = {module.in_features for module in names if isinstance(module, nn.Linear)}

    def before(module: nn.Module, args: tuple) -> None:
        name = names[module]
        survey.stack.append(name)
        first = args[0] if args else None
        input_keys[name] = (id(first), first._version) if isinstance(first, torch.Tensor) else None

    def after(module: nn.Module, args: tuple, output: object) -> None:
        survey.in_hook = True
        try:
            record(names[module], module, args, output)
        finally:
            survey.in_hook = False

    def record(name: str, module: nn.Module, args: tuple, output: object) -> None:
        if survey.stack and survey.stack[-1] == name:
            survey.stack.pop()
        survey.calls[name] = survey.calls.get(name, 0) + 1
        order = len(survey.outputs) + len(survey.maps) + len(survey.linears) + sum(survey.calls.values())
        if isinstance(module, nn.Linear) and args and isinstance(args[0], torch.Tensor) \
                and isinstance(output, torch.Tensor):
            survey.linears.append((name, args[0], output))
        if not isinstance(output, torch.Tensor) or output.dim() not in (3, 4):
            return
        survey.outputs.append(_Output(name, output, output._version, order, input_keys.get(name)))
        if output.dim() == 4 and output.shape[2] * output.shape[3] > 1 and output.is_floating_point() \
                and (output.shape[1] in widths or output[0].numel() in widths):
            values = output.float()
            survey.maps.append(_Map(name, order, values.mean((2, 3)), values.relu().mean((2, 3)),
                                    values.flatten(1).sum(1), values[0].numel()))

    handles = []
    try:
        with _left_as_found(model), torch.no_grad(), _FunctionalRelus(survey, model):
            for module in names:
                handles.append(module.register_forward_pre_hook(before))
                handles.append(module.register_forward_hook(after))
            survey.output = _run(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
    return survey


# ----------------------------------------------------------------------------------------------------------------
# Layers


def _layer_info(name: str, shape: torch.Size, aliases: tuple[str, ...]) -> LayerInfo | None:
    if len(shape) == 4 and shape[2] * shape[3] > 1:
        return LayerInfo(name, shape[1], shape[2], shape[3], aliases=aliases)
    grid = token_grid(shape[1]) if len(shape) == 3 else None
    if grid is None:
        return None
    side, extras = grid
    return LayerInfo(name, shape[2], side, side, kind="tokens", extra_tokens=extras, aliases=aliases)


def _is_within(name: str, ancestor: str) -> bool:
    return name == ancestor or name.startswith(ancestor + ".")


def _layers(survey: _Survey) -> tuple[LayerInfo, ...]:
    """The layers of a survey, deepest first.

    * A module that runs more than once in a pass (a shared activation) is left out: its output is ambiguous.
    * Modules whose output is the very same tensor, unchanged (a block and its last module, a stage and its
      last block) are one layer, named by the outermost of them (``layer4``, not ``layer4.1``); the others
      are its ``aliases``. Pass-through modules beside it (Dropout or Identity in eval mode) add nothing.
    * An element-wise module (activation, dropout, identity) is left out when the module feeding it is listed.
    """
    groups: dict[tuple[int, int], list[_Output]] = {}
    for output in survey.outputs:
        if survey.calls.get(output.name, 0) == 1:
            groups.setdefault(output.key, []).append(output)
    modules = {name: module for module, name in survey.names.items()}
    listed: dict[tuple[int, int], tuple[int, LayerInfo]] = {}
    for key, members in groups.items():  # in order of their first member's completion
        members.sort(key=lambda output: output.order)
        first = members[0]
        lineage = [output for output in members if _is_within(first.name, output.name)]
        outer = max(lineage, key=lambda output: output.order)
        aliases = tuple(output.name for output in lineage if output is not outer)
        if isinstance(modules[outer.name], ELEMENTWISE) and first.input_key in listed:
            continue
        info = _layer_info(outer.name, first.tensor.shape, aliases)
        if info is not None:
            listed[key] = (outer.order, info)
    return tuple(info for _order, info in sorted(listed.values(), key=lambda pair: -pair[0]))


def find_layers(module: nn.Module, example_input: torch.Tensor) -> tuple[LayerInfo, ...]:
    """The layers of ``module`` worth explaining, deepest first, from one pass without gradients.

    A layer is a module whose output is a spatial map N×C×H×W with H·W > 1 (``kind="map"``) or a token
    sequence N×T×C with T = h·w patch tokens on a square grid after at most ``MAX_EXTRA_TOKENS`` class or
    register tokens (``kind="tokens"``, a Vision Transformer's blocks). Names are as in
    ``module.named_modules()``. Which modules are left out, and which name stands for several, is said
    in ``_layers``. The model is left as it was (see the module docstring).
    """
    return _layers(_survey(module, example_input))


# ----------------------------------------------------------------------------------------------------------------
# CAM head


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    a, b = a.float(), b.float()
    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-4 * (1 + float(b.abs().max()))))


def _scores(output: object) -> torch.Tensor | None:
    return output if isinstance(output, torch.Tensor) and output.dim() == 2 else None


def _cam_head(module: nn.Module, survey: _Survey) -> tuple[GapLinearHead | None, str | None]:
    """The GAP → linear head of a survey's model, or None and why not, in a sentence."""
    scores = _scores(survey.output)
    if scores is None:
        return None, "CAM needs class scores N×classes, and this model's output is not that (see the findings)."
    finals = [(name, x, y) for name, x, y in survey.linears
              if survey.calls.get(name) == 1 and (y is scores or (y.shape == scores.shape and torch.equal(y, scores)))]
    if not finals:
        return None, ("CAM needs the scores to come straight out of a linear layer (nn.Linear) reading globally "
                      "averaged feature maps; this model's output is not the output of an nn.Linear module.")
    classifier, features, _ = finals[-1]
    linear = module.get_submodule(classifier)
    assert isinstance(linear, nn.Linear)
    maps = sorted((found for found in survey.maps if survey.calls.get(found.name) == 1),
                  key=lambda found: -found.order)  # outermost of equal outputs first: it finishes last
    for relu_before_pool in (False, True):
        for found in maps:
            pooled = found.relu_mean if relu_before_pool else found.mean
            if _close(pooled, features) and _close(F.linear(pooled, linear.weight.float(),
                                                            None if linear.bias is None else linear.bias.float()),
                                                   scores):
                return GapLinearHead(found.name, classifier, relu_before_pool), None
    return None, _why_no_head(classifier, features, survey)


def _why_no_head(classifier: str, features: torch.Tensor, survey: _Survey) -> str:
    """A sentence on what the final linear layer reads instead of globally averaged feature maps."""
    pooled_into = [(name, found.name) for name, x, _ in survey.linears for found in survey.maps
                   if name != classifier and (_close(found.mean, x) or _close(found.relu_mean, x))]
    if pooled_into:
        hidden, source = pooled_into[-1]
        return (f"CAM does not apply: the averaged feature maps of '{source}' go through the hidden layer "
                f"'{hidden}' (and whatever follows it) before '{classifier}' makes the scores, so a score is not a "
                "weighted sum of the feature maps. CAM needs global average pooling followed by one linear layer. "
                "Use Grad-CAM.")
    if features.dim() == 2:
        for found in survey.maps:
            if found.numel == features.shape[1] and _close(found.flat_sum, features.float().sum(1)):
                return (f"CAM does not apply: '{classifier}' reads the flattened map of '{found.name}' "
                        f"({found.numel} values), not its global average, so each position has weights of its "
                        "own. CAM needs global average pooling followed by one linear layer. Use Grad-CAM.")
    return (f"CAM does not apply: what '{classifier}' reads is not the global average of any module's feature "
            "map (or of its ReLU). CAM needs a module's map → global average pooling → one linear layer; if the "
            "last operations happen in forward(), wrapping them in a module lets camdemo find them.")


def find_cam_head(module: nn.Module, example_input: torch.Tensor) -> GapLinearHead | None:
    """The GAP → linear head of ``module``, where there is one: an ``nn.Linear`` whose output is the model's
    output and whose input is the spatial mean of a module's N×C×H×W output (``relu_before_pool``: of its
    ReLU), pooled by a module or in ``forward`` (``x.mean((2, 3))``, ``F.adaptive_avg_pool2d`` and flatten).

    Checked numerically on the example input: the linear layer applied to the mean reproduces the output.
    Of several modules with the same output, the outermost is named. The model is left as it was.
    """
    return _cam_head(module, _survey(module, example_input))[0]


# ----------------------------------------------------------------------------------------------------------------
# The pre-flight check


@dataclass(frozen=True)
class _Gradients:
    """From one pass with gradients: per probed layer "ok", "zero" or "none" (no path), and the input's."""

    layers: dict[str, str]
    input: str
    modified_in_place: bool  # the checked layer's output was changed in place after the layer ran
    error: str | None = None


def _probe_gradients(model: nn.Module, inputs: torch.Tensor, layers: dict[str, int], checked: str | None
                     ) -> _Gradients:
    """One pass with gradients: ∂(sum of the outputs)/∂(each layer's output and the input).

    Each probed layer's output is replaced by output + z for a zero leaf z of its own, so one backward
    pass gives every layer's gradient (∂/∂z = ∂/∂output) without cutting the path to earlier layers; the
    network receives a new tensor, as with camdemo's hooks. ``layers`` maps names to the number of extra
    leading tokens (only the patch tokens of a token layer count).
    """
    zeros: dict[str, torch.Tensor] = {}
    kept: list[tuple[torch.Tensor, int]] = []

    def probe(name: str):  # type: ignore[no-untyped-def]
        def hook(_module: nn.Module, _args: tuple, output: object) -> object:
            if not isinstance(output, torch.Tensor) or not output.is_floating_point() or name in zeros:
                return None
            if name == checked:
                kept.append((output, output._version))
            zeros[name] = torch.zeros_like(output, requires_grad=True)
            return output + zeros[name]
        return hook

    leaf = inputs.detach().clone().requires_grad_(inputs.is_floating_point())
    handles = [model.get_submodule(name).register_forward_hook(probe(name)) for name in layers]
    try:
        with _left_as_found(model), torch.enable_grad():
            output = model(leaf)
            if not isinstance(output, torch.Tensor) or not output.is_floating_point() or not output.requires_grad:
                return _Gradients({name: "none" for name in layers}, "none", False)
            wanted = [*zeros.values(), leaf] if leaf.requires_grad else list(zeros.values())
            gradients = torch.autograd.grad(output.float().sum(), wanted, allow_unused=True)
    except Exception as error:  # the user's model: report what failed rather than fail the check
        return _Gradients({}, "none", False, error=f"{type(error).__name__}: {error}")
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
    modified = any(tensor._version != version for tensor, version in kept)
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


def _findings(model: nn.Module, survey: _Survey, layer: str | None, layers: tuple[LayerInfo, ...],
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
        shape_ok = info is not None or any(_layer_info(layer, output.tensor.shape, ()) is not None
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
        if gradients.modified_in_place:
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


def _guided_findings(model: nn.Module, survey: _Survey, problems: dict[str, str]) -> list[Finding]:
    """Guided backpropagation changes the backward pass of ``nn.ReLU``/``nn.ReLU6`` modules only."""
    findings = []
    relu_modules = [name for module, name in survey.names.items()
                    if isinstance(module, GUIDED_ACTIVATIONS) and survey.calls.get(name, 0) > 0]
    functional = sorted(survey.functional_relus)
    if functional:
        places = ", ".join(f"'{name}'" if name else "the model's own forward()" for name in functional)
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
    if method.family != "perturbation" and not method.uses_layer and "input gradient" in problems:
        return problems["input gradient"]
    return None


def check_model(module: nn.Module, example_input: torch.Tensor, *, layer: str | None = None,
                methods: Mapping[str, MethodLike] | None = None) -> ModelReport:
    """The pre-flight check of ``module`` on ``example_input``: two passes (one with gradients) in eval mode.

    ``layer`` is the layer to check (default: the deepest listed one that the scores' gradient reaches).
    ``methods`` (``camdemo.explainers.METHODS``) are the methods to judge; the report says, for each, why it
    does not apply, or None. The model is left as it was (see the module docstring).
    """
    survey = _survey(module, example_input)
    layers = _layers(survey)
    if layer is not None:
        _resolve(module, layer, layers)
    cam = _cam_head(module, survey)
    output_shape, head_kind, head_text = _output_kind(survey.output)
    probed = {info.name: info.extra_tokens for info in layers}
    if layer is not None and layer not in probed:
        match = next((info for info in layers if layer in info.aliases), None)
        probed[layer] = match.extra_tokens if match else 0
    gradients = None
    if head_kind != "unsupported":
        gradients = _probe_gradients(module, example_input, probed, None)
    reached = [info.name for info in layers if gradients is None or gradients.layers.get(info.name) == "ok"]
    default = reached[0] if reached else (layers[0].name if layers else None)
    checked = layer if layer is not None else default
    if gradients is not None and gradients.error is None and checked is not None:
        # camdemo hooks one layer at a time: whether its output is changed in place is checked that way
        alone = _probe_gradients(module, example_input, {checked: probed[checked]}, checked)
        gradients = replace(gradients, modified_in_place=alone.modified_in_place)
    problems, findings = _findings(module, survey, checked, layers, gradients, head_text, head_kind != "unsupported")
    if cam[0] is not None:
        findings.insert(0, Finding(cam[0].classifier, f"CAM applies: '{cam[0].classifier}' reads the global average "
                                   f"of {'the ReLU of ' if cam[0].relu_before_pool else ''}'{cam[0].layer}'."))
    skipped = [info.name for info in layers[:[info.name for info in layers].index(default)]] if reached else []
    if skipped:
        findings.append(Finding(default or "", f"Default layer '{default}': the scores' gradient does not reach the "
                                               f"deeper layers {', '.join(skipped)} (or is zero there)."))
    reasons = {name: _method_reason(method, problems, cam) for name, method in (methods or {}).items()}
    return ModelReport(layers=layers, default_layer=default, layer=checked, cam_head=cam[0], cam_unavailable=cam[1],
                       output_shape=output_shape, head_kind=head_kind, head_kind_text=head_text, methods=reasons,
                       findings=tuple(findings))

