"""Two small GAP networks for data that is not a photo: one input channel of floats, no resizing.

Both end in ``features`` → global average pooling → ``classifier`` (one linear layer), so CAM is exact
at ``features``. Their input is N×1×H×W float32 as the generators make it (values in [0, 1]), with no
normalization: what the generator returns is what the network sees.

* ``DigitsGapNet``: LeNet-style (conv → ReLU → pool, twice: 5×5 then 3×3) with the fully connected layers
  replaced by 3×3 convs and GAP, as in the CAM paper's cluttered-MNIST network; 60×60 canvases, 15×15 map.
* ``BeamGapNet``: pools over time only, so its 64×8 map keeps every frequency row, and looks at most two rows
  up and down (two 3×3 convolutions, then 1×3 ones), so each row of the map speaks for its own frequency. Global pooling
  forgets *where* a pattern was, but on a spectrogram the row *is* the frequency, and "a peak at 224 Hz"
  (healthy) and "a peak at 215 Hz" (damaged) look alike locally. So the network appends the row's
  frequency as a second input plane before its first convolution (CoordConv, Liu et al. 2018, "An
  intriguing failing of convolutional neural networks and the CoordConv solution").
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import CamdemoError


def _conv(in_ch: int, out_ch: int, kernel: int | tuple[int, int] = 3) -> nn.Sequential:
    rows, columns = (kernel, kernel) if isinstance(kernel, int) else kernel
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, (rows, columns), padding=(rows // 2, columns // 2), bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU())


def _check_input(x: torch.Tensor, rows: int | None = None) -> None:
    if x.dim() != 4 or x.shape[1] != 1:
        raise CamdemoError(f"This network takes N×1×H×W float matrices; got a tensor of shape {tuple(x.shape)}.")
    if rows is not None and x.shape[2] != rows:
        raise CamdemoError(f"This network takes matrices of {rows} rows (frequency bins); got {x.shape[2]}.")


class DigitsGapNet(nn.Module):
    """conv5 → pool → conv3 → pool → ``features`` (conv3, 64×15×15 on a 60×60 canvas) → GAP → ``classifier``."""

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.block1 = nn.Sequential(_conv(1, width // 2, 5), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(_conv(width // 2, width), nn.MaxPool2d(2))
        self.features = nn.Sequential(_conv(width, 2 * width), _conv(2 * width, 2 * width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x)
        return self.classifier(torch.flatten(self.pool(self.features(self.block2(self.block1(x)))), 1))


class BeamGapNet(nn.Module):
    """[matrix, row frequency] → conv → pool over time → … → ``features`` (rows × columns/8) → GAP → ``classifier``."""

    def __init__(self, num_classes: int = 3, rows: int = 64, width: int = 16):
        super().__init__()
        self.rows = rows
        # the frequency of each row, 0 (0 Hz) to 1 (the top row), as a second input plane; not a learned weight
        self.register_buffer("row_frequency", torch.linspace(0.0, 1.0, rows).view(1, 1, rows, 1), persistent=False)
        self.block1 = nn.Sequential(_conv(2, width), nn.MaxPool2d((1, 4)))
        self.block2 = nn.Sequential(_conv(width, 2 * width), nn.MaxPool2d((1, 2)))
        # 1×3 kernels from here on: each row of the map sees only rows r − 2 … r + 2 of the input, so CAM's rows
        # can be as sharp as the frequency bins (with 3×3 kernels throughout, the map smeared over ±4 rows)
        self.features = nn.Sequential(_conv(2 * width, 2 * width, (1, 3)), _conv(2 * width, 3 * width, (1, 3)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(3 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.rows)
        row_frequency: torch.Tensor = self.row_frequency  # type: ignore[assignment]  # a buffer, not a module
        coordinates = row_frequency.to(x.dtype).expand(x.shape[0], 1, self.rows, x.shape[3])
        x = self.block2(self.block1(torch.cat([x, coordinates], dim=1)))
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
