"""PatternNet and PatternAttribution: the backward pass with patterns fitted on data in place of the weights.

A linear neuron y = wᵀx sees data x = s + d, a signal s = a·y and a distractor d that the weights filter out
(wᵀd = 0). The weights point away from the distractor, not at the signal; the *pattern* a is the signal's
direction, estimated from data (the two-component estimator, Kindermans et al. 2018, §4):

    a = (E[x y] − E[x] E[y]) / (wᵀ E[x y] − wᵀ E[x] E[y])        (so that wᵀa = 1)

For a layer whose output feeds a ReLU only the samples with y > 0 carry signal onwards, so the expectations are
taken over those (the paper's a₊ for the ReLU case); the output layer uses every sample. For a convolution each
output position is a sample, x its receptive field. Patterns are fitted on the network with BatchNorm merged
into the convolutions (``canonizers``), the form in which every conv/linear layer is one linear neuron per
output channel.

* PatternNet:          the backward pass with each layer's weights W replaced by its patterns A (signal).
* PatternAttribution:  the backward pass with W replaced by W ⊙ A (attribution, a Deep-Taylor root point
  x − a·y per neuron).

Both run on the call's working copy with forward hooks that keep the forward value and route the backward
through the patterns: out' = conv(x; A) + (out − conv(x; A)).detach(). ReLUs and max pooling keep their usual
gradient (their forward masks), global pooling its average.

Fitted patterns ship in ``assets/patterns/<backbone>.pt`` (float16), with a digest of the weights they were
fitted for; ``python -m camdemo.teaching.patterns fit --backbone shapes_gapnet`` refits them.

Kindermans, Schütt, Alber, Müller, Erhan, Kim, Dähne. "Learning how to explain neural networks: PatternNet and
PatternAttribution." ICLR 2018. arXiv:1705.05598
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CamdemoError
from ..models import BackboneSpec
from .base import Target
from .canonizers import working_copy
from .propagation import PropagationMethod

PATTERNS_DIR = Path(__file__).resolve().parent.parent.parent / "assets" / "patterns"
FIT_COMMAND = "python -m camdemo.teaching.patterns fit --backbone {backbone}"


@dataclass(frozen=True)
class PatternSet:
    """Patterns by layer name (each shaped like that layer's merged weight), and what they were fitted for."""

    patterns: Mapping[str, torch.Tensor]
    weights_digest: str  # ``weights_digest`` of the model they were fitted on
    samples: int = 0  # images used
    description: str = ""  # how they were fitted, for people
    extra: Mapping[str, str] = field(default_factory=dict)


def weights_digest(model: nn.Module) -> str:
    """A short digest of the model's parameters and buffers (as stored: before any BatchNorm merge)."""
    digest = hashlib.blake2b(digest_size=8)
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def pattern_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers that get patterns: every dense layer and every ungrouped convolution, by name."""
    found: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) or (type(module) is nn.Conv2d and module.groups == 1):
            found[name] = module
    return found


def _weight(module: nn.Module) -> torch.Tensor:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def unsupported_layers(model: nn.Module) -> list[str]:
    """Names of convolutions the estimator here does not handle (grouped/depthwise, or with padding done in
    ``forward``, as EfficientNet-Lite's "SAME" convolutions)."""
    return [name for name, module in model.named_modules()
            if isinstance(module, nn.Conv2d) and (type(module) is not nn.Conv2d or module.groups != 1)]


@contextmanager
def merged_batch_norm(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` (a working copy) with each conv→BatchNorm pair merged, undone at the end."""
    from zennit.canonizers import SequentialMergeBatchNorm

    applied = SequentialMergeBatchNorm().apply(model)
    try:
        yield model
    finally:
        for canonizer in applied:
            canonizer.remove()


def _samples(module: nn.Module, inputs: torch.Tensor, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y): each output position's receptive field (rows × D) and outputs (rows × K)."""
    if isinstance(module, nn.Linear):
        return inputs.flatten(1), outputs.flatten(1)
    assert isinstance(module, nn.Conv2d) and isinstance(module.padding, tuple)
    patches = F.unfold(inputs, module.kernel_size, module.dilation, module.padding, module.stride)  # N×D×L
    return patches.transpose(1, 2).reshape(-1, patches.shape[1]), outputs.flatten(2).transpose(1, 2).reshape(
        -1, outputs.shape[1])


class _Moments:
    """Running sums for one layer: Σ m·x·y, Σ m·x, Σ m·y, Σ m per output unit, m the regime's mask."""

    def __init__(self, units: int, size: int, positive: bool) -> None:
        self.positive = positive
        self.xy = torch.zeros(units, size, dtype=torch.float64)
        self.x = torch.zeros(units, size, dtype=torch.float64)
        self.y = torch.zeros(units, dtype=torch.float64)
        self.n = torch.zeros(units, dtype=torch.float64)

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        x, y = x.double().cpu(), y.double().cpu()
        mask = (y > 0).double() if self.positive else torch.ones_like(y)
        self.xy += (y * mask).T @ x
        self.x += mask.T @ x
        self.y += (y * mask).sum(0)
        self.n += mask.sum(0)

    def pattern(self, weight: torch.Tensor) -> torch.Tensor:
        """a = cov(x, y) / wᵀ cov(x, y) per unit, over the regime's samples; 0 for a unit never in it."""
        n = self.n.clamp(min=1.0)[:, None]
        covariance = self.xy / n - (self.x / n) * (self.y[:, None] / n)
        w = weight.detach().double().cpu().reshape(weight.shape[0], -1)
        denominator = (w * covariance).sum(dim=1, keepdim=True)
        usable = (self.n[:, None] >= 2) & (denominator.abs() > 1e-12)
        pattern = torch.where(usable, covariance / torch.where(usable, denominator, torch.ones_like(denominator)),
                              torch.zeros_like(covariance))
        return pattern.reshape(weight.shape).float()


def fit_patterns(model: nn.Module, batches: Iterable[torch.Tensor], *, linear_layers: Iterable[str] = ()
                 ) -> dict[str, torch.Tensor]:
    """Patterns for every layer of ``pattern_layers`` from the model inputs in ``batches`` (N×C×H×W each).

    ``linear_layers`` use every sample (the linear estimator); the others only samples with a positive output
    (the ReLU case). By default that is the last dense layer, the output. The model is not changed: the
    statistics come from a working copy with BatchNorm merged.
    """
    copy = working_copy(model)
    unsupported = unsupported_layers(copy)
    if unsupported:
        raise CamdemoError(f"Patterns cannot be fitted here for layers {', '.join(unsupported[:3])}: the estimator "
                           "handles plain and dense convolutions, not grouped (depthwise) or self-padding ones.")
    with merged_batch_norm(copy), torch.no_grad():
        layers = pattern_layers(copy)
        linear = set(linear_layers) or {list(layers)[-1]}
        moments: dict[str, _Moments] = {}

        def keep(name: str):
            def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
                x, y = _samples(module, args[0], output)
                if name not in moments:
                    moments[name] = _Moments(y.shape[1], x.shape[1], positive=name not in linear)
                moments[name].add(x, y)
            return hook

        handles = [module.register_forward_hook(keep(name)) for name, module in layers.items()]
        try:
            for batch in batches:
                copy(batch)
        finally:
            for handle in handles:
                handle.remove()
        return {name: moments[name].pattern(_weight(layers[name])) for name in layers if name in moments}


# --- where patterns come from ---------------------------------------------------------------------------------

_registered: dict[str, PatternSet] = {}
_lock = threading.Lock()


def register_patterns(backbone: str, patterns: PatternSet) -> None:
    """Use ``patterns`` for ``backbone`` (in this process), in place of shipped ones."""
    with _lock:
        _registered[backbone] = patterns


def unregister_patterns(backbone: str) -> None:
    with _lock:
        _registered.pop(backbone, None)


def patterns_file(backbone: str) -> Path:
    return PATTERNS_DIR / f"{backbone}.pt"


def save_patterns(path: Path, patterns: PatternSet) -> None:
    """Store ``patterns`` in float16 (half the size; the maps do not change visibly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"patterns": {name: tensor.half() for name, tensor in patterns.patterns.items()},
                "weights_digest": patterns.weights_digest, "samples": patterns.samples,
                "description": patterns.description}, path)


@functools.cache
def _shipped(backbone: str) -> PatternSet | None:
    path = patterns_file(backbone)
    if not path.is_file():
        return None
    stored = torch.load(path, map_location="cpu", weights_only=True)
    return PatternSet({name: tensor.float() for name, tensor in stored["patterns"].items()}, stored["weights_digest"],
                      int(stored["samples"]), str(stored["description"]))


def patterns_for(backbone: str) -> PatternSet | None:
    """The registered or shipped patterns of ``backbone``, or None."""
    with _lock:
        registered = _registered.get(backbone)
    return registered if registered is not None else _shipped(backbone)


def matching_patterns(model: nn.Module) -> tuple[str, PatternSet]:
    """(backbone, patterns) whose layers match ``model``'s (names and shapes); those fitted for exactly these
    weights first. ``CamdemoError`` when none match."""
    layers = pattern_layers(model)
    with _lock:
        candidates = dict(_registered)
    for path in sorted(PATTERNS_DIR.glob("*.pt")):
        shipped = _shipped(path.stem)
        if path.stem not in candidates and shipped is not None:
            candidates[path.stem] = shipped
    fitting = [(name, found) for name, found in candidates.items()
               if set(found.patterns) == set(layers)
               and all(found.patterns[layer].shape == layers[layer].weight.shape for layer in layers)]
    if not fitting:
        raise CamdemoError("No fitted patterns match this network: PatternNet and PatternAttribution need "
                           "patterns fitted on data for it (" + FIT_COMMAND.format(backbone="<backbone>") + ").")
    digest = weights_digest(model)
    fitting.sort(key=lambda item: item[1].weights_digest != digest)
    return fitting[0]


@contextmanager
def pattern_backward(model: nn.Module, patterns: Mapping[str, torch.Tensor], *, times_weights: bool
                     ) -> Iterator[nn.Module]:
    """Inside the block, backward passes through ``model``'s (a merged working copy's) pattern layers use the
    patterns A (or W ⊙ A with ``times_weights``) as weights; forward values are unchanged. Removed on exit."""
    def hook(name: str):
        def replace(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
            kernel = patterns[name].to(output.device, output.dtype)
            if times_weights:
                kernel = kernel * _weight(module).detach()
            if isinstance(module, nn.Linear):
                routed = F.linear(args[0], kernel)
            else:
                assert isinstance(module, nn.Conv2d)
                routed = F.conv2d(args[0], kernel, None, module.stride, module.padding, module.dilation, module.groups)
            return routed + (output - routed).detach()
        return replace

    handles = [module.register_forward_hook(hook(name)) for name, module in pattern_layers(model).items()]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


class _PatternMethod(PropagationMethod):
    """The shared part of PatternNet and PatternAttribution: find the patterns, route the backward through them."""

    times_weights: bool = False
    kind: Literal["signal", "attribution"] = "signal"

    def unavailable_reason(self, spec: BackboneSpec) -> str | None:
        if patterns_for(spec.name) is not None:
            return None
        return (f"it needs patterns fitted on data for this network, and none are fitted for {spec.title}. camdemo "
                "ships them for the teaching network, whose scene generator gives unlimited data "
                f"(`{FIT_COMMAND.format(backbone='shapes_gapnet')}`); for ImageNet networks the paper fitted them on "
                "the ImageNet training set, which is not here, and the estimator here does not handle depthwise or "
                "self-padding convolutions (EfficientNet-Lite).")

    @contextmanager
    def rules(self, target: Target, model: nn.Module) -> Iterator[nn.Module]:
        _, found = matching_patterns(target.model)
        with merged_batch_norm(model), pattern_backward(model, found.patterns, times_weights=self.times_weights):
            yield model

    def compute_batch(self, target):
        _, found = matching_patterns(target.model)
        raws = super().compute_batch(target)
        if found.weights_digest == weights_digest(target.model):
            return raws
        note = ("These patterns were fitted for other weights than this model's (a randomized or retrained copy): "
                "the map uses them as they are.")
        return [type(raw)(raw.values, raw.logits, raw.class_index, note) for raw in raws]
