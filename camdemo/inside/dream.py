"""Deep Dream: amplify what a layer sees in the user's image (Mordvintsev, Olah & Tyka, "Inceptionism: Going
Deeper into Neural Networks", Google Research blog, 2015, and their deepdream notebook).

Gradient *ascent* on the image itself, on the layer's activation energy E(x) = ½ · mean(A_ℓ(x)²), with the
notebook's three devices:

* normalized steps, x ← x + η · g / mean|g| with g = ∂E/∂x, so the step size is the same at every layer;
* jitter, the image rolled by a random shift before each step and rolled back after (no grid artifacts);
* octaves, the image processed from small to large (each ``octave_scale`` times larger), the detail added at
  one scale carried up to the next, so patterns grow at several sizes.

Pixels stay in [0, 1]; the result has the image's aspect ratio, its longer side at most ``max_side``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CamdemoError
from ..images import ImageInput, load_image
from ..models import DEFAULT_BACKBONE
from ..models.layers import list_layers
from .probe import MAX_SIZE, Progress, check_count, check_positive, probe, to_uint8

DEFAULT_OCTAVES = 3
DEFAULT_STEPS = 10  # per octave
DEFAULT_OCTAVE_SCALE = 1.4
DEFAULT_STEP_SIZE = 0.012  # in [0, 1] pixel units, per step (the notebook's 1.5 of 255 is 0.006; fewer steps here)
DEFAULT_MAX_SIDE = 512
JITTER = 32  # pixels at 512 a side (the notebook's), scaled with the image
MIN_OCTAVE_SIDE = 32


@dataclass(frozen=True)
class Dream:
    """What ``deep_dream`` returns."""

    image: np.ndarray  # H×W×3 uint8, the dreamed image
    original: np.ndarray  # H×W×3 uint8, the user's image at the same size
    backbone: str
    layer: str
    octaves: int
    steps: int  # per octave
    value: float  # ½ · mean(A²) at the layer for ``image``
    start_value: float  # the same for ``original``
    seed: int
    seconds: float


def default_dream_layer(backbone: str) -> str:
    """A middle layer: patterns and parts (eyes, fur, wheels) rather than edges or whole objects."""
    names = [info.name for info in list_layers(backbone)]
    return names[len(names) // 2]


def deep_dream(image: ImageInput, *, backbone: str = DEFAULT_BACKBONE, layer: str | None = None,
               octaves: int = DEFAULT_OCTAVES, steps: int = DEFAULT_STEPS, step_size: float = DEFAULT_STEP_SIZE,
               octave_scale: float = DEFAULT_OCTAVE_SCALE, max_side: int = DEFAULT_MAX_SIDE, seed: int = 0,
               device: torch.device | str | None = None, progress: Progress | None = None) -> Dream:
    """Dream ``image`` at ``layer`` (``None``: a middle layer of ``backbone``): ``steps`` normalized gradient-ascent
    steps at each of ``octaves`` scales, the largest ``max_side`` pixels on its longer side.

    ``progress(fraction, text)`` is called at every step; raising ``camdemo.Cancelled`` there stops it and leaves
    the model as it was. ``CamdemoError`` for a bad image, an unknown layer or settings out of bounds.
    """
    octaves = check_count(octaves, 1, 8, "number of octaves")
    steps = check_count(steps, 1, 200, "number of steps per octave")
    step_size = check_positive(step_size, 1.0, "step size")
    octave_scale = check_positive(octave_scale, 4.0, "octave scale")
    if octave_scale <= 1.0:
        raise CamdemoError(f"The octave scale must be above 1 (each octave larger); {octave_scale!r} was given.")
    max_side = check_count(max_side, 64, MAX_SIZE, "largest side")
    seed = check_count(seed, 0, 2**32 - 1, "seed")
    found = probe(backbone, layer or default_dream_layer(backbone), device)
    started = time.perf_counter()
    base = _fitted(load_image(image), max_side)
    original = torch.from_numpy(base).to(found.device).permute(2, 0, 1)[None].float() / 255
    sizes = _octave_sizes(original.shape[-2:], octaves, octave_scale)
    generator = torch.Generator().manual_seed(seed)
    total, done = len(sizes) * steps, 0
    detail = torch.zeros(1, 3, *sizes[0], device=found.device)
    with found.reader() as read:
        def energy(rgb01: torch.Tensor) -> torch.Tensor:
            return 0.5 * read(found.normalize(rgb01)).pow(2).mean()

        for octave, size in enumerate(sizes):
            octave_base = F.interpolate(original, size=size, mode="bilinear", align_corners=False, antialias=True)
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            dreamed = (octave_base + detail).clamp(0, 1)
            jitter = max(1, round(JITTER * max(size) / DEFAULT_MAX_SIDE))
            for _ in range(steps):
                dreamed = _step(dreamed, energy, step_size, jitter, generator)
                done += 1
                if progress is not None:
                    progress(done / total, f"Octave {octave + 1} of {len(sizes)} ({size[1]}×{size[0]}), "
                                           f"step {done} of {total}")
            detail = dreamed - octave_base
        with torch.no_grad():
            picture = to_uint8(dreamed)[0]
            value = energy(torch.from_numpy(picture).to(found.device).permute(2, 0, 1)[None].float() / 255)
            start = energy(original)
    return Dream(picture, base, found.spec.name, found.layer, len(sizes), steps, float(value), float(start), seed,
                 time.perf_counter() - started)


def _step(rgb01: torch.Tensor, energy, step_size: float, jitter: int, generator: torch.Generator) -> torch.Tensor:
    """One jittered, normalized ascent step: x ← roll⁻¹(roll(x) + η · g / mean|g|), clipped to [0, 1]."""
    dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()
    shifted = torch.roll(rgb01, shifts=(dy, dx), dims=(-2, -1)).requires_grad_(True)
    (gradient,) = torch.autograd.grad(energy(shifted), shifted)
    stepped = shifted.detach() + step_size * gradient / gradient.abs().mean().clamp_min(1e-12)
    return torch.roll(stepped, shifts=(-dy, -dx), dims=(-2, -1)).clamp(0, 1)


def _fitted(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """``rgb`` shrunk (area averaging) so that its longer side is at most ``max_side``; never enlarged."""
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


def _octave_sizes(full: torch.Size, octaves: int, scale: float) -> list[tuple[int, int]]:
    """The (height, width) of each octave, smallest first; octaves smaller than 32 pixels a side are left out."""
    height, width = int(full[0]), int(full[1])
    sizes: list[tuple[int, int]] = []
    for octave in range(octaves):
        factor = scale ** octave
        size = (round(height / factor), round(width / factor))
        if min(size) < MIN_OCTAVE_SIDE and sizes:
            break
        sizes.append(size)
    return sizes[::-1]
