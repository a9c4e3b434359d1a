"""Activation maximization: the image that most excites one channel, one neuron or one class score.

After Olah, Mordvintsev & Schubert, "Feature Visualization", Distill 2017: starting from faint random noise,
gradient ascent (Adam) on

    x* = argmax_x  mean_{i,j} A_c(T(x))_{ij}    (a channel; a neuron: the center position only; a class: y_c)

where A_c is channel ``c`` of the chosen layer and T a random robustness transform drawn anew at every step
(``camdemo.inside.transforms``), with x described by a decorrelated Fourier spectrum
(``camdemo.inside.parameterization``). Without those two the image fills with high-frequency noise; with them
it shows the patterns the channel responds to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import CamdemoError
from ..models import DEFAULT_BACKBONE
from .parameterization import FourierImage
from .probe import LOGITS, MAX_SIZE, MAX_STEPS, MIN_SIZE, Probe, Progress, check_count, check_positive, \
    layer_channels, probe, report, to_uint8
from .transforms import Robustness

DEFAULT_STEPS = 128
DEFAULT_SIZE = 128
DEFAULT_LEARNING_RATE = 0.05
CONTRAST = 1.5  # the standardized image's contrast before the sigmoid (camdemo.inside.parameterization)
OBJECTIVES = ("channel", "neuron", "class")
STANDARD_ROBUSTNESS = Robustness()  # Lucid's standard transforms


@dataclass(frozen=True)
class ActivationImage:
    """What ``maximize_activation`` returns: the synthesized image and what it excites, how much."""

    image: np.ndarray  # H×W×3 uint8
    backbone: str
    layer: str  # a layer name, or "logits" for a class score
    channel: int  # the channel (or, at "logits", the class index)
    objective: str  # "channel" (mean over positions), "neuron" (the center position) or "class" (the logit)
    value: float  # the objective on ``image`` as returned (uint8, no transform)
    start_value: float  # the objective on the starting noise
    steps: int
    seed: int
    seconds: float


def maximize_activation(*, backbone: str = DEFAULT_BACKBONE, layer: str | None = None, channel: int = 0,
                        neuron: bool = False, class_index: int | None = None, steps: int = DEFAULT_STEPS,
                        size: int = DEFAULT_SIZE, seed: int = 0, learning_rate: float = DEFAULT_LEARNING_RATE,
                        device: torch.device | str | None = None, progress: Progress | None = None) -> ActivationImage:
    """Synthesize the ``size``×``size`` image that most excites ``channel`` of ``layer`` (``None``: the backbone's
    last spatial layer), its center position only with ``neuron=True``, or the logit of ``class_index``.

    ``steps`` of Adam at ``learning_rate`` on a decorrelated Fourier image with random jitter, scale and
    rotation at each step; seeded by ``seed`` (the same on the CPU every time). ``progress(fraction, text)`` is
    called about 50 times; raising ``camdemo.Cancelled`` there stops the run and leaves the model as it was.
    ``CamdemoError`` for an unknown layer, a channel out of range or steps or size out of bounds.
    """
    if class_index is not None:
        if layer not in (None, LOGITS):
            raise CamdemoError(f"A class score is read at the model's output, not at '{layer}': leave the layer "
                               "out (or set it to 'logits') with class_index.")
        layer, channel = LOGITS, class_index
    found = probe(backbone, layer)
    objective = "class" if found.layer == LOGITS else "neuron" if neuron else "channel"
    (result,) = maximize_channels(found, [channel], objective=objective, steps=steps, size=size, seed=seed,
                                  learning_rate=learning_rate, progress=progress)
    return result


def maximize_channels(found: Probe, channels: list[int], *, objective: str = "channel", steps: int = DEFAULT_STEPS,
                      size: int = DEFAULT_SIZE, seed: int = 0, learning_rate: float = DEFAULT_LEARNING_RATE,
                      robustness: Robustness = STANDARD_ROBUSTNESS,
                      progress: Progress | None = None) -> list[ActivationImage]:
    """``maximize_activation`` for several channels of one layer at once, one image each, in one batch (the
    precomputed gallery uses this). Each image optimizes its own channel; the seed draws all of them."""
    steps = check_count(steps, 1, MAX_STEPS, "number of steps")
    size = check_count(size, MIN_SIZE, MAX_SIZE, "image size")
    learning_rate = check_positive(learning_rate, 10.0, "learning rate")
    seed = check_count(seed, 0, 2**32 - 1, "seed")
    if objective not in OBJECTIVES:
        raise CamdemoError(f"Unknown objective '{objective}'. Choose one of: {', '.join(OBJECTIVES)}.")
    count = layer_channels(found)
    what = "class" if found.layer == LOGITS else "channel"
    channels = [check_count(channel, 0, count - 1, f"{what} of '{found.layer}' ({found.spec.title})")
                for channel in channels]
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    image = FourierImage(len(channels), size, size, generator=generator, device=found.device, contrast=CONTRAST)
    optimizer = torch.optim.Adam(image.parameters, lr=learning_rate)
    index = torch.tensor(channels, device=found.device)
    with found.reader() as read:
        def score(rgb01: torch.Tensor) -> torch.Tensor:
            return objective_values(read(found.normalize(rgb01)), index, objective)

        with torch.no_grad():
            start = score(image.rgb())
        for step in range(1, steps + 1):
            optimizer.zero_grad(set_to_none=True)
            values = score(robustness.apply(image.rgb(), generator))
            (-values.sum()).backward()
            optimizer.step()
            if progress is not None:
                report(progress, step, steps, f"Step {step} of {steps}: activation {values.detach().mean().item():.3g}")
        with torch.no_grad():
            pictures = to_uint8(image.rgb())
            final = score(torch.from_numpy(np.stack(pictures)).to(found.device).permute(0, 3, 1, 2).float() / 255)
    seconds = time.perf_counter() - started
    return [ActivationImage(picture, found.spec.name, found.layer, channel, objective, float(value),
                            float(first), steps, seed, seconds)
            for picture, channel, value, first in zip(pictures, channels, final.tolist(), start.tolist())]


def objective_values(activation: torch.Tensor, channels: torch.Tensor, objective: str) -> torch.Tensor:
    """One value per image: image i's channel ``channels[i]``, averaged over positions ("channel"), at the center
    ("neuron"), or the logit itself ("class", ``activation`` being N×classes)."""
    rows = torch.arange(activation.shape[0], device=activation.device)
    if activation.dim() == 2:
        return activation[rows, channels]
    picked = activation[rows, channels]  # N×h×w
    if objective == "neuron":
        return picked[:, picked.shape[1] // 2, picked.shape[2] // 2]
    return picked.mean(dim=(1, 2))
