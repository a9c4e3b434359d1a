"""Grad-CAM's descendants: other ways to weight a layer's channels (or positions) by gradients.

Each differs from Grad-CAM only in the weights w, so each is a few lines on ``ChannelWeightedMethod``.
A is the layer's output (C×h×w), g = ∂y_c/∂A its gradient for the class logit y_c.
"""

from __future__ import annotations

import torch

from .base import ChannelWeightedMethod


class GradCAMPlusPlus(ChannelWeightedMethod):
    """L_c = ReLU(Σ_k w_k A_k), w_k = Σ_ij α_k^ij · ReLU(g_k^ij),
    α_k^ij = g² / (2 g² + Σ_ab A_k^ab · g³)   (all at ij; α = 0 where g = 0).

    The closed form of α uses the paper's exponential score, whose higher derivatives are powers
    of the first (eq. 19). Positive gradients are weighted per position, so several instances of
    a class all count, not only the largest.

    Chattopadhay, Sarkar, Howlader, Balasubramanian. "Grad-CAM++: Improved Visual Explanations for
    Deep Convolutional Networks." WACV 2018. arXiv:1710.11063
    """

    name = "gradcampp"
    title = "Grad-CAM++"
    paper = ("Chattopadhay et al., Grad-CAM++: Improved Visual Explanations for Deep Convolutional Networks, "
             "WACV 2018 (arXiv:1710.11063)")
    summary = (
        "Grad-CAM++ weights each channel by its positive gradients only, and gives each position its own weight "
        "α, so that every instance of an object counts (Grad-CAM's plain average favors the largest one). "
        "One forward and one partial backward pass."
    )

    def channel_weights(self, target, activations, gradients, class_index, image):
        squared = gradients.pow(2)
        denominator = 2 * squared + activations.sum(dim=(1, 2), keepdim=True) * gradients.pow(3)
        alpha = torch.where(gradients != 0, squared / (denominator + 1e-6), torch.zeros_like(gradients))
        return (alpha * torch.relu(gradients)).sum(dim=(1, 2))


class XGradCAM(ChannelWeightedMethod):
    """L_c = Σ_k w_k A_k, w_k = Σ_ij A_k^ij · g_k^ij / Σ_ab |A_k^ab|   (w_k = 0 for an all-zero channel).

    Grad-CAM's average of the gradient, weighted by the activation itself: the weights that make
    the map satisfy the paper's two axioms (sensitivity and conservation) as well as possible.
    Shown with its sign, like Grad-CAM.

    The paper divides by Σ_ab A_k^ab and assumes A ≥ 0 (ReLU networks); there Σ|A| = ΣA and this is
    its formula. Where activations can be negative (Hardswish, GELU, pre-activation outputs) ΣA can
    be ~0 for a channel with a large Σ A·g, and the quotient, decided by the constant added against
    division by zero, swamps the map. Dividing by Σ|A| keeps every weight within the channel's
    largest |g| and the map continuous in A; the result's note says when this rule was needed.

    Fu, Hu, Dong, Li, Xue. "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation
    of CNNs." BMVC 2020. arXiv:2008.02312
    """

    name = "xgradcam"
    title = "XGrad-CAM"
    paper = ("Fu et al., Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs, "
             "BMVC 2020 (arXiv:2008.02312)")
    summary = (
        "XGrad-CAM averages each channel's gradient weighted by the channel's own activation, so positions "
        "where the channel is active count more. For ReLU networks this makes the map add up to (almost) the "
        "class score. One forward and one partial backward pass."
    )
    relu = False
    signed = True

    def channel_weights(self, target, activations, gradients, class_index, image):
        totals = activations.abs().sum(dim=(1, 2))
        weighted = (gradients * activations).sum(dim=(1, 2))
        return weighted / totals.clamp_min(torch.finfo(totals.dtype).tiny)  # all-zero channel: 0 / tiny = 0

    def map_note(self, target, activations, weights):
        if not bool((activations < 0).any()):
            return ""
        return ("XGrad-CAM: this layer's activations take negative values, so each channel's weight divides by "
                "Σ|A|, not the paper's ΣA (which assumes A ≥ 0 and can be near zero here).")


class LayerCAM(ChannelWeightedMethod):
    """L_c = ReLU(Σ_k ReLU(g_k^ij) · A_k^ij): each position weighted by its own positive gradient.

    No averaging over space, so the map keeps the layer's fine detail; this is what makes LayerCAM
    useful at early layers, where Grad-CAM's averaged weights wash out.

    Jiang, Zhang, Hou, Cheng, Wei. "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization." IEEE TIP 2021. doi:10.1109/TIP.2021.3089943
    """

    name = "layercam"
    title = "LayerCAM"
    paper = "Jiang et al., LayerCAM: Exploring Hierarchical Class Activation Maps for Localization, IEEE TIP 2021"
    summary = (
        "LayerCAM weights every position of every channel by its own positive gradient instead of one average "
        "per channel. Maps keep more detail, and early layers give usable, fine-grained maps. One forward and "
        "one partial backward pass."
    )

    def channel_weights(self, target, activations, gradients, class_index, image):
        return torch.relu(gradients)


class HiResCAM(ChannelWeightedMethod):
    """L_c = Σ_k g_k^ij · A_k^ij, element-wise (no averaging of the gradient).

    When the layer is followed only by GAP and a linear layer, the map's mean plus the bias is
    exactly the class score, so it shows precisely the locations the model used; Grad-CAM's
    averaging can highlight locations the model did not use. Shown with its sign.

    Draelos, Carin. "Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional
    neural networks." arXiv:2011.08891 (2020)
    """

    name = "hirescam"
    title = "HiResCAM"
    paper = ("Draelos & Carin, "
             "Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional neural networks, "
             "arXiv:2011.08891")
    summary = (
        "HiResCAM multiplies each activation by its own gradient (no averaging) and sums over channels. At the "
        "last layer of a GAP → linear network it equals CAM exactly; at other layers it avoids Grad-CAM's habit "
        "of lighting up places the model did not use. One forward and one partial backward pass."
    )
    relu = False
    signed = True

    def channel_weights(self, target, activations, gradients, class_index, image):
        return gradients
