"""Gradient saliency (Simonyan, Vedaldi & Zisserman, ICLR workshop 2014)."""

from __future__ import annotations

import torch

from .base import Method, RawMap, Target, choose_classes


class Saliency(Method):
    """M_c(i, j) = max_colour |∂y_c / ∂x(colour, i, j)|.

    The absolute gradient of the class logit with respect to each input pixel, maximum over the
    three colour channels: which pixels, changed slightly, would change the score most.

    Simonyan, Vedaldi, Zisserman. "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps." ICLR Workshop 2014. arXiv:1312.6034
    """

    name = "saliency"
    title = "Saliency"
    paper = "Simonyan et al., Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps, ICLR Workshop 2014 (arXiv:1312.6034)"
    summary = (
        "Saliency is the gradient of the class score with respect to the input pixels: how much a tiny change to "
        "each pixel would change the score (absolute value, largest over the colour channels). It is computed at "
        "the model's input resolution, so it is sharp but speckled, and it does not use a layer. One forward and "
        "one full backward pass."
    )
    uses_layer = False

    def compute_batch(self, target: Target) -> list[RawMap]:
        inputs = target.inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = target.model(inputs)
        classes = choose_classes(logits, target.class_index)
        rows = torch.arange(len(classes), device=logits.device)
        score = logits[rows, torch.tensor(classes, device=logits.device)].sum()  # images are independent
        (gradients,) = torch.autograd.grad(score, inputs)
        values = gradients.abs().amax(dim=1)
        return [RawMap(values=values[i], logits=logits.detach()[i], class_index=c) for i, c in enumerate(classes)]
