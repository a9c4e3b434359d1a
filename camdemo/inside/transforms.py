"""Random robustness transforms applied to the image before each step (Olah et al., "Feature Visualization",
Distill 2017, "Transformation robustness"): an image that still excites the channel when it is shifted, scaled
and rotated a little cannot rely on single-pixel patterns, so what it shows is readable.

Lucid's standard set, in pixels of a 224-pixel image and scaled with the image's size: pad by 12 (gray),
jitter by up to 8, scale by 0.9 to 1.1, rotate by −10° to 10°, jitter by up to 4. Scale and rotation are one
bilinear resampling (``affine_grid``); jitter is a shifted crop. Every draw comes from the caller's
``torch.Generator``, so a seed gives the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

REFERENCE_SIDE = 224  # the image side Lucid's pixel amounts were chosen for


@dataclass(frozen=True)
class Robustness:
    """How far each random transform may go, in pixels of a 224-pixel image (scaled to the image's side)."""

    pad: int = 12
    jitter: int = 8
    scale: tuple[float, float] = (0.9, 1.1)
    degrees: float = 10.0
    jitter_after: int = 4

    def apply(self, rgb01: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """N×3×H×W in [0, 1] → the same images padded, jittered, scaled, rotated and jittered again (each image
        of the batch gets its own draw); the result is (H + 2·pad − jitter − jitter_after) pixels a side."""
        side = max(rgb01.shape[-2:])
        ratio = side / REFERENCE_SIDE
        pad, jitter, after = (max(0, round(amount * ratio)) for amount in (self.pad, self.jitter, self.jitter_after))
        image = F.pad(rgb01, (pad,) * 4, value=0.5)
        image = random_crop(image, jitter, generator)
        image = random_affine(image, self.scale, self.degrees, generator)
        return random_crop(image, after, generator)


def random_crop(images: torch.Tensor, jitter: int, generator: torch.Generator) -> torch.Tensor:
    """Each image cropped by ``jitter`` pixels in total per axis, at a random offset: a shift of up to ``jitter``."""
    if jitter <= 0:
        return images
    height, width = images.shape[-2] - jitter, images.shape[-1] - jitter
    offsets = torch.randint(0, jitter + 1, (images.shape[0], 2), generator=generator).tolist()
    return torch.stack([image[:, y:y + height, x:x + width] for image, (y, x) in zip(images, offsets)])


def random_affine(images: torch.Tensor, scale: tuple[float, float], degrees: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Each image scaled by a factor in ``scale`` and rotated by up to ±``degrees`` about its center (bilinear,
    borders from the edge)."""
    count = images.shape[0]
    factors = scale[0] + (scale[1] - scale[0]) * torch.rand(count, generator=generator)
    angles = (torch.rand(count, generator=generator) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(angles) / factors, torch.sin(angles) / factors
    zeros = torch.zeros(count)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
