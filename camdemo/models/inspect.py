"""A model camdemo has never seen: its layers worth explaining and its CAM head.

Pure functions over an ``nn.Module`` and an example input (N×C×H×W, on the model's device; a real image
or random values, not zeros, so that gradients are not zero by accident). Each runs the model on the
example input, in eval mode, and leaves it as it was: hooks exist only inside the call (removed in
``finally``, also on error), every submodule gets its own train/eval mode back, parameters keep their
``requires_grad`` and nothing moves to another device.

* ``find_layers``: one pass without gradients; every module whose output is a spatial map (N×C×H×W,
  H·W > 1) or a token sequence on a square grid (N×T×C, see ``token_grid``), deepest first.
* ``find_cam_head``: an ``nn.Linear`` producing the model's output from the spatial mean of a module's
  map (or of its ReLU), checked numerically.

``camdemo.models.preflight.check_model`` builds the pre-flight report on the same pass.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import CamdemoError
from .layers import LayerInfo, token_grid
from .spec import GapLinearHead

# Modules that only transform their input element-wise: not listed when the module feeding them is.
ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Identity,
               nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
GUIDED_ACTIVATIONS = (nn.ReLU, nn.ReLU6)  # what guided backpropagation hooks (explainers/input_gradients.py)
FUNCTIONAL_RELUS = {torch.relu, torch.relu_, F.relu, F.relu_, F.relu6, torch.Tensor.relu, torch.Tensor.relu_}
TRAIN_MODE_MATTERS = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.AlphaDropout)


# ----------------------------------------------------------------------------------------------------------------
# One pass without gradients, recording what every module produced


@dataclass
class ModuleOutput:
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
class MapSummary:
    """A 4-D output's summaries for the head search: spatial mean, mean of its ReLU, sum of all values per image."""

    name: str
    order: int
    mean: torch.Tensor
    relu_mean: torch.Tensor
    flat_sum: torch.Tensor
    numel: int


@dataclass
class Survey:
    """What one pass recorded: calls per module, outputs that could be layers, what linear layers read."""

    names: dict[nn.Module, str]
    calls: dict[str, int] = field(default_factory=dict)
    finished: int = 0  # module calls finished so far: the order of outputs (a block finishes after its parts)
    outputs: list[ModuleOutput] = field(default_factory=list)
    maps: list[MapSummary] = field(default_factory=list)
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

    def __init__(self, survey: Survey, model: nn.Module):
        super().__init__()
        self.survey, self.model = survey, model

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in FUNCTIONAL_RELUS and not self.survey.in_hook:
            where = self.survey.stack[-1] if self.survey.stack else ""
            inside = self.model.get_submodule(where) if where else self.model
            if not isinstance(inside, GUIDED_ACTIVATIONS):
                self.survey.functional_relus[where] = self.survey.functional_relus.get(where, 0) + 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def left_as_found(model: nn.Module) -> Iterator[None]:
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


def survey_model(model: nn.Module, example_input: torch.Tensor) -> Survey:
    """One pass without gradients, in eval mode, with a hook on every module (all removed afterwards)."""
    inputs = _check_input(example_input)
    names = {module: name for name, module in model.named_modules() if name}
    survey = Survey(names, training=tuple(name for module, name in names.items()
                                           if module.training and isinstance(module, TRAIN_MODE_MATTERS)))
    input_keys: dict[str, tuple[int, int] | None] = {}
    # the head search needs summaries only of maps as wide as some linear layer's input (pooled or flattened)
    widths = {module.in_features for module in names if isinstance(module, nn.Linear)}

    owner = threading.get_ident()  # another thread's pass through the same model is not this survey's

    def before(module: nn.Module, args: tuple) -> None:
        if threading.get_ident() != owner:
            return
        name = names[module]
        survey.stack.append(name)
        first = args[0] if args else None
        input_keys[name] = (id(first), first._version) if isinstance(first, torch.Tensor) else None

    def after(module: nn.Module, args: tuple, output: object) -> None:
        if threading.get_ident() != owner:
            return
        survey.in_hook = True
        try:
            record(names[module], module, args, output)
        finally:
            survey.in_hook = False

    def record(name: str, module: nn.Module, args: tuple, output: object) -> None:
        if survey.stack and survey.stack[-1] == name:
            survey.stack.pop()
        survey.calls[name] = survey.calls.get(name, 0) + 1
        survey.finished += 1
        order = survey.finished
        if isinstance(module, nn.Linear) and args and isinstance(args[0], torch.Tensor) \
                and isinstance(output, torch.Tensor):
            survey.linears.append((name, args[0], output))
        if not isinstance(output, torch.Tensor) or output.dim() not in (3, 4):
            return
        survey.outputs.append(ModuleOutput(name, output, output._version, order, input_keys.get(name)))
        if output.dim() == 4 and output.shape[2] * output.shape[3] > 1 and output.is_floating_point() \
                and (output.shape[1] in widths or output[0].numel() in widths):
            values = output.float()
            survey.maps.append(MapSummary(name, order, values.mean((2, 3)), values.relu().mean((2, 3)),
                                          values.flatten(1).sum(1), values[0].numel()))

    handles = []
    try:
        with left_as_found(model), torch.no_grad(), _FunctionalRelus(survey, model):
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


