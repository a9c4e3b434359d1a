"""ShapesGapNet: a small all-convolutional network ending in global average pooling and one linear layer.

Made for the cluttered-shapes data set (``camdemo.teaching.scenes``), after the CAM paper's LeNet with its
fully connected layers replaced by GAP. With GAP → linear as the head, CAM is exact, and the
12×12 last feature map (stride 8 on a 96×96 input) localizes shapes finely.

    stem (conv s2) 48² → block1 48² → pool 24² → block2 24² → pool 12² → features 12² → pool → classifier
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU())


class ShapesGapNet(nn.Module):
    """conv → … → ``features`` (96×12×12) → GAP → ``classifier`` (linear, one logit per shape class)."""

    def __init__(self, num_classes: int = 8, width: int = 32):
        super().__init__()
        self.stem = _conv(3, width // 2, stride=2)
        self.block1 = nn.Sequential(_conv(width // 2, width), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(_conv(width, 2 * width), _conv(2 * width, 2 * width), nn.MaxPool2d(2))
        self.features = nn.Sequential(_conv(2 * width, 3 * width), _conv(3 * width, 3 * width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(3 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.block2(self.block1(self.stem(x))))
        return self.classifier(torch.flatten(self.pool(x), 1))
