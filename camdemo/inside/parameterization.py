"""The image being optimized, described by a decorrelated Fourier spectrum (Olah, Mordvintsev & Schubert,
"Feature Visualization", Distill 2017, section "Preconditioning and parameterization").

Optimizing pixels directly lets gradient ascent fill the image with high-frequency patterns the network
reacts to but a person cannot read. Instead the image is

    x = σ(M · irfft2(s ⊙ S) / 4)            s(f) = 1 / max(|f|, 1/max(H, W)) · √(H·W)

where S is a complex spectrum (the parameters), ``s`` scales each frequency by 1/frequency so that every
frequency starts with the same energy as in natural images (whitening the gradient), ``M`` is the square root
of ImageNet's color covariance (so steps move along decorrelated colors), and σ keeps pixels in [0, 1]. The
constants (``COLOR_CORRELATION_SVD_SQRT``, the 0.01 initial spread and the division by 4) are Lucid's.
"""

from __future__ import annotations

import numpy as np
import torch

# Lucid's square root of ImageNet's color correlation (by SVD), its columns scaled to at most unit norm.
COLOR_CORRELATION_SVD_SQRT = np.asarray([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOR_MIXING = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
INITIAL_SPREAD = 0.01


def frequency_scale(height: int, width: int, decay: float = 1.0) -> torch.Tensor:
    """s(f) = √(H·W) / max(|f|, 1/max(H, W))^decay for the rfft2 frequencies of an H×W image (H×(W//2+1))."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequency = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(frequency, 1.0 / max(height, width)) ** decay
    return torch.from_numpy((scale * np.sqrt(height * width)).astype(np.float32))


class FourierImage:
    """``batch`` images of ``height``×``width``, parameterized by a decorrelated, 1/f-scaled spectrum.

    ``parameters`` is what an optimizer updates; ``rgb()`` is the N×3×H×W image in [0, 1], starting from a
    seeded random spectrum (``generator``).
    """

    def __init__(self, batch: int, height: int, width: int, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu", decay: float = 1.0, contrast: float | None = None):
        self.height, self.width, self.contrast = height, width, contrast
        self.scale = frequency_scale(height, width, decay).to(device)
        self.mixing = torch.from_numpy(COLOR_MIXING).to(device)
        spectrum = torch.randn((batch, 3, height, width // 2 + 1, 2), generator=generator) * INITIAL_SPREAD
        self.spectrum = spectrum.to(device).requires_grad_(True)

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def rgb(self) -> torch.Tensor:
        """x = σ(M · irfft2(s ⊙ S) / 4), or σ(k · standardized) with a fixed contrast: N×3×H×W in (0, 1)."""
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        decorrelated = torch.fft.irfft2(spectrum, s=(self.height, self.width), norm="ortho") / 4.0
        mixed = torch.einsum("ij,njhw->nihw", self.mixing, decorrelated)
        if self.contrast is not None:
            centered = mixed - mixed.mean(dim=(1, 2, 3), keepdim=True)
            mixed = self.contrast * centered / (centered.std(dim=(1, 2, 3), keepdim=True) + 1e-8)
        return torch.sigmoid(mixed)


class PixelImage:
    """``batch`` images described pixel by pixel: x = σ(p), p starting at faint seeded noise.

    The plain parameterization of Mahendran & Vedaldi (2015), whose natural-image prior is an explicit
    total-variation term; the sigmoid bounds every pixel to (0, 1), in place of their α-norm bound.
    """

    def __init__(self, batch: int, height: int, width: int, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu"):
        logits = torch.randn((batch, 3, height, width), generator=generator) * 0.1
        self.logits = logits.to(device).requires_grad_(True)

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [self.logits]

    def rgb(self) -> torch.Tensor:
        """x = σ(p): N×3×H×W in (0, 1)."""
        return torch.sigmoid(self.logits)
