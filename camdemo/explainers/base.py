"""The shared base of all explanation methods.

A method turns (model, input, class) into a raw map plus the logits of the same forward pass.
Inputs may be a batch of N images (one class each): one forward pass, and for gradient methods one
backward pass of the sum of each image's class score, which gives every image its own gradient
because images do not interact in eval mode. Methods hold no per-call state, so one instance serves
every caller and every thread; hooks live only inside ``compute`` (see ``camdemo.explainers.hooks``).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import nn

from ..models import BackboneSpec, GapLinearHead
from ..errors import CamdemoError
from .options import Option, unknown_options_message


@dataclass(frozen=True)
class Objective:
    """What a map explains, from the model's outputs y of one image: s · (y_c − y_b).

    ``direction`` s = +1 explains what raises output c (the class, a label's logit, a regression output),
    −1 what lowers it (what argues against). ``versus`` b makes the map contrastive, "why c rather than b"
    (the target y_c − y_b; Grad-CAM's counterfactual and contrastive explanations: Selvaraju et al. 2017,
    §5; Prabhushankar et al., "Contrastive Explanations in Neural Networks", ICIP 2020).
    """

    direction: int = 1
    versus: int | None = None

    def __post_init__(self) -> None:
        if self.direction not in (1, -1):
            raise CamdemoError(f"direction must be +1 (what raises the output) or -1 (what lowers it), "
                               f"not {self.direction!r}.")

    @property
    def plain(self) -> bool:
        """True for the usual target, the output y_c itself."""
        return self.direction == 1 and self.versus is None

    def scores(self, outputs: torch.Tensor, classes: int | list[int] | torch.Tensor) -> torch.Tensor:
        """(N,) the explained score of each row of ``outputs`` (N×K) for its class."""
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        chosen = torch.as_tensor(classes, device=outputs.device)
        score = outputs[rows, chosen] if chosen.dim() else outputs[:, int(chosen)]
        if self.versus is not None:
            score = score - outputs[:, self.versus]
        return score if self.direction == 1 else -score

    def seed(self, outputs: torch.Tensor, classes: list[int]) -> torch.Tensor:
        """∂(explained score)/∂outputs, N×K: the one-hot gradient a propagation method starts from."""
        seed = torch.zeros_like(outputs)
        seed[torch.arange(len(classes), device=outputs.device), torch.as_tensor(classes, device=outputs.device)] = 1.0
        if self.versus is not None:
            seed[:, self.versus] -= 1.0
        return seed * self.direction

    def check(self, num_outputs: int) -> None:
        """``CamdemoError`` when ``versus`` is not one of the model's outputs."""
        if self.versus is not None and not 0 <= self.versus < num_outputs:
            raise CamdemoError(f"The contrast class {self.versus} is out of range: this model has classes "
                               f"0 to {num_outputs - 1}.")


@dataclass(frozen=True)
class Target:
    """What to explain: a model (eval mode), its preprocessed input and, optionally, a class and a layer."""

    model: nn.Module
    inputs: torch.Tensor  # N×3×S×S, on the model's device
    class_index: int | None | tuple[int | None, ...] = None  # per image, or one for all; None: the top-1 class
    layer: nn.Module | None = None
    layer_name: str | None = None
    head: GapLinearHead | None = None  # the GAP → linear head, for CAM
    options: Mapping[str, Any] = field(default_factory=dict)  # checked by ``Method.check_options``
    progress: Callable[[float, str], None] | None = None  # for slow methods: (fraction done, what)
    constant_input: Callable[[int], torch.Tensor] | None = None  # gray level 0–255 → model input 1×3×S×S
    autocast_dtype: torch.dtype | None = None  # forward pass in float16/bfloat16 (``half_precision_ok`` methods)
    objective: Objective = Objective()  # what is explained: s · (y_c − y_b); the plain class score by default
    signal: bool = False  # a 1-D model: inputs are N×C×1×L, layer outputs N×C×L are read as one-row maps

    def scores(self, outputs: torch.Tensor, classes: int | list[int] | torch.Tensor) -> torch.Tensor:
        """(N,) the explained score of each image: ``objective.scores``."""
        return self.objective.scores(outputs, classes)

    def report(self, fraction: float, what: str) -> None:
        if self.progress is not None:
            self.progress(min(1.0, max(0.0, fraction)), what)

    def constant(self, level: int) -> torch.Tensor:
        """The model input of a uniform image of gray ``level`` (0 = black), shaped like one input image."""
        if self.constant_input is None:  # no preprocessing known: the input space's zero
            return torch.zeros_like(self.inputs[:1])
        return self.constant_input(level).to(self.inputs.device, self.inputs.dtype)


@dataclass(frozen=True)
class RawMap:
    """A method's result before normalization: ``values`` is h×w, on the model's device.

    For a method with ``signed = True`` the values keep their sign (positive: for the class,
    negative: against it); the display chooses which part to show.
    """

    values: torch.Tensor
    logits: torch.Tensor  # the class scores of the same forward pass, shape (num_classes,)
    class_index: int
    note: str = ""  # something the method measured that a person should read (e.g. IG's completeness)


def choose_classes(logits: torch.Tensor, class_index: int | None | tuple[int | None, ...]) -> list[int]:
    """One class per image of an N×classes batch: the given ones (validated) or each image's top-1."""
    if logits.dim() != 2:
        raise CamdemoError(f"The model returned {tuple(logits.shape)}; expected scores of shape N×outputs.")
    wanted = class_index if isinstance(class_index, (tuple, list)) else [class_index] * logits.shape[0]
    if len(wanted) != logits.shape[0]:
        raise CamdemoError(f"{len(wanted)} classes given for {logits.shape[0]} images.")
    return [choose_class(row, index) for row, index in zip(logits, wanted)]


def choose_class(logits: torch.Tensor, class_index: int | None) -> int:
    """``class_index`` if valid, else the top-1 class; ``CamdemoError`` for an index out of range."""
    num_classes = logits.shape[-1]
    if class_index is None:
        return int(logits.argmax())
    if not 0 <= int(class_index) < num_classes:
        raise CamdemoError(f"Class index {class_index} is out of range: this model has classes 0 to {num_classes - 1}.")
    return int(class_index)


# The groups of the method list, after iNNvestigate's (Alber et al., "iNNvestigate Neural Networks!", JMLR 2019):
# what each group's maps show, one sentence each, declared once (the app and the README read them from here).
GROUPS: Mapping[str, str] = MappingProxyType({
    "class activation maps": "Weight a layer's feature maps by how much each matters for the class: a coarse map of "
                             "where the evidence lies, at the resolution of that layer.",
    "functions": "How the output changes when the input changes (the gradient, alone or smoothed): what the network "
                 "is sensitive to, which need not be what it looks at.",
    "signal": "Which pattern in the input the network detects (DeConvNet, Guided Backprop, PatternNet): image-like "
              "reconstructions of the signal, not a share of the score.",
    "attribution": "How much each pixel contributed to the score: the output divided among the input pixels, "
                   "positive for the class and negative against it.",
})


FLOAT16_GRADIENT_SCALE = 1024.0
# A forward pass without a backward one, as a share of a forward+backward pass (measured on the CPU, batches of 8:
# 0.3 to 0.5 across the built-in backbones; the larger share, so that estimates err on the slow side).
FORWARD_PASS = 0.5


class Method(ABC):
    """An explanation method. Subclasses set the class attributes and implement ``compute``."""

    name: ClassVar[str]  # registry key, e.g. "gradcam"
    title: ClassVar[str]  # display name, e.g. "Grad-CAM"
    paper: ClassVar[str]  # citation shown in the UI
    summary: ClassVar[str]  # one paragraph for learners: what the map shows
    cost: ClassVar[str] = "1 forward + 1 backward"  # the work per image in words, for the app's overview table
    uses_layer: ClassVar[bool] = True  # False for input-gradient methods
    signed: ClassVar[bool] = False  # True when the raw map's negative values mean "against the class"; see is_signed
    family: ClassVar[str] = "CAM"  # "CAM", "gradient", "propagation" or "perturbation": how the map is computed
    group: ClassVar[str] = "class activation maps"  # what the map shows: one of GROUPS, for the method list
    declared_options: ClassVar[tuple[Option, ...]] = ()  # the method's settings, declared once (options.py)
    option_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})  # derived from declared_options
    sign_options: ClassVar[tuple[str, ...]] = ()  # the settings that decide whether the map is signed
    half_precision_ok: ClassVar[bool] = False  # True where float16 forward passes keep the map within tolerance

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.group not in GROUPS:
            raise TypeError(f"{cls.__name__}.group is {cls.group!r}, not one of {list(GROUPS)}")
        names = [option.name for option in cls.declared_options]
        if len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__} declares a setting twice: {names}")
        cls.option_defaults = MappingProxyType({option.name: option.default for option in cls.declared_options})

    def check_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The defaults updated by ``options``, each converted to its declared kind and checked against its
        bounds or choices (None means the default). ``CamdemoError`` for a bad value or an unknown name."""
        declared = {option.name: option for option in self.declared_options}
        given = {key: value for key, value in (options or {}).items() if value is not None}
        unknown = set(given) - set(declared)
        if unknown:
            raise CamdemoError(unknown_options_message(self.title, unknown, self.declared_options))
        checked = dict(self.option_defaults)
        for key, value in given.items():
            checked[key] = declared[key].convert(value, self.title)
        self.check_combination(checked)
        return checked

    def check_combination(self, options: dict[str, Any]) -> None:  # noqa: B027  # a hook; most methods need none
        """Rules between settings (occlusion: stride ≤ patch), on converted options; may adjust them in place."""

    def is_signed(self, options: Mapping[str, Any] | None = None) -> bool:
        """Whether the map with these (checked) options keeps its sign: negative values argue against the class."""
        return self.signed

    def option(self, target: Target, name: str) -> Any:
        """``target``'s value of one of this method's options, or its default."""
        return target.options.get(name, self.option_defaults[name])

    def unavailable_reason(self, spec: BackboneSpec) -> str | None:
        """Why this method cannot explain ``spec``'s model, or None when it can."""
        return None

    def passes(self, options: Mapping[str, Any], *, channels: int, input_size: int) -> float:
        """The work of one image, in forward+backward passes of the network (the most it can take).

        ``options`` are checked ones (``check_options``); ``channels`` is the target layer's channel count
        and ``input_size`` the model's input side. A forward pass alone counts as ``FORWARD_PASS``.
        Used to say the cost before slow work starts and to keep a server's requests within a budget.
        """
        return 1.0

    def required_layer(self, spec: BackboneSpec) -> str | None:
        """The only layer this method is defined at for ``spec``, or None when any layer works."""
        return None

    @abstractmethod
    def compute_batch(self, target: Target) -> list[RawMap]:
        """Run the model on the N images of ``target.inputs``; one raw map per image, for its class."""

    def compute(self, target: Target) -> RawMap:
        """The raw map of a single image (``target.inputs`` is 1×3×S×S)."""
        return self.compute_batch(target)[0]


