"""Grad-CAM: Gradient-weighted Class Activation Mapping (Selvaraju et al., ICCV 2017)."""

from __future__ import annotations

from .base import ChannelWeightedMethod


class GradCAM(ChannelWeightedMethod):
    """L_c = ReLU(Σ_k α_k^c · A_k), with α_k^c = (1/Z) Σ_{i,j} ∂y_c / ∂A_k(i, j).

    The raw map keeps the sign of Σ_k α_k^c A_k: its positive part is Grad-CAM, and its negative
    part is the paper's counterfactual explanation, ReLU(Σ_k (−α_k^c) A_k): regions whose removal
    would make the network more confident in the class (section 5 of the paper).

    y_c is the class score before softmax (the logit) and A_k the chosen layer's feature maps. At
    the last layer of a GAP → linear network ∂y_c/∂A_k = w_k^c / Z everywhere, so Grad-CAM equals
    CAM after ReLU, up to scale. Works at any layer with a spatial map.

    Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra. "Grad-CAM: Visual Explanations from Deep
    Networks via Gradient-based Localization." ICCV 2017. arXiv:1610.02391
    """

    name = "gradcam"
    title = "Grad-CAM"
    paper = ("Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization, "
             "ICCV 2017 (arXiv:1610.02391)")
    summary = (
        "Grad-CAM asks how much the class score (before softmax) would change if each feature map of the chosen "
        "layer grew, averages that gradient over the map to get one weight per channel, sums the weighted maps and "
        "keeps the positive part: regions that argue *for* the class. Works at any convolutional layer: late "
        "layers give coarse, semantic maps; early layers finer but noisier ones. One forward and one partial "
        "backward pass."
    )

    relu = False
    signed = True

    def channel_weights(self, target, activations, gradients, class_index, image):
        return gradients.mean(dim=(1, 2))
