"""Grad-CAM step by step, for teaching: the pieces that ``GradCAM`` sums, as arrays a UI can show.

    1. the chosen layer's feature maps A_k (the strongest shown),
    2. their weights α_k = mean over positions of ∂y_c/∂A_k,
    3. the weighted sum Σ_k α_k A_k (signed),
    4. the ReLU, which keeps the evidence *for* the class,
    5. the upsampling onto the original image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..api import check_settings
from ..deprecation import keyword_settings
from ..drawing import overlay as overlay_lib
from ..explainers import GradCAM, Target
from ..explainers.hooks import eval_mode
from ..images import ImageInput, load_image
from ..models import DEFAULT_BACKBONE, BackboneSpec, load_model
from ..models.layers import resolve_layer


@dataclass(frozen=True)
class ChannelStep:
    """One feature map of the layer and what it adds to the map: contribution = weight · activation."""

    channel: int
    weight: float
    activation: np.ndarray  # h×w
    mean_contribution: float  # weight × mean activation: this channel's share of the (averaged) map


@dataclass(frozen=True)
class GradCAMSteps:
    image: np.ndarray
    backbone: str
    layer: str
    class_index: int
    class_label: str
    strongest: list[ChannelStep]  # the channels with the largest positive contribution, largest first
    weakest: list[ChannelStep]  # the channels that argue most against the class
    channels: int
    weighted_sum: np.ndarray  # Σ_k α_k A_k, h×w, signed
    after_relu: np.ndarray  # ReLU of it: the Grad-CAM map
    heatmap: np.ndarray  # normalized and upsampled to the image, H×W in [0, 1]


@keyword_settings("backbone", "layer", "class_index", "top", "device")
def gradcam_steps(image: ImageInput, *, backbone: str | BackboneSpec = DEFAULT_BACKBONE, layer: str | None = None,
                  class_index: int | None = None, top: int = 6, device: torch.device | str | None = None
                  ) -> GradCAMSteps:
    """Compute Grad-CAM for one image and return every intermediate step (same numbers as ``explain``).

    ``top`` is how many of the strongest channels to keep. Nothing is drawn (``camdemo.app.steps`` does).
    """
    settings = check_settings(backbone=backbone, method="gradcam", layer=layer, device=device)
    assert settings.layer_name is not None  # Grad-CAM always reads a layer
    rgb = load_image(image)
    model = load_model(settings.spec, settings.device)
    method = GradCAM()
    target = Target(model, settings.spec.preprocess(rgb, settings.device), class_index,
                    resolve_layer(model, settings.spec, settings.layer_name), settings.layer_name,
                    settings.spec.cam_head)
    with eval_mode(model):
        (terms,) = method.channel_terms(target, method.forward(target))
    weights = terms.weights.float().cpu()
    activations = terms.activations.float().cpu()
    contributions = weights * activations.mean(dim=(1, 2))
    order = torch.argsort(contributions, descending=True).tolist()

    def step(k: int) -> ChannelStep:
        return ChannelStep(k, float(weights[k]), activations[k].numpy(), float(contributions[k]))

    weighted = torch.einsum("k,khw->hw", weights, activations)
    after_relu = torch.relu(weighted).numpy()
    heatmap, _ = overlay_lib.heatmap_over_image(after_relu, rgb.shape[:2])  # exactly explain()'s heatmap
    return GradCAMSteps(
        image=rgb, backbone=settings.spec.name, layer=settings.layer_name, class_index=terms.class_index,
        class_label=settings.spec.categories[terms.class_index],
        strongest=[step(k) for k in order[:top]], weakest=[step(k) for k in order[::-1][:2]],
        channels=len(order), weighted_sum=weighted.numpy(), after_relu=after_relu, heatmap=heatmap,
    )
