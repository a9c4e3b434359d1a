"""Score-CAM (Wang et al., CVPRW 2020): channel weights from the class score of masked inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import FORWARD_PASS, ChannelWeightedMethod
from .options import Option, batch_size_option


class ScoreCAM(ChannelWeightedMethod):
    """L_c = ReLU(Σ_k α_k A_k), α = softmax_k(y_c(X ∘ H_k)),
    H_k = A_k upsampled to the input (bilinear) and min–max scaled to [0, 1].

    Each channel becomes a soft mask on the input, and its weight is how much class score the
    masked image alone keeps: no gradients at all. The paper's weight f(X ∘ H_k) − f(X_b) differs
    only by a constant, which the softmax over channels removes. One forward pass per channel, in
    batches; channels that are constant give an all-zero mask and share one pass.

    ``channels`` = k > 0 runs only the k varying channels whose activations vary most (the "Faster
    Score-CAM" shortcut from the authors' repository) when there are more than k. Each of the others
    gets the lowest score measured, not weight 0: where scores spread widely (trained networks) that
    weight is negligible, as before; where they are nearly equal, the softmax is nearly uniform and every
    channel counts, as in the full method, which weight 0 breaks (random MobileNetV3, ConvNeXt,
    DenseNet-121: correlation with the full map 0.28–0.95 with weight 0, ≥ 0.9994 with this rule; every
    backbone ≥ 0.993, docs/methods.md, "Score-CAM's channels"). The note says how many channels were estimated
    and what share of the weight they carry.
    ``channels=0`` is the paper's method and what the reference test checks.

    Wang, Wang, Du, Yang, Zhang, Ding, Mardziel, Hu. "Score-CAM: Score-Weighted Visual Explanations
    for Convolutional Neural Networks." CVPR Workshops 2020. arXiv:1910.01279
    """

    name = "scorecam"
    title = "Score-CAM"
    paper = ("Wang et al., Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks, "
             "CVPRW 2020 (arXiv:1910.01279)")
    summary = (
        "Score-CAM uses each channel of the layer as a soft mask on the image, runs the network on every masked "
        "image and weights the channel by the class score that survives. No gradients, but one forward pass per "
        "channel: slow on a CPU, so by default only the 256 channels that vary most get their own pass and the "
        "others the lowest score measured (the note says how much weight that is; set channels to 0 for every "
        "channel, as in the paper), and a progress bar is shown."
    )
    needs_gradients = False
    cost = "1 forward per channel used"
    declared_options = (
        Option("channels", 256, "int", "channels used",
               "The channels that vary most get their own masked pass; the others the lowest score measured. "
               "0 = all channels, as in the paper; fewer = faster.", low=0, high=2048, step=16),
        batch_size_option("masked images"),
    )

    def passes(self, options, *, channels, input_size):
        """One forward pass per channel used (``channels`` option, 0 = all), one shared by the constant channels
        (if any) and the layer's forward pass."""
        used = options["channels"] if 0 < options["channels"] < channels else channels
        return FORWARD_PASS * (used + 2)

    def channel_weights(self, target, activations, gradients, class_index, image):
        masks = F.interpolate(activations[None], size=image.shape[-2:], mode="bilinear", align_corners=True)[0]
        low = masks.flatten(1).min(dim=1).values[:, None, None]
        high = masks.flatten(1).max(dim=1).values[:, None, None]
        masks = (masks - low) / (high - low + 1e-8)
        flat = flat_channels(activations)  # constant channel: all-zero mask
        scored = self.scored_channels(target, activations, flat)
        scores = self._scores(target, masks, scored, flat, class_index, image)
        estimated = ~(scored | flat)
        if bool(estimated.any()):
            scores[estimated] = scores[scored].min()
        return torch.softmax(scores, dim=0).to(activations.dtype)

    def scored_channels(self, target, activations: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        """The varying channels that get their own masked pass: all, or the ``channels`` that vary most."""
        keep = self.option(target, "channels")
        if not 0 < keep < int((~flat).sum()):
            return ~flat
        order = activations.flatten(1).var(dim=1).argsort(descending=True)
        chosen = torch.zeros_like(flat)
        chosen[order[:keep]] = True
        return chosen & ~flat

    def map_note(self, target, activations, weights):
        flat = flat_channels(activations)
        scored = self.scored_channels(target, activations, flat)
        estimated = ~(scored | flat)
        if not bool(estimated.any()):
            return ""
        share = 100 * float(weights[estimated].sum())
        return (f"Score-CAM: {int(scored.sum())} of the {int((~flat).sum())} varying channels were scored (those that "
                f"vary most); the other {int(estimated.sum())} got the lowest measured score and carry {share:.0f}% "
                "of the weight. Set channels to 0 to score every channel.")

    def _scores(self, target, masks, scored, flat, class_index, image):
        """The class logit of each scored channel's masked image; one shared pass for the constant channels."""
        scores = torch.empty(len(masks), dtype=torch.float32, device=image.device)
        batch_size = self.option(target, "batch_size")
        chosen = torch.nonzero(scored).flatten()
        todo = [chosen[i:i + batch_size] for i in range(0, len(chosen), batch_size)]
        if bool(flat.any()):
            todo.append(torch.nonzero(flat).flatten()[:1])
        total, done = sum(len(channels) for channels in todo), 0
        for channels in todo:
            logits = target.model(image * masks[channels, None])
            scores[channels] = target.scores(logits, class_index).float()
            done += len(channels)
            target.report(done / total, f"Score-CAM: {done} of {total} masked images")
        if bool(flat.any()):
            scores[flat] = scores[torch.nonzero(flat).flatten()[0]]
        return scores


def flat_channels(activations: torch.Tensor) -> torch.Tensor:
    """(C,) True for the channels that are constant over the image (their Score-CAM mask is all zero)."""
    values = activations.flatten(1)
    return values.amax(dim=1) == values.amin(dim=1)