def looks_channels_last(shape: torch.Size) -> bool:
    """N×H×W×C with H = W ≠ C (inside ConvNeXt or Swin blocks, between permutes): not a map to read as N×C×H×W.

    A true N×C×H×W map has C = H ≠ W only for a non-square input whose height happens to equal the channels.
    """
    return len(shape) == 4 and shape[1] == shape[2] != shape[3]


def layer_info(name: str, shape: torch.Size, aliases: tuple[str, ...]) -> LayerInfo | None:
    """The ``LayerInfo`` of an output of this shape, or None when it is neither a spatial map nor a token grid."""
    if len(shape) == 4 and shape[2] * shape[3] > 1 and not looks_channels_last(shape):
        return LayerInfo(name, shape[1], shape[2], shape[3], aliases=aliases)
    grid = token_grid(shape[1]) if len(shape) == 3 else None
    if grid is None:
        return None
    side, extras = grid
    return LayerInfo(name, shape[2], side, side, kind="tokens", extra_tokens=extras, aliases=aliases)


def _is_within(name: str, ancestor: str) -> bool:
    return name == ancestor or name.startswith(ancestor + ".")


def layers_of(survey: Survey) -> tuple[LayerInfo, ...]:
    """The layers of a survey, deepest first.

    * A module that runs more than once in a pass (a shared activation) is left out: its output is ambiguous.
    * Modules whose output is the very same tensor, unchanged (a block and its last module, a stage and its
      last block) are one layer, named by the outermost of them (``layer4``, not ``layer4.1``); the others
      are its ``aliases``. Pass-through modules beside it (Dropout or Identity in eval mode) add nothing.
    * An activation stands for the module feeding it (a convolution's output is listed as what its ReLU makes of
      it: what the next layer and global pooling read, as in torchvision's ``features``); a pass-through module
      (dropout, identity) is left out when the module feeding it is listed.
    """
    groups: dict[tuple[int, int], list[ModuleOutput]] = {}
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
            if isinstance(modules[outer.name], PASS_THROUGH):
                continue
            del listed[first.input_key]  # the activation's output replaces its input's
        info = layer_info(outer.name, first.tensor.shape, aliases)
        if info is not None:
            listed[key] = (outer.order, info)
    return tuple(info for _order, info in sorted(listed.values(), key=lambda pair: -pair[0]))


def find_layers(module: nn.Module, example_input: torch.Tensor) -> tuple[LayerInfo, ...]:
    """The layers of ``module`` worth explaining, deepest first, from one pass without gradients.

    A layer is a module whose output is a spatial map N×C×H×W with H·W > 1 (``kind="map"``) or a token
    sequence N×T×C with T = h·w patch tokens on a square grid after at most ``MAX_EXTRA_TOKENS`` class or
    register tokens (``kind="tokens"``, a Vision Transformer's blocks). Names are as in
    ``module.named_modules()``. Which modules are left out, and which name stands for several, is said
    in ``layers_of``. The model is left as it was (see the module docstring).
    """
    return layers_of(survey_model(module, example_input))


# ----------------------------------------------------------------------------------------------------------------
# CAM head


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    a, b = a.float(), b.float()
    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-4 * (1 + float(b.abs().max()))))


def _scores(output: object) -> torch.Tensor | None:
    return output if isinstance(output, torch.Tensor) and output.dim() == 2 else None


def cam_head_and_reason(module: nn.Module, survey: Survey) -> tuple[GapLinearHead | None, str | None]:
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


def _why_no_head(classifier: str, features: torch.Tensor, survey: Survey) -> str:
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
        for found in sorted(survey.maps, key=lambda found: -found.order):  # the outermost of equal outputs first
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
    return cam_head_and_reason(module, survey_model(module, example_input))[0]
