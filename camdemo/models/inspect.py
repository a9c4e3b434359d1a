"""Looking at a model camdemo has never seen: its explainable layers and its GAP → linear head, from one pass.

(Minimal first version; the full pre-flight check replaces it.)
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import nn

from .layers import LayerInfo
from .spec import GapLinearHead


@contextlib.contextmanager
def _recording(module: nn.Module) -> Iterator[dict[str, tuple[Any, Any]]]:
    """Every submodule's (first input, output) of the passes run inside, in eval mode; modes and hooks restored."""
    seen: dict[str, tuple[Any, Any]] = {}
    modes = {name: sub.training for name, sub in module.named_modules()}
    handles = []
    try:
        def keep(name: str):
            def hook(_module, args, output) -> None:  # returns None: the output is left as it is
                seen.setdefault(name, (args[0] if args else None, output))
            return hook

        for name, sub in module.named_modules():
            if name:
                handles.append(sub.register_forward_hook(keep(name)))
        module.eval()
        yield seen
    finally:
        for handle in handles:
            handle.remove()
        for name, sub in module.named_modules():
            sub.training = modes.get(name, sub.training)


def find_layers(module: nn.Module, example_input: torch.Tensor) -> tuple[LayerInfo, ...]:
    """The modules whose output is a spatial map N×C×H×W (H·W > 1), deepest first, with their shapes."""
    with _recording(module) as seen, torch.no_grad():
        module(example_input)
    found = [LayerInfo(name, *output.shape[1:]) for name, (_, output) in seen.items()
             if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[2] * output.shape[3] > 1]
    return tuple(reversed(found))


def find_cam_head(module: nn.Module, example_input: torch.Tensor) -> GapLinearHead | None:
    """The GAP → linear head if the model ends in one: a Linear whose input is the spatial mean of some
    module's 4-D output (or of its ReLU) and whose output is the model's output."""
    with _recording(module) as seen, torch.no_grad():
        output = module(torch.rand_like(example_input))
    for classifier, (features, result) in seen.items():
        linear = module.get_submodule(classifier)
        if not isinstance(linear, nn.Linear) or not torch.equal(result.flatten(1), output.flatten(1)):
            continue
        for layer, (_, candidate) in reversed(list(seen.items())):
            if not isinstance(candidate, torch.Tensor) or candidate.dim() != 4 or candidate[0, 0].numel() < 2:
                continue
            for relu in (False, True):
                pooled = (torch.relu(candidate) if relu else candidate).mean(dim=(2, 3))
                if pooled.shape == features.flatten(1).shape and torch.allclose(pooled, features.flatten(1),
                                                                                 rtol=1e-4, atol=1e-5):
                    return GapLinearHead(layer, classifier, relu_before_pool=relu)
    return None