class ChannelWeightedMethod(Method):
    """Map = Σ_k w_k · A_k over the channels A_k of a layer's output; ReLU if ``relu``.

    Subclasses only say how to get the weights w (the pattern of torch-cam): one per channel, shape
    (C,), or one per channel and position, shape (C, h, w), for the element-wise methods (LayerCAM,
    HiResCAM).
    """

    relu: ClassVar[bool] = True
    needs_gradients: ClassVar[bool] = True
    # The forward pass (and so the backward pass to the layer) may run in float16: the map is a weighted sum
    # over a layer's channels, done in float32 from there on (see engine.PRECISION_TOLERANCE). Gradients
    # down to the pixels are not this robust: with bfloat16, saliency's correlation with float32 fell to 0.56.
    half_precision_ok: ClassVar[bool] = True

    @abstractmethod
    def channel_weights(
        self, target: Target, activations: torch.Tensor, gradients: torch.Tensor | None, class_index: int,
        image: torch.Tensor,
    ) -> torch.Tensor:
        """Weights w, (C,) or (C, h, w), for activations A (C, h, w), dScore/dA (same shape) and the image's
        model input (1×3×S×S)."""

    def passes(self, options: Mapping[str, Any], *, channels: int, input_size: int) -> float:
        """One forward pass, and one backward pass when the weights need gradients."""
        return 1.0 if self.needs_gradients else FORWARD_PASS

    def activations_for_map(self, target: Target, activations: torch.Tensor) -> torch.Tensor:
        """The maps A_k that the weights apply to, from the tensor the layer methods read (Eigen-CAM centers them)."""
        return activations

    def map_note(self, target: Target, activations: torch.Tensor, weights: torch.Tensor) -> str:
        """What a person should know about this image's map (a rule or an approximation used), or ""."""
        return ""

    def forward(self, target: Target) -> LayerForward:
        """One forward pass recording the target layer's output (a grad-requiring leaf if gradients are needed)."""
        from .hooks import capture_output, single_activation

        if target.layer is None or target.layer_name is None:
            raise CamdemoError(f"{self.title} needs a target layer.")
        grad_mode = torch.enable_grad() if self.needs_gradients else torch.no_grad()
        precision = (torch.autocast(target.inputs.device.type, dtype=target.autocast_dtype)
                     if target.autocast_dtype is not None else contextlib.nullcontext())
        with capture_output(target.layer, target.layer_name, for_gradients=self.needs_gradients,
                            signal=target.signal) as kept, grad_mode, \
                precision:
            logits = target.model(target.inputs)
        if logits.dim() != 2 or logits.shape[0] != target.inputs.shape[0]:
            raise CamdemoError(f"The model returned {tuple(logits.shape)}; expected class scores of shape N×classes.")
        return LayerForward(single_activation(kept, target.layer_name), logits)

    def channel_terms(self, target: Target, forward: LayerForward) -> list[ChannelTerms]:
        """Per image: its class, the channel weights w (C,) and the maps A (C, h, w) that they weight."""
        classes = choose_classes(forward.logits, target.class_index)
        gradients, scale = None, 1.0
        layer_output = forward.layer_output.detach()
        if reads_pooled_features(target):
            layer_output, gradients = pooled_features_and_gradients(target, forward, classes, self.needs_gradients)
        elif self.needs_gradients:
            score = target.scores(forward.logits, classes).sum()
            # float16 gradients below ~6e-8 vanish: scale the score up for the backward pass and the gradients
            # back down in float32 (the loss scaling of torch.amp.GradScaler). A power of two, so exact.
            scale = FLOAT16_GRADIENT_SCALE if forward.layer_output.dtype == torch.float16 else 1.0
            (gradients,) = torch.autograd.grad(score * scale, forward.layer_output, allow_unused=True)
            if gradients is None:
                raise CamdemoError(f"Layer '{target.layer_name}' does not influence the class score; "
                                   "choose another layer.")
        terms = []
        for i, class_index in enumerate(classes):  # float32 from here on, also after a float16 forward pass
            activations = self.activations_for_map(target, layer_output[i].float())
            with torch.no_grad():
                weights = self.channel_weights(target, activations,
                                               None if gradients is None else gradients[i].float() / scale,
                                               class_index, target.inputs[i:i + 1])
            terms.append(ChannelTerms(class_index, weights, activations, forward.logits.detach()[i].float(),
                                      self.map_note(target, activations, weights)))
        return terms

    def finish(self, target: Target, forward: LayerForward) -> list[RawMap]:
        """Maps for the classes of ``target`` from a forward pass (reusable across classes if gradient-free)."""
        results = []
        for terms in self.channel_terms(target, forward):
            with torch.no_grad():
                values = weighted_sum(terms.weights, terms.activations)
                if self.relu:
                    values = torch.relu(values)
            results.append(RawMap(values=values, logits=terms.logits, class_index=terms.class_index, note=terms.note))
        return results

    def compute_batch(self, target: Target) -> list[RawMap]:
        return self.finish(target, self.forward(target))


