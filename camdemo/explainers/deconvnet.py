"""DeConvNet: the gradient with every ReLU's backward replaced by a ReLU of the signal coming back.

∂_in = ReLU(∂_out) at each ReLU/ReLU6, whatever the forward input was (Guided Backprop also applies the
forward mask [input > 0]; the plain gradient applies only the mask). zennit's ``DeconvNet`` composite, with
ReLU6 added for EfficientNet-Lite, on the call's working copy (``propagation.py``).

Zeiler, Fergus. "Visualizing and Understanding Convolutional Networks." ECCV 2014. arXiv:1311.2901
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch import nn

from .base import Target
from .input_gradients import GuidedBackprop
from .propagation import PropagationMethod


class DeConvNet(PropagationMethod):
    """R(x) = the input's backward signal with ReLU(·) in place of each ReLU's backward pass, shown as the
    largest magnitude over color channels (like Guided Backprop).

    Zeiler, Fergus. "Visualizing and Understanding Convolutional Networks." ECCV 2014. arXiv:1311.2901
    """

    name = "deconvnet"
    title = "DeConvNet"
    paper = "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014 (arXiv:1311.2901)"
    summary = (
        "DeConvNet sends the class score back through the network like the gradient, but every ReLU lets through "
        "only positive signal, wherever the unit was active or not. It reconstructs the image patterns that "
        "excite the network; like Guided Backprop it hardly depends on the class or the weights (see the sanity "
        "check tab). One forward and one backward pass."
    )
    group = "signal"
    signed = False
    seed_with_score = False

    def passes(self, options, *, channels, input_size):
        return 1.5  # measured 1.5 on EfficientNet-Lite0: the copy and zennit's hooks on every ReLU

    def unavailable_reason(self, spec):
        return GuidedBackprop().unavailable_reason(spec)

    def rules(self, target: Target, model: nn.Module) -> AbstractContextManager:
        from zennit.composites import DeconvNet
        from zennit.rules import ReLUDeconvNet

        return DeconvNet(layer_map=[(nn.ReLU6, ReLUDeconvNet())]).context(model)
