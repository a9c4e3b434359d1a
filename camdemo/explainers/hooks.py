"""Context managers that touch a model only for the duration of one call.

* ``capture_output`` records a layer's output with a forward hook that exists only inside the
  ``with`` block (removed in ``finally``, also on error) and that records only forward passes run
  by the calling thread. Several threads can therefore explain with one shared model at once
  without seeing each other's activations and without a global lock.
* ``eval_mode`` puts a model in eval mode and restores each module's own mode afterwards.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from ..errors import CamdemoError
from ..models.modes import eval_mode  # noqa: F401  (re-exported: the methods take it from here)


@contextmanager
def capture_output(layer: nn.Module, layer_name: str, *, for_gradients: bool) -> Iterator[list[torch.Tensor]]:
    """Yield a list that receives ``layer``'s output each time this thread runs it inside the block.

    With ``for_gradients`` (and grad mode on) the kept tensor is a fresh leaf that requires grad, so
    ``torch.autograd.grad(score, kept)`` works even when no parameter requires grad, and no graph is
    built for the layers before it. Either way the rest of the network receives a *copy*: in-place
    operations downstream (``ReLU(inplace=True)``, ``out += identity``, DenseNet's ``F.relu(...,
    inplace=True)``) can never alter the kept activation or break its gradient.
    """
    owner = threading.get_ident()
    kept: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: tuple, output: object) -> torch.Tensor | None:
        if threading.get_ident() != owner:
            return None  # another thread's forward pass through the same shared model
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise CamdemoError(
                f"Layer '{layer_name}' outputs {shape}, not a spatial map (N×C×H×W); choose a convolutional layer."
            )
        if for_gradients and torch.is_grad_enabled():
            output = output.detach().requires_grad_(True)
        kept.append(output)
        return output.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield kept
    finally:
        handle.remove()


def single_activation(kept: list[torch.Tensor], layer_name: str) -> torch.Tensor:
    """The one activation a forward pass recorded; a clear error if the layer ran zero or several times."""
    if len(kept) == 1:
        return kept[0]
    if not kept:
        raise CamdemoError(f"Layer '{layer_name}' did not run during the forward pass; choose another layer.")
    raise CamdemoError(
        f"Layer '{layer_name}' runs {len(kept)} times in one forward pass (the module is shared), so its output "
        "is ambiguous. Choose the block that contains it instead."
    )

