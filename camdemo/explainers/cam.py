"""CAM: Class Activation Mapping (Zhou et al., CVPR 2016)."""

from __future__ import annotations

from ..models import BackboneSpec
from .base import ChannelWeightedMethod


class CAM(ChannelWeightedMethod):
    """M_c(x, y) = Σ_k w_k^c · f_k(x, y).

    f_k are the feature maps that feed global average pooling and w_k^c the final linear layer's
    weights for class c, so the class score is y_c = mean_{x,y} M_c(x, y) + b_c: CAM is the class
    score resolved in space. It needs no gradients (one forward pass) and exists only for networks
    whose head is exactly GAP → linear, at that one layer. The raw map is signed (no ReLU): its
    positive part argues for the class, its negative part against it.

    Zhou, Khosla, Lapedriza, Oliva, Torralba. "Learning Deep Features for Discriminative
    Localization." CVPR 2016. arXiv:1512.04150
    """

    name = "cam"
    title = "CAM"
    paper = "Zhou et al., Learning Deep Features for Discriminative Localization, CVPR 2016 (arXiv:1512.04150)"
    summary = (
        "CAM weights the last feature maps (the ones averaged by global pooling) by the final linear layer's "
        "weights for the chosen class: M_c = Σ_k w_k^c · f_k. Averaging this map gives the class score, so CAM "
        "shows where in the image the score comes from. One forward pass, no gradients; only for networks whose "
        "head is global average pooling followed by one linear layer, and only at that last layer."
    )
    cost = "1 forward"
    relu = False
    signed = True
    needs_gradients = False

    def unavailable_reason(self, spec: BackboneSpec) -> str | None:
        return None if spec.cam_head is not None else spec.cam_unavailable

    def required_layer(self, spec: BackboneSpec) -> str | None:
        return spec.cam_head.layer if spec.cam_head is not None else None

    def channel_weights(self, target, activations, gradients, class_index, image):
        classifier = target.model.get_submodule(target.head.classifier)
        weights = target.scores(classifier.weight.T, class_index)  # one row per channel k: s · (w_k^c − w_k^b)
        return weights.to(activations.dtype)
