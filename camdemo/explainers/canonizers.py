"""A per-call working copy of a model, and the canonizers that make it fit for propagation rules.

The propagation methods (LRP, Deep Taylor, DeConvNet, DeepLift, PatternNet) change a network's backward pass
with libraries (``zennit``, ``captum``) whose hooks are not filtered by thread and which write state onto the
modules (zennit's rules keep each layer's input on the hook, canonizers merge BatchNorm into the convolution's
weights, captum sets ``module.input``). Applied to the shared cached model, a concurrent request would run
through them. So every call works on ``working_copy(model)``: a deep copy made without the original's hooks,
changed freely and dropped at the end of the call. The shared model is only read, never changed (its
parameters, ``requires_grad`` flags, modes and hooks stay exactly as they were, also on error).

Canonizers (Montavon et al., "Layer-Wise Relevance Propagation: An Overview", 2019, §10.3; zennit's
``canonizers``) rewrite the copy into an equivalent network that the rules understand:

* ``SequentialMergeBatchNorm`` (zennit): a convolution followed by BatchNorm in the same ``nn.Sequential``
  becomes one convolution with the BatchNorm folded into its weights and bias (EfficientNet-Lite's
  ``_conv_bn`` blocks, including the depthwise ones; the teaching network's ``_conv``; VGG).
* ``MBConvSumCanonizer`` (here): EfficientNet-Lite's residual ``out + x`` becomes zennit's ``Sum`` module, so
  the rules split the relevance of the sum between the two summands in proportion to their contributions
  (zennit's ``Norm`` rule: R_i = z_i / Σ_j z_j · R). Left as a plain ``+``, autograd would hand the *whole*
  relevance to both summands and double it at every residual block.
* ``ResNetCanonizer`` (zennit): the same for torchvision's ResNet blocks.

ReLU6 is an activation to zennit (``zennit.types.Activation``): its relevance passes through unchanged
(``Pass``), as for ReLU.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ..models.efficientnet_lite import MBConv

# The attributes where ``nn.Module`` keeps hooks: the working copy starts with none of them.
HOOK_ATTRIBUTES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                   "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
                   "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                   "_load_state_dict_post_hooks")


def working_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode, without any hook, for one call to change freely.

    The original's hook dictionaries are never read: the copy gets fresh empty ones through ``deepcopy``'s
    memo, so a hook that another thread adds to the shared model meanwhile can neither be copied nor disturb
    the copy (a dictionary changing size while it is copied would raise).
    """
    memo: dict[int, Any] = {}
    for module in model.modules():
        for attribute in HOOK_ATTRIBUTES:
            hooks = module.__dict__.get(attribute)
            if hooks is not None:
                memo[id(hooks)] = OrderedDict()
    duplicate = copy.deepcopy(model, memo)
    return duplicate.eval()


def _mbconv_forward(self: MBConv, x: torch.Tensor) -> torch.Tensor:
    """``MBConv.forward`` with the residual sum as a ``Sum`` module over the stacked summands."""
    out = self.project(self.depthwise(self.expand(x)))
    if not self.residual:
        return out
    return self.get_submodule("canonizer_sum")(torch.stack([x, out], dim=-1))  # set by the canonizer


def mbconv_sum_canonizer():
    """A zennit canonizer that routes each residual MBConv block's ``out + x`` through a ``Sum`` module."""
    from zennit.canonizers import AttributeCanonizer
    from zennit.layer import Sum

    def attributes(_name: str, module: nn.Module) -> dict[str, Any] | None:
        if isinstance(module, MBConv) and module.residual:
            return {"forward": _mbconv_forward.__get__(module), "canonizer_sum": Sum()}
        return None

    return AttributeCanonizer(attributes)


def canonizers_for(model: nn.Module) -> list:
    """The canonizers ``model`` needs: BatchNorm merging always; residual sums for the blocks known here."""
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer
    from torchvision.models.resnet import BasicBlock, Bottleneck

    found = [SequentialMergeBatchNorm()]
    if any(isinstance(module, MBConv) for module in model.modules()):
        found.append(mbconv_sum_canonizer())
    if any(isinstance(module, (BasicBlock, Bottleneck)) for module in model.modules()):
        found += [ResNetBottleneckCanonizer(), ResNetBasicBlockCanonizer()]
    return found


# Leaf modules the propagation rules cover: linear layers (with merged BatchNorm), ReLU-type activations,
# pooling, and modules that do nothing at inference. A network with any other leaf (GELU, LayerNorm,
# Hardswish, a squeeze-and-excitation gate's Sigmoid) is refused with its name.
RULE_LEAVES: tuple[type[nn.Module], ...] = (
    nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
    nn.Dropout, nn.Identity, nn.Flatten)


def uncovered_leaves(model: nn.Module, covered: tuple[type[nn.Module], ...] = RULE_LEAVES) -> list[str]:
    """The type names of ``model``'s leaf modules that the propagation rules do not cover, sorted; for a
    DenseNet also its BatchNorm before convolutions (nothing to merge it into) and its functional ReLU."""
    from torchvision.models.densenet import DenseNet

    leaves = (module for module in model.modules() if not list(module.children()))
    found = {type(module).__name__ for module in leaves if not isinstance(module, covered)}
    if isinstance(model, DenseNet):
        found |= {"BatchNorm-before-convolution", "functional ReLU"}
    return sorted(found)


def input_bounds(constant_low: torch.Tensor, constant_high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel lowest and highest model input (1×3×1×1 each), from the inputs of a black and a white
    image: the box that zᴮ and Deep Taylor's input rule search for root points in."""
    low = constant_low.amin(dim=(2, 3), keepdim=True)
    high = constant_high.amax(dim=(2, 3), keepdim=True)
    return torch.minimum(low, high), torch.maximum(low, high)
