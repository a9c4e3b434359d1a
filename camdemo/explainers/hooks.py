"""Context managers that touch a model only for the duration of one call.

* ``capture_output`` records a layer's output with a forward hook that exists only inside the
  ``with`` block (removed in ``finally``, also on error) and that records only forward passes run
  by the calling thread. Several threads can therefore explain with one shared model at once
  without seeing each other's activations and without a global lock.
* A token layer (a Vision Transformer block: N×T×C, T = a few class/register tokens + h·w patches)
  is presented as the map N×C×h×w of its patch tokens (``as_map``), gradients included.
* ``eval_mode`` puts a model in eval mode and restores each module's own mode afterwards.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from ..errors import CamdemoError
from ..models.layers import MAX_EXTRA_TOKENS, token_grid
from ..models.modes import eval_mode  # noqa: F401  (re-exported: the methods take it from here)


@contextmanager
def capture_output(layer: nn.Module, layer_name: str, *, for_gradients: bool,
                   signal: bool = False) -> Iterator[list[torch.Tensor]]:
    """Yield a list that receives ``layer``'s output (N×C×H×W) each time this thread runs it inside the block.

    With ``for_gradients`` (and grad mode on) the kept tensor is a fresh leaf that requires grad, so
    ``torch.autograd.grad(score, kept)`` works even when no parameter requires grad, and no graph is
    built for the layers before it. Either way the rest of the network receives a *copy*: in-place
    operations downstream (``ReLU(inplace=True)``, ``out += identity``, DenseNet's ``F.relu(...,
    inplace=True)``) can never alter the kept activation or break its gradient.

    A token output N×T×C is kept as the map of its patch tokens, N×C×h×w (``as_map``); the network then
    continues from tokens rebuilt out of that map, so the gradient at the kept map is the gradient at
    the patch tokens. With ``signal`` (a 1-D model), an output N×C×L is kept as the one-row map N×C×1×L.
    """
    owner = threading.get_ident()
    kept: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: tuple, output: object) -> torch.Tensor | None:
        if threading.get_ident() != owner:
            return None  # another thread's forward pass through the same shared model
        if not isinstance(output, torch.Tensor) or output.dim() not in (3, 4):
            raise CamdemoError(not_a_map_message(layer_name, output))
        if output.dim() == 3 and signal:
            row = output.detach().unsqueeze(2).requires_grad_(True) if for_gradients and torch.is_grad_enabled() \
                else output.unsqueeze(2)
            kept.append(row)
            return row.squeeze(2).clone()
        if output.dim() == 3:
            return keep_tokens(output, layer_name, for_gradients and torch.is_grad_enabled(), kept)
        if for_gradients and torch.is_grad_enabled():
            output = output.detach().requires_grad_(True)
        kept.append(output)
        return output.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield kept
    finally:
        handle.remove()


def not_a_map_message(layer_name: str, output: object) -> str:
    """Why ``output`` cannot be read as a spatial map, naming the layer and the shape."""
    shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
    return (f"Layer '{layer_name}' outputs {shape}, not a spatial map (N×C×H×W) nor a token sequence "
            f"(N×T×C with T = h·w patch tokens on a square grid after at most {MAX_EXTRA_TOKENS} class or register "
            "tokens); choose a convolutional layer or a transformer block.")


def as_map(tokens: torch.Tensor, layer_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(extra tokens N×e×C, patch map N×C×h×w) of a token sequence N×T×C, T = e + h·w with h = w.

    Patch token e + i·w + j is the map's position (i, j): the row-major order in which ViTs flatten
    their patch grid. ``CamdemoError`` when T is not a square grid after at most ``MAX_EXTRA_TOKENS`` tokens.
    """
    grid = token_grid(tokens.shape[1])
    if grid is None:
        raise CamdemoError(not_a_map_message(layer_name, tokens))
    side, extras = grid
    patches = tokens[:, extras:, :]
    return tokens[:, :extras, :], patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], side, side)


def keep_tokens(tokens: torch.Tensor, layer_name: str, as_leaf: bool, kept: list[torch.Tensor]) -> torch.Tensor:
    """Keep the patch map of ``tokens`` (a grad-requiring leaf when ``as_leaf``); return the tokens the network
    continues with: the extra tokens and the map flattened back, a new tensor built from the kept map."""
    extras, grid = as_map(tokens, layer_name)
    if as_leaf:
        extras, grid = extras.detach(), grid.detach().requires_grad_(True)
    kept.append(grid)
    return torch.cat([extras, grid.flatten(2).transpose(1, 2)], dim=1)


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

