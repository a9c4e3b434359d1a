"""A model of the user's own as a backbone: ``wrap_model`` finds its layers and head once and states its input.

The module is used as it is: camdemo never copies, freezes or moves it, and changes its train/eval mode only
for the length of a call (``camdemo.explainers.hooks.eval_mode`` restores it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import nn

from ..data.load import MAX_CELLS
from ..errors import CamdemoError
from .layers import LayerInfo
from .modes import eval_mode
from .preflight import MethodLike, ModelReport, check_model
from .registry import model_device
from .spec import IMAGENET_MEAN, IMAGENET_STD, OUTPUT_KINDS, BackboneSpec, GapLinearHead, OutputKind

MIN_INPUT, MAX_INPUT = 8, 1024  # pixels per side of a model's square input


def wrap_model(module: nn.Module, *, name: str = "your_model", title: str | None = None, input_size: int = 224,
               channels: int = 3, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
               labels: Sequence[str] | None = None, output: str = "auto",
               data_shape: Sequence[int] | None = None,
               methods: Mapping[str, MethodLike] | None = None) -> BackboneSpec:
    """Describe ``module`` to camdemo: a spec to pass as ``camdemo.explain(image, model=spec, ...)``.

    ``input_size``: the side of the square the image is resized to; ``channels``: 3 (RGB) or 1 (gray, by luma);
    ``mean``/``std``: per-channel normalization of pixels in [0, 1] (default: ImageNet's for RGB, none for gray);
    ``labels``: one name per output (default "class 0", ...). ``output`` says what the outputs are: "softmax"
    (exclusive classes), "multilabel" (independent labels, one logit each), "binary" (one logit) or "regression";
    "auto" takes "softmax" for several outputs and asks for one output, which may be binary or regression.
    The model should return logits (before softmax/sigmoid). The pre-flight check (``check_model``: two passes of
    a seeded random input) finds the layers (``camdemo.layers(spec)``, the default first), a GAP → linear head
    (for CAM) and, for ``methods``, why any does not apply (``spec.report``). ``CamdemoError`` for anything
    inconsistent.

    For data that is not a photo give ``data_shape``, the shape of one example: (H, W) for a matrix (the model
    takes N×1×H×W), (C, H, W) for a stack (N×C×H×W) or (L,) for a signal (N×1×L, e.g. Conv1d). Inputs are then
    used as they are: no resizing, no normalization (``input_size``, ``channels``, ``mean``, ``std`` do not apply).
    """
    if not isinstance(module, nn.Module):
        raise CamdemoError(f"model must be a torch.nn.Module, not {type(module).__name__}.")
    if channels not in (1, 3):
        raise CamdemoError(f"channels must be 1 (gray) or 3 (RGB), not {channels!r}.")
    if not isinstance(input_size, int) or not MIN_INPUT <= input_size <= MAX_INPUT:
        raise CamdemoError(f"input_size must be a whole number of pixels from {MIN_INPUT} to {MAX_INPUT}, "
                           f"not {input_size!r}.")
    shape = _data_shape(data_shape)
    if shape is not None:
        channels, input_size = (shape[0] if len(shape) == 3 else 1), max(shape[-2:])
    mean_values = _per_channel("mean", mean, (IMAGENET_MEAN if channels == 3 else (0.0,)) if shape is None
                               else (0.0,) * channels, channels)
    std_values = _per_channel("std", std, (IMAGENET_STD if channels == 3 else (1.0,)) if shape is None
                              else (1.0,) * channels, channels)
    if min(std_values) <= 0:
        raise CamdemoError(f"std must be positive, not {std_values}.")
    device = model_device(_bare(module)) or torch.device("cpu")
    if device.type == "meta":
        raise CamdemoError(f"{name}'s weights are on the 'meta' device: they were never loaded. Load them first "
                           "(e.g. module.to_empty(device='cpu') and load_state_dict), then wrap it.")
    if shape is None:
        example = example_image(channels, input_size, mean_values, std_values, device)
    else:  # what the model itself takes: N×1×L, N×1×H×W or N×C×H×W
        example = example_data((1,) + ((1,) if len(shape) < 3 else ()) + shape, device)
    outputs = _output_count(module, example, name)
    kind = _output_kind(output, outputs)
    report: ModelReport | None = None
    head: GapLinearHead | None = None
    no_head: str | None = "CAM for 1-D signals is not supported yet; Grad-CAM works at any layer."
    if shape is not None and len(shape) == 1:  # the pre-flight check reads images and matrices
        layers = signal_layers(module, example)
    else:
        report = check_model(module, example, methods=methods)
        layers = _default_first(report.layers, report.default_layer)
        head, no_head = report.cam_head, report.cam_unavailable
    return BackboneSpec(
        name=name, title=title or name, build=lambda: module, weights_file=lambda: None, weights_url=None,
        input_size=input_size, mean=mean_values, std=std_values,
        layer_names=lambda _model: [info.name for info in layers], cam_head=head,
        cam_unavailable=no_head, categories=_labels(labels, outputs), channels=channels,
        output_kind=kind, module=module, known_layers=layers, note=f"your model: {OUTPUT_KINDS[kind]}",
        data_shape=shape, report=report,
    )


def example_image(channels: int, size: int, mean: Sequence[float], std: Sequence[float],
                  device: torch.device) -> torch.Tensor:
    """A seeded random image, normalized as the model expects (a blank one can make every gradient zero)."""
    pixels = torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(0))
    mean_ = torch.tensor(mean).view(1, channels, 1, 1)
    std_ = torch.tensor(std).view(1, channels, 1, 1)
    return ((pixels - mean_) / std_).to(device)


def example_data(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Seeded random values in [0, 1) of ``shape`` (batch first), for a data model's one pass."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(0)).to(device)


def _default_first(layers: tuple[LayerInfo, ...], default: str | None) -> tuple[LayerInfo, ...]:
    """The default layer (the deepest one the scores' gradient reaches) first, then the others, deepest first."""
    chosen = [info for info in layers if info.name == default]
    return tuple(chosen + [info for info in layers if info.name != default])


def signal_layers(module: nn.Module, example: torch.Tensor) -> tuple[LayerInfo, ...]:
    """The layers of a 1-D model: modules whose output is N×C×L (L > 1), deepest first, as C×1×L maps. Modules whose
    output is the very same tensor (a block and its last module) are one layer, named by the outermost."""
    found: dict[int, tuple[str, tuple[int, ...]]] = {}  # id(output) → (name, shape), in the order outputs appear
    outputs: list[torch.Tensor] = []  # kept alive during the pass, so that ids are not reused

    def keep(name: str):
        def hook(_module, _args, output) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 3 and output.shape[-1] > 1:
                outputs.append(output)
                found[id(output)] = (name, tuple(output.shape))  # an enclosing module runs last: its name wins
        return hook

    handles = []
    try:
        for name, sub in module.named_modules():
            if name and not isinstance(sub, (nn.ReLU, nn.Dropout, nn.Identity)):
                handles.append(sub.register_forward_hook(keep(name)))
        with eval_mode(module), torch.no_grad():
            module(example)
    finally:
        for handle in handles:
            handle.remove()
    return tuple(LayerInfo(name, shape[1], 1, shape[2]) for name, shape in reversed(found.values()))


class _SignalModel(nn.Module):
    """A 1-D model seen as camdemo sees every input, N×C×1×L: the row axis is dropped before the model runs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs.squeeze(2))


def signal_model(model: nn.Module) -> nn.Module:
    """``model`` (which takes N×C×L signals) taking N×C×1×L, for the length of one call."""
    return _SignalModel(model)


def _data_shape(data_shape: Sequence[int] | None) -> tuple[int, ...] | None:
    if data_shape is None:
        return None
    try:
        shape = tuple(int(side) for side in data_shape)
    except (TypeError, ValueError):
        raise CamdemoError(f"data_shape must be a tuple of sizes such as (64, 128), not {data_shape!r}.") from None
    if len(shape) not in (1, 2, 3) or min(shape) < 1:
        raise CamdemoError(f"data_shape must be (L,) for a signal, (H, W) for a matrix or (C, H, W) for a stack, "
                           f"with positive sizes; {shape} was given.")
    if math.prod(shape) > MAX_CELLS:
        raise CamdemoError(f"data_shape {shape} has {math.prod(shape):,} values; camdemo reads data of up to "
                           f"{MAX_CELLS:,} values (a 2048 × 2048 matrix).")
    return shape


def _bare(module: nn.Module) -> BackboneSpec:
    """A throwaway spec to ask ``model_device`` where ``module`` lives."""
    return BackboneSpec("", "", lambda: module, lambda: None, None, 1, (0.0,), (1.0,), lambda _m: [], None,
                        module=module)


def _per_channel(what: str, values: Sequence[float] | None, default: tuple[float, ...],
                 channels: int) -> tuple[float, ...]:
    if values is None:
        return tuple(default)
    try:
        checked = tuple(float(value) for value in values)
    except (TypeError, ValueError):
        raise CamdemoError(f"{what} must be {channels} number(s), one per input channel, not {values!r}.") from None
    if len(checked) != channels:
        raise CamdemoError(f"{what} has {len(checked)} value(s) and the model has {channels} input channel(s).")
    return checked


def _output_count(module: nn.Module, example: torch.Tensor, name: str) -> int:
    with eval_mode(module), torch.no_grad():
        try:
            result = module(example)
        except Exception as error:  # the user's code: any exception means the input is not what it expects
            raise CamdemoError(f"{name} could not run on a blank {tuple(example.shape)} input: {error}. Check "
                               "input_size and channels.") from error
    if not isinstance(result, torch.Tensor) or result.dim() != 2:
        shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
        raise CamdemoError(f"{name} returned {shape}; camdemo needs one score per output, shape N×outputs "
                           "(wrap the model so that it returns that tensor).")
    return int(result.shape[1])


def _output_kind(output: str, outputs: int) -> OutputKind:
    if output == "auto":
        if outputs == 1:
            raise CamdemoError("The model has one output: is it a binary classifier (one logit) or a regression? "
                               "Say which with output='binary' or output='regression'.")
        return "softmax"
    if output not in OUTPUT_KINDS:
        raise CamdemoError(f"Unknown output kind '{output}'. Choose one of: auto, {', '.join(OUTPUT_KINDS)}.")
    if output == "binary" and outputs != 1:
        raise CamdemoError(f"A binary model has one output (a logit); this one has {outputs}. Use 'softmax' or "
                           "'multilabel'.")
    return cast(OutputKind, output)


def _labels(labels: Sequence[str] | None, outputs: int) -> tuple[str, ...]:
    if labels is None:
        return tuple(f"class {i}" for i in range(outputs))
    if isinstance(labels, str):
        raise CamdemoError(f"labels must be a list of names, one per output (e.g. ['cat', 'dog']), not the text "
                           f"'{labels[:40]}'.")
    names = tuple(str(label) for label in labels)
    if len(names) != outputs:
        raise CamdemoError(f"{len(names)} labels were given for a model with {outputs} outputs.")
    return names
