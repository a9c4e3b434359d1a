"""Occlusion (Zeiler & Fergus, ECCV 2014): how much the class score drops when a patch is hidden."""

from __future__ import annotations

import torch

from ..errors import CamdemoError
from .base import FORWARD_PASS, Method, RawMap, Target, choose_classes
from .options import Option, batch_size_option


class Occlusion(Method):
    """M_c(i, j) = mean over the patches P that cover (i, j) of [y_c(x) − y_c(x with P set to the baseline)].

    A gray square of ``patch`` × ``patch`` model-input pixels slides over the image with
    ``stride``; each position costs one forward pass (batched, no gradients). Signed: positive
    where hiding the patch lowers the class score (evidence for it), negative where hiding it
    raises the score. Pixels that no patch covers get 0. Same definition as captum's Occlusion
    with a scalar baseline. On a one-row input (a signal, 1×L) the window is ``patch`` samples long.

    Zeiler, Fergus. "Visualizing and Understanding Convolutional Networks." ECCV 2014.
    arXiv:1311.2901
    """

    group = "attribution"
    name = "occlusion"
    title = "Occlusion"
    paper = "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014 (arXiv:1311.2901)"
    summary = (
        "Occlusion hides one square patch of the image at a time (gray) and records how much the class score "
        "drops. It needs no gradients and no layer, and it is easy to trust, but it costs one forward pass per "
        "patch position and cannot see anything smaller than the patch."
    )
    uses_layer = False
    signed = True
    family = "perturbation"
    cost = "1 forward per patch position"
    declared_options = (
        Option("patch", 32, "int", "patch size", "The side of the hidden square, in model-input pixels.",
               low=1, high=256),
        Option("stride", 16, "int", "stride",
               "How far the patch moves between positions, in model-input pixels (at most the patch size).",
               low=1, high=256),
        Option("baseline", 128, "int", "gray level", "The gray level (0 black, 255 white) of the hidden square.",
               low=0, high=255, in_app=False),
        batch_size_option("occluded images"),
    )

    def check_combination(self, options):
        if options["stride"] > options["patch"]:
            raise CamdemoError(f"Occlusion's stride ({options['stride']} px) must not exceed the patch size "
                               f"({options['patch']} px), or some pixels are never hidden.")

    def passes(self, options, *, channels, input_size):
        """One forward pass per patch position and one of the image itself."""
        per_side = max(0, (input_size - options["patch"]) // options["stride"] + 1)
        return FORWARD_PASS * (per_side * per_side + 1)

    def compute_batch(self, target: Target) -> list[RawMap]:
        patch, stride = self.option(target, "patch"), self.option(target, "stride")
        height, width = target.inputs.shape[-2:]
        tall = patch if height > 1 else 1  # a signal: windows of `patch` samples along its one row
        if tall > height or patch > width:
            raise CamdemoError(f"Occlusion's patch ({patch} px) is larger than the model's input ({height}×{width}).")
        windows = [(top, left) for top in range(0, height - tall + 1, stride)
                   for left in range(0, width - patch + 1, stride)]
        baseline = target.constant(self.option(target, "baseline"))
        batch = self.option(target, "batch_size")
        with torch.no_grad():
            logits = target.model(target.inputs)
            classes = choose_classes(logits, target.class_index)
            results = []
            for i, class_index in enumerate(classes):
                image = target.inputs[i:i + 1]
                total = torch.zeros(height, width, dtype=torch.float32, device=image.device)
                count = torch.zeros_like(total)
                for start in range(0, len(windows), batch):
                    chunk = windows[start:start + batch]
                    occluded = image.repeat(len(chunk), 1, 1, 1)
                    for k, (top, left) in enumerate(chunk):
                        occluded[k, :, top:top + tall, left:left + patch] = baseline[0, :, top:top + tall,
                                                                                     left:left + patch]
                    drops = (target.scores(logits[i:i + 1], class_index).float()
                             - target.scores(target.model(occluded), class_index).float())
                    for drop, (top, left) in zip(drops, chunk):
                        total[top:top + tall, left:left + patch] += drop
                        count[top:top + tall, left:left + patch] += 1
                    done = min(len(windows), start + batch)
                    target.report((i + done / len(windows)) / len(classes),
                                  f"Occlusion: {done} of {len(windows)} patch positions")
                values = torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))
                results.append(RawMap(values, logits[i], class_index))
        return results
