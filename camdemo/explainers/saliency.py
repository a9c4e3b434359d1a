"""Gradient saliency (Simonyan, Vedaldi & Zisserman, ICLR workshop 2014)."""

from __future__ import annotations

from .input_gradients import InputAttributionMethod, class_score_gradients, gradients_and_logits


class Saliency(InputAttributionMethod):
    """M_c(i, j) = max_color |∂y_c / ∂x(color, i, j)|.

    The absolute gradient of the class logit with respect to each input pixel, maximum over the
    three color channels: which pixels, changed slightly, would change the score most.

    Simonyan, Vedaldi, Zisserman. "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps." ICLR Workshop 2014. arXiv:1312.6034
    """

    group = "functions"
    name = "saliency"
    title = "Saliency"
    paper = ("Simonyan et al., "
             "Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps, "
             "ICLR Workshop 2014 (arXiv:1312.6034)")
    summary = (
        "Saliency is the gradient of the class score with respect to the input pixels: how much a tiny change to "
        "each pixel would change the score (absolute value, largest over the color channels). It is computed at "
        "the model's input resolution, so it is sharp but speckled, and it does not use a layer. One forward and "
        "one full backward pass."
    )

    def attribute(self, target, inputs, classes):
        return class_score_gradients(target, inputs, classes).abs()

    def attribute_and_logits(self, target):
        # one pass gives the logits, the classes and the gradients (no separate forward pass)
        gradients, logits, classes = gradients_and_logits(target, target.inputs, target.class_index)
        return gradients.abs(), logits, classes
