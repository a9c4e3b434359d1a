"""Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): the first principal component of a layer's activations."""

from __future__ import annotations

import torch

from .base import ChannelWeightedMethod


class EigenCAM(ChannelWeightedMethod):
    """L = ReLU((A − Ā) v₁), A the layer's activations as an (h·w)×C matrix, Ā its mean per channel
    and v₁ its first right singular vector: the projection of every position onto the direction in
    which the activations vary most.

    No gradients and no class: the map is the same for every class, which makes it a good
    teaching contrast. A singular vector's sign is arbitrary; it is chosen so that the map
    correlates positively with the total activation Σ_k A_k.

    Muhammad, Yeasin. "Eigen-CAM: Class Activation Map using Principal Components." IJCNN 2020.
    arXiv:2008.00299
    """

    name = "eigencam"
    title = "Eigen-CAM"
    paper = ("Muhammad & Yeasin, Eigen-CAM: Class Activation Map using Principal Components, "
             "IJCNN 2020 (arXiv:2008.00299)")
    summary = (
        "Eigen-CAM ignores the class: it finds the main pattern of variation in the layer's feature maps (their "
        "first principal component) and shows where it is strong. Every class gets the same map, so it shows what "
        "the network finds salient, not why it chose a class. One forward pass, no gradients."
    )
    cost = "1 forward"
    needs_gradients = False

    def activations_for_map(self, target, activations):
        return activations - activations.mean(dim=(1, 2), keepdim=True)

    def channel_weights(self, target, activations, gradients, class_index, image):
        matrix = activations.flatten(1).T.double()  # (h·w)×C, already centered per channel
        _, _, right = torch.linalg.svd(matrix, full_matrices=False)
        direction = right[0]
        projection = matrix @ direction
        total = matrix.sum(dim=1)
        if float((projection * total).sum()) < 0:
            direction = -direction
        return direction.to(activations.dtype)