def reads_pooled_features(target: Target) -> bool:
    """True at the layer of a GAP → linear head that rectifies before pooling (DenseNet's ``features.norm5``):
    there the layer methods read ReLU(layer output), the tensor that global pooling averages."""
    head = target.head
    return head is not None and head.relu_before_pool and target.layer_name == head.layer


def pooled_features_and_gradients(target: Target, forward: LayerForward, classes: list[int],
                                  needs_gradients: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """F = ReLU(A), the features that pooling reads, and ∂y_c/∂F = w^c / Z through the declared head.

    The network's own ReLU passes no gradient where A ≤ 0, so autograd through the model gives
    ∂y_c/∂A = (w^c / Z) · [A > 0], not the gradient at F. The head is y = W · mean(F) + b, checked here
    against the model's logits (``CamdemoError`` if it does not reproduce them), and differentiated directly.
    """
    assert target.head is not None  # called only where reads_pooled_features(target) holds
    features = torch.relu(forward.layer_output.detach().float())
    classifier = target.model.get_submodule(target.head.classifier)
    with torch.enable_grad():
        features.requires_grad_(needs_gradients)
        logits = classifier(features.mean(dim=(2, 3)))
        expected = forward.logits.detach().float()
        tolerance = 1e-3 if forward.layer_output.dtype == torch.float32 else 5e-2  # half precision: looser
        atol = tolerance * (1 + float(expected.abs().max()))
        if not torch.allclose(logits.detach(), expected, rtol=tolerance, atol=atol):
            raise CamdemoError(f"The declared head '{target.head.classifier}'(mean(ReLU('{target.head.layer}'))) does "
                               "not reproduce this model's class scores, so the layer methods cannot read that layer.")
        if not needs_gradients:
            return features.detach(), None
        score = target.scores(logits, classes).sum()
        (gradients,) = torch.autograd.grad(score, features)
    return features.detach(), gradients


def weighted_sum(weights: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """Σ_k w_k · A_k for weights (C,) or (C, h, w) and activations (C, h, w)."""
    if weights.dim() == 1:
        return torch.einsum("k,khw->hw", weights, activations)
    return (weights * activations).sum(dim=0)


@dataclass(frozen=True)
class ChannelTerms:
    """The pieces of a channel-weighted map for one image: map = Σ_k weights[k] · activations[k]."""

    class_index: int
    weights: torch.Tensor  # (C,) or (C, h, w)
    activations: torch.Tensor  # (C, h, w)
    logits: torch.Tensor  # (num_classes,)
    note: str = ""  # from ``ChannelWeightedMethod.map_note``


@dataclass(frozen=True)
class LayerForward:
    """A forward pass's record: the layer output (N×C×h×w) and the logits (N×classes)."""

    layer_output: torch.Tensor
    logits: torch.Tensor
