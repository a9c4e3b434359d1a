"""Two small models of data with weights set by hand, so that their answers are known: a GAP CNN on 16 × 24
matrices and a Conv1d model on 128-sample signals. ``register()`` adds both as backbones; the app's test server
loads this module through ``CAMDEMO_EXTRA_MODELS=tests.helpers.data_models`` (``camdemo.app.extra_models``).

Both compute, per position, f₊ = ReLU(x) and f₋ = ReLU(−x) (a 1-tap convolution with weights +1 and −1), then
global average pooling and a linear layer that swaps them: output 0 ("low") = mean f₋ and output 1 ("high") =
mean f₊. So CAM or Grad-CAM of "high" is ReLU(x) / cells (up to a constant): the rows, columns and samples with the
largest positive values matter most.
"""

from __future__ import annotations

import torch
from torch import nn

import camdemo

MATRIX, SIGNAL = "test_matrix_net", "test_signal_net"
MATRIX_SHAPE, SIGNAL_SHAPE = (16, 24), (128,)
LABELS = ("low", "high")


class MatrixNet(nn.Module):
    """1×H×W → features (2 channels: ReLU(x), ReLU(−x), through a 3×3 conv with only its center tap) → GAP → fc."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.features[0].weight.zero_()
            self.features[0].weight[:, 0, 1, 1] = torch.tensor([1.0, -1.0])
            self.features[0].bias.zero_()
            self.fc.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class SignalNet(nn.Module):
    """1×L → the same two channels by a Conv1d → GAP → fc (a Conv1d model: no 2-D layer, so no CAM family)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(1, 2, 5, padding=2), nn.ReLU())
        self.fc = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.features[0].weight.zero_()
            self.features[0].weight[:, 0, 2] = torch.tensor([1.0, -1.0])
            self.features[0].bias.zero_()
            self.fc.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=2))


def matrix_spec() -> camdemo.BackboneSpec:
    return camdemo.wrap_model(MatrixNet().eval(), name=MATRIX, title="Test matrix net", data_shape=MATRIX_SHAPE,
                              labels=LABELS)


def signal_spec() -> camdemo.BackboneSpec:
    return camdemo.wrap_model(SignalNet().eval(), name=SIGNAL, title="Test signal net", data_shape=SIGNAL_SHAPE,
                              labels=LABELS)


def register() -> None:
    """Register both models (called by ``camdemo.app.extra_models`` for ``CAMDEMO_EXTRA_MODELS``)."""
    camdemo.register_backbone(matrix_spec())
    camdemo.register_backbone(signal_spec())
