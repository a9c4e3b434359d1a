"""The shared model read at one layer, for one call: the checks every inside-the-network method shares, and a
forward pass that stops at the layer.

Activation maximization, content reconstruction and Deep Dream all optimize an *image* against one layer's
activations. They use the cached model of ``camdemo.models.load_model`` as it is: its parameters already do
not require gradients and are never touched, the model runs in eval mode (each module's own mode given back
afterwards), and the hook that reads the layer exists only inside ``layer_reader``'s block and answers only the
calling thread, the pattern of ``camdemo.explainers.hooks.capture_output``. The hook also stops the forward pass
once the layer has run: nothing after it is computed (an early layer costs a fraction of a full pass).
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..devices import configure_cpu_threads, default_device
from ..errors import CamdemoError
from ..explainers.hooks import eval_mode
from ..models import BackboneSpec, get_spec, load_model
from ..models.layers import list_layers, resolve_layer

Progress = Callable[[float, str], None]
LOGITS = "logits"  # the layer name that means the model's output: one value per class
MAX_STEPS = 2048
MIN_SIZE, MAX_SIZE = 32, 1024


class _Reached(Exception):
    """Raised by the hook once the layer has run: the rest of the forward pass is not needed."""


@dataclass(frozen=True)
class Probe:
    """A backbone's shared model and the layer to read, checked."""

    spec: BackboneSpec
    model: nn.Module
    layer: str  # a module name, or LOGITS
    device: torch.device

    def normalize(self, rgb01: torch.Tensor) -> torch.Tensor:
        """N×3×H×W in [0, 1] → the model's input: (x − mean) / std."""
        mean = torch.tensor(self.spec.mean, device=rgb01.device).view(1, 3, 1, 1)
        std = torch.tensor(self.spec.std, device=rgb01.device).view(1, 3, 1, 1)
        return (rgb01 - mean) / std

    def denormalize(self, inputs: torch.Tensor) -> torch.Tensor:
        """The model's input → N×3×H×W in [0, 1] (unclipped)."""
        mean = torch.tensor(self.spec.mean, device=inputs.device).view(1, 3, 1, 1)
        std = torch.tensor(self.spec.std, device=inputs.device).view(1, 3, 1, 1)
        return inputs * std + mean

    @contextmanager
    def reader(self) -> Iterator[Callable[[torch.Tensor], torch.Tensor]]:
        """Inside the block: ``read(inputs)`` is the layer's activation (N×C×h×w, or N×classes for LOGITS)
        with its graph back to ``inputs``. Eval mode for the block; the hook is removed on leaving, also on
        error (a ``Cancelled`` from a progress callback included)."""
        with eval_mode(self.model):
            if self.layer == LOGITS:
                yield self.model
                return
            module = resolve_layer(self.model, self.spec.name, self.layer)
            with layer_reader(module, self.layer) as read:
                yield lambda inputs: read(self.model, inputs)


@contextmanager
def layer_reader(module: nn.Module, name: str) -> Iterator[Callable[[nn.Module, torch.Tensor], torch.Tensor]]:
    """``read(model, inputs)``: ``module``'s output when ``model`` runs on ``inputs``, the forward pass stopped
    right after it. The hook answers only this thread and is removed when the block ends."""
    owner = threading.get_ident()
    kept: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: tuple, output: object) -> None:
        if threading.get_ident() != owner:
            return  # another thread's forward pass through the same shared model
        if not isinstance(output, torch.Tensor):
            raise CamdemoError(f"Layer '{name}' outputs {type(output).__name__}, not a tensor; choose another layer.")
        kept.append(output)
        raise _Reached

    def read(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        kept.clear()
        try:
            model(inputs)
        except _Reached:
            return kept[0]
        raise CamdemoError(f"Layer '{name}' did not run during the forward pass; choose another layer.")

    handle = module.register_forward_hook(hook)
    try:
        yield read
    finally:
        handle.remove()


def probe(backbone: str, layer: str | None, device: torch.device | str | None = None) -> Probe:
    """The checked backbone and layer (``None``: the backbone's default layer), with its shared model."""
    spec = get_spec(backbone)
    layer = layer or list_layers(backbone)[0].name
    if not isinstance(layer, str):
        raise CamdemoError("The layer must be given by its name, e.g. 'blocks.10'.")
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cpu":
        configure_cpu_threads()
    model = load_model(spec.name, device)
    if layer != LOGITS:
        resolve_layer(model, spec.name, layer)  # "'x' is not a layer of ... Choose one of: ..."
    return Probe(spec, model, layer, device)


def layer_channels(found: Probe) -> int:
    """How many channels (or classes, at LOGITS) the probed layer has, from one small forward pass."""
    size = max(MIN_SIZE, min(found.spec.input_size, 128))
    with torch.no_grad(), found.reader() as read:
        output = read(torch.zeros(1, 3, size, size, device=found.device))
    return int(output.shape[1])


def check_count(value: object, low: int, high: int, what: str) -> int:
    """A whole number from ``low`` to ``high``, or a sentence saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value) or not low <= value <= high:
        raise CamdemoError(f"The {what} must be a whole number from {low} to {high}; {value!r} was given.")
    return int(value)


def check_positive(value: object, high: float, what: str) -> float:
    """A number above 0 and at most ``high``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= high:
        raise CamdemoError(f"The {what} must be a number above 0 and at most {high:g}; {value!r} was given.")
    return float(value)


def report(progress: Progress | None, step: int, steps: int, text: str) -> None:
    """Call ``progress`` about 50 times over the run (and at the last step); where a caller cancels."""
    if progress is not None and (step % max(1, steps // 50) == 0 or step == steps):
        progress(step / steps, text)


def to_uint8(rgb01: torch.Tensor) -> list[np.ndarray]:
    """N×3×H×W in [0, 1] → a list of H×W×3 uint8 arrays."""
    pixels = (rgb01.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return list(pixels)
