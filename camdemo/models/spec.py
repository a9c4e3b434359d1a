"""What camdemo knows about a backbone before loading it: ``BackboneSpec``, and how to feed it an image."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Callable, Literal

import cv2
import numpy as np
import torch
from torch import nn
from torchvision.models import _meta as torchvision_meta

from ..errors import CamdemoError

IMAGENET_CATEGORIES: tuple[str, ...] = tuple(torchvision_meta._IMAGENET_CATEGORIES)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained in TensorFlow on (pixel - 127) / 128, i.e. roughly [-1, 1];
# docs/backbones.md, "Input normalization", explains how this was measured.
TF_LITE_MEAN = (127.0 / 255.0,) * 3
TF_LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class GapLinearHead:
    """Where CAM applies: ``classifier(pool(activation(layer output)))`` is the model's logit vector."""

    layer: str
    classifier: str
    relu_before_pool: bool = False  # DenseNet applies F.relu between its features and the pooling


OutputKind = Literal["softmax", "multilabel", "binary", "regression"]
OUTPUT_KINDS: dict[str, str] = {  # what each kind of output means, for messages and docs
    "softmax": "one score per class, exclusive classes (probabilities by softmax)",
    "multilabel": "one logit per label, labels independent (probabilities by a sigmoid each)",
    "binary": "one logit, positive versus negative (probability by a sigmoid)",
    "regression": "one or more real-valued outputs (no probabilities)",
}


@dataclass(frozen=True)
class BackboneSpec:
    """Everything camdemo knows about one backbone before any weights are loaded.

    A model of the user's own (``camdemo.wrap_model``) is a spec with ``module`` set: that module is used as
    it is (never copied, frozen, put in eval mode for longer than a call, or moved), and its layers were found
    when it was wrapped (``known_layers``).
    """

    name: str
    title: str
    build: Callable[[], nn.Module]
    weights_file: Callable[[], str | None]  # local path of the weights, or None when not on disk
    weights_url: str | None  # where torchvision downloads them from; None for packaged weights
    input_size: int
    mean: tuple[float, ...]  # one per input channel
    std: tuple[float, ...]
    layer_names: Callable[[nn.Module], list[str]]  # most useful (last stage) first
    cam_head: GapLinearHead | None
    cam_unavailable: str | None = None  # why CAM does not apply, when cam_head is None
    categories: tuple[str, ...] = IMAGENET_CATEGORIES
    note: str = ""
    # renames a published state dict's keys
    convert_weights: Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
    install_hint: str = ""  # how to get packaged weights when the file is missing
    repair_hint: str = ""  # how to replace packaged weights when the file is damaged (torchvision's: how_to_repair)
    weights_size: Callable[[], int | None] | None = None  # the file's size in bytes as installed, when known
    channels: int = 3  # 3: RGB; 1: gray (a photo is converted by its luma, ITU-R BT.601)
    output_kind: OutputKind = "softmax"
    module: nn.Module | None = None  # a user's own model, used as it is (see the class docstring)
    known_layers: tuple[Any, ...] | None = None  # LayerInfo of a user's model, found when it was wrapped
    # A model of data that is not a photo: the shape of one example, (H, W) a matrix, (C, H, W) a stack, (L,) a
    # signal. Inputs are used as they are (no resizing, no normalization); other sizes of the same rank are fine.
    data_shape: tuple[int, ...] | None = None
    report: Any = None  # a user's model: its pre-flight ``ModelReport`` (camdemo.models.preflight), from wrapping

    def data_tensor(self, values: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """A data model's input from ``values`` (rank checked): 1×1×H×W for a matrix, 1×C×H×W for a stack, and
        1×1×1×L for a signal (camdemo's methods see a signal as a one-row map)."""
        assert self.data_shape is not None
        rank = len(self.data_shape)
        if values.ndim != rank:
            kinds = {1: "a signal (L values)", 2: "a matrix (H × W)", 3: "a stack (C × H × W)"}
            raise CamdemoError(f"{self.title} reads {kinds[rank]}; this input has shape {tuple(values.shape)}.")
        if rank == 3 and values.shape[0] != self.data_shape[0]:
            raise CamdemoError(f"{self.title} reads {self.data_shape[0]} channels; this stack has {values.shape[0]} "
                               f"(shape {tuple(values.shape)}, read as C × H × W).")
        tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(device)
        return tensor.reshape((1,) * (4 - tensor.dim()) + tuple(tensor.shape)) if rank != 3 else tensor[None]

    @property
    def offline(self) -> bool:
        """True when the weights are on this machine and not known to be damaged (see ``weights_status``)."""
        from .weights import weights_status

        return weights_status(self).state == "ready"

    def preprocess(self, rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """Resize the whole image to the model's square input and normalize it: a 1×3×S×S float tensor.

        The whole image is resized (no crop), so a heatmap over the input maps back onto every
        pixel of the original by resizing alone.
        """
        return self.normalize(self.model_pixels(rgb), device)

    def model_pixels(self, rgb: np.ndarray) -> np.ndarray:
        """The image resized to the model's S×S input, still uint8 and on the host."""
        size = self.input_size
        height, width = rgb.shape[:2]
        interpolation = cv2.INTER_AREA if height * width > size * size else cv2.INTER_LINEAR
        return cv2.resize(rgb, (size, size), interpolation=interpolation)

    def normalize(self, pixels: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """S×S×3 uint8 → 1×C×S×S normalized float; the uint8 pixels go to the device (4× fewer bytes).
        For a 1-channel model the image is first turned gray: 0.299 R + 0.587 G + 0.114 B."""
        tensor = torch.from_numpy(pixels).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        if self.channels == 1:
            luma = torch.tensor((0.299, 0.587, 0.114), device=device).view(1, 3, 1, 1)
            tensor = (tensor * luma).sum(dim=1, keepdim=True)
        mean = torch.tensor(self.mean, device=device).view(1, self.channels, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, self.channels, 1, 1)
        return (tensor - mean) / std

    def constant_input(self, level: int, device: torch.device | str = "cpu",
                       like: torch.Tensor | None = None) -> torch.Tensor:
        """The model input (1×C×S×S) of a uniform image of gray ``level`` (0 = black, 255 = white):
        the baseline of Integrated Gradients, occlusion and the deletion curve. For a data model, the constant
        level / 255 in the data's own units (0, about 0.5, 1), shaped like the input ``like``."""
        if self.data_shape is not None:
            assert like is not None
            return torch.full_like(like[:1], level / 255.0)
        return self.preprocess(np.full((self.input_size, self.input_size, 3), level, np.uint8), device)


WeightsState = Literal["ready", "missing", "damaged"]


@dataclass(frozen=True)
class BackboneInfo:
    """What ``camdemo.backbones()`` reports about one backbone."""

    name: str
    title: str
    input_size: int
    ready_offline: bool  # the weights are here and intact as far as known (weights_state == "ready")
    note: str
    num_classes: int = field(default=1000)
    weights_state: WeightsState = "missing"  # ready, missing (downloads on first use) or damaged
    repair: str = ""  # how to repair damaged weights
    data_shape: tuple[int, ...] | None = None  # a model of matrices or signals: one example's shape (BackboneSpec)
