"""Tiny networks for tests: hand-set weights whose maps can be worked out on paper, and small random ones.

The hand-computed tests use ``TinyGapNet`` on ``TINY_INPUT`` = [[1, 2], [3, 4]]: features f1 = x,
f2 = ReLU(0.5x − 1) = [[0, 0], [0.5, 1]], logits y = W · mean(f) + b with W = [[2, −1], [−1, 3]],
b = [0.1, −0.2]. For class 0, ∂y0/∂f = (0.5, −0.25) at every position; for class 1, (−0.25, 0.75).
"""

from __future__ import annotations

import torch
from torch import nn

from camdemo.models import GapLinearHead


def tiny_input() -> torch.Tensor:
    """x = [[1, 2], [3, 4]] as a 1×1×2×2 batch."""
    return torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)


TINY_HEAD = GapLinearHead("features", "fc")  # the head of every network here that has one


class TinyGapNet(nn.Module):
    """1-channel input → features (1×1 conv with bias, ReLU) with 2 channels → GAP → linear, 2 classes.

    Weights are set by hand so that tests can state the expected maps in closed form.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, kernel_size=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, 0.5]).view(2, 1, 1, 1))
            self.features[0].bias.copy_(torch.tensor([0.0, -1.0]))
            self.fc.weight.copy_(torch.tensor([[2.0, -1.0], [-1.0, 3.0]]))
            self.fc.bias.copy_(torch.tensor([0.1, -0.2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class FlattenHeadNet(nn.Module):
    """The same features, then flatten → linear: gradients now differ per position, unlike a GAP head."""

    def __init__(self, gap_net: TinyGapNet) -> None:
        super().__init__()
        self.features = gap_net.features
        self.fc = nn.Linear(8, 1, bias=False)
        with torch.no_grad():  # channel 1: [[1,0],[0,1]], channel 2: [[2,2],[0,0]]
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 0.0, 0.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


class SignedFeaturesNet(nn.Module):
    """1-channel input → features (1×1 conv, no activation): f1 = x, f2 = x − 2.5 → flatten → linear, 1 class.

    On x = [[1, 2], [3, 4]], f2 = [[−1.5, −0.5], [0.5, 1.5]]: Σ f2 = 0 (a zero-sum channel), Σ|f2| = 4.
    The linear weights give y = f1(0,0) + f1(1,1) + f2(1,1), so g1 = [[1, 0], [0, 1]], g2 = [[0, 0], [0, 1]].
    """

    def __init__(self, shift: float = 0.0) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 2, kernel_size=1)
        self.fc = nn.Linear(8, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, 1.0]).view(2, 1, 1, 1))
            self.features.bias.copy_(torch.tensor([0.0, -2.5 + shift]))
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


class RedDetector(nn.Module):
    """features = red channel (1×1 conv) at half resolution → GAP → linear: CAM of class 0 is the redness map."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 1, 1, bias=False), nn.AvgPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))
            self.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class RegionModel(nn.Module):
    """Class 0's logit is 20 · (mean of the input over an 8×8 region − 0.5); class 1's is 0.

    Only the region matters, so the perfect ("oracle") map is the region's indicator.
    """

    def __init__(self) -> None:
        super().__init__()
        self.region = torch.zeros(1, 1, 32, 32)
        self.region[..., 4:12, 20:28] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inside = (x.mean(dim=1, keepdim=True) * self.region).sum(dim=(1, 2, 3)) / self.region.sum()
        score = 20.0 * (inside - 0.5)
        return torch.stack([score, torch.zeros_like(score)], dim=1)


class Exploding(nn.Module):
    """Raises in forward: an error in the middle of the network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


class SmallCNN(nn.Module):
    """conv-bn-ReLU ×3 (each ReLU its own module, not in place) → GAP → linear: what captum's hooks expect."""

    def __init__(self, classes: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in [(3, 8), (8, 16), (16, 24)]:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(24, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def seeded_small_cnn() -> SmallCNN:
    """``SmallCNN`` with seeded random weights and non-trivial batch-norm statistics, in eval mode.

    Its parameters require grad: pytorch-grad-cam needs a graph to backpropagate through.
    """
    torch.manual_seed(3)
    model = SmallCNN()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def random_gap_net(classes: int = 5) -> nn.Sequential:
    """Seeded random conv-ReLU ×2 (``features``) → GAP → linear (``fc``): a GAP network with no hand values."""
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                                               nn.ReLU()))
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc", nn.Linear(16, classes))
    return model.eval()


class FunctionalNet(nn.Module):
    """A course-project CNN: conv → ReLU done functionally, a 1-channel input, GAP by ``mean`` in ``forward``."""

    def __init__(self, channels: int = 1, outputs: int = 3) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.conv1 = nn.Conv2d(channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))
