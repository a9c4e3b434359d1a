"""The shared base of all explanation methods.

A method turns (model, input, class) into a raw map plus the logits of the same forward pass.
Methods hold no per-call state, so one instance serves every caller and every thread; hooks
live only inside ``compute`` (see ``camdemo.hooks``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..models import BackboneSpec, GapLinearHead
from ..errors import CamdemoError


@dataclass(frozen=True)
class Target:
    """What to explain: a model (eval mode), its preprocessed input and, optionally, a class and a layer."""

    model: nn.Module
    inputs: torch.Tensor  # 1×3×S×S, on the model's device
    class_index: int | None = None  # None: the top-1 class of this forward pass
    layer: nn.Module | None = None
    layer_name: str | None = None
    head: GapLinearHead | None = None  # the GAP → linear head, for CAM


@dataclass(frozen=True)
class RawMap:
    """A method's result before normalisation: ``values`` is h×w (signed for CAM), on the model's device."""

    values: torch.Tensor
    logits: torch.Tensor  # the class scores of the same forward pass, shape (num_classes,)
    class_index: int


def choose_class(logits: torch.Tensor, class_index: int | None) -> int:
    """``class_index`` if valid, else the top-1 class; ``CamdemoError`` for an index out of range."""
    num_classes = logits.shape[-1]
    if class_index is None:
        return int(logits.argmax())
    if not 0 <= int(class_index) < num_classes:
        raise CamdemoError(f"Class index {class_index} is out of range: this model has classes 0 to {num_classes - 1}.")
    return int(class_index)


class Method(ABC):
    """An explanation method. Subclasses set the class attributes and implement ``compute``."""

    name: ClassVar[str]  # registry key, e.g. "gradcam"
    title: ClassVar[str]  # display name, e.g. "Grad-CAM"
    paper: ClassVar[str]  # citation shown in the UI
    summary: ClassVar[str]  # one paragraph for learners: what the map shows
    uses_layer: ClassVar[bool] = True  # False for input-gradient methods

    def unavailable_reason(self, spec: BackboneSpec) -> str | None:
        """Why this method cannot explain ``spec``'s model, or None when it can."""
        return None

    def required_layer(self, spec: BackboneSpec) -> str | None:
        """The only layer this method is defined at for ``spec``, or None when any layer works."""
        return None

    @abstractmethod
    def compute(self, target: Target) -> RawMap:
        """Run the model on ``target.inputs`` and return the raw map for the chosen class."""


class ChannelWeightedMethod(Method):
    """Map = Σ_k w_k · A_k over the channels A_k of a layer's output; ReLU if ``relu``.

    Subclasses only say how to get the channel weights w (the pattern of torch-cam).
    """

    relu: ClassVar[bool] = True
    needs_gradients: ClassVar[bool] = True

    @abstractmethod
    def channel_weights(
        self, target: Target, activations: torch.Tensor, gradients: torch.Tensor | None, class_index: int
    ) -> torch.Tensor:
        """Weights w of shape (C,) for activations A of shape (C, h, w) and dScore/dA of the same shape."""

    def activations_for_map(self, target: Target, activations: torch.Tensor) -> torch.Tensor:
        """The maps A_k that the weights apply to (CAM overrides this for DenseNet's ReLU)."""
        return activations

    def forward(self, target: Target) -> "LayerForward":
        """One forward pass recording the target layer's output (a grad-requiring leaf if gradients are needed)."""
        from ..hooks import capture_output, single_activation

        if target.layer is None or target.layer_name is None:
            raise CamdemoError(f"{self.title} needs a target layer.")
        grad_mode = torch.enable_grad() if self.needs_gradients else torch.no_grad()
        with capture_output(target.layer, target.layer_name, for_gradients=self.needs_gradients) as kept, grad_mode:
            logits = target.model(target.inputs)
        if logits.dim() != 2 or logits.shape[0] != 1:
            raise CamdemoError(f"The model returned {tuple(logits.shape)}; expected class scores of shape 1×classes.")
        return LayerForward(single_activation(kept, target.layer_name), logits)

    def finish(self, target: Target, forward: "LayerForward") -> RawMap:
        """The map for ``target.class_index`` from a forward pass (reusable across classes if gradient-free)."""
        class_index = choose_class(forward.logits[0], target.class_index)
        gradients = None
        if self.needs_gradients:
            (gradients,) = torch.autograd.grad(forward.logits[0, class_index], forward.layer_output, allow_unused=True)
            if gradients is None:
                raise CamdemoError(f"Layer '{target.layer_name}' does not influence the class score; choose another layer.")
            gradients = gradients[0]
        activations = self.activations_for_map(target, forward.layer_output.detach()[0])
        with torch.no_grad():
            weights = self.channel_weights(target, activations, gradients, class_index)
            values = torch.einsum("k,khw->hw", weights, activations)
            if self.relu:
                values = torch.relu(values)
        return RawMap(values=values, logits=forward.logits.detach()[0], class_index=class_index)

    def compute(self, target: Target) -> RawMap:
        return self.finish(target, self.forward(target))


@dataclass(frozen=True)
class LayerForward:
    """A forward pass's record: the layer output (1×C×h×w) and the logits (1×classes)."""

    layer_output: torch.Tensor
    logits: torch.Tensor
