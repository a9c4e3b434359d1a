"""The explanation methods, by registry name."""

from __future__ import annotations

from ..errors import CamdemoError
from .base import ChannelWeightedMethod, LayerForward, Method, RawMap, Target, choose_class, choose_classes
from .cam import CAM
from .gradcam import GradCAM
from .saliency import Saliency

METHODS: dict[str, Method] = {method.name: method for method in (CAM(), GradCAM(), Saliency())}


def get_method(name: str) -> Method:
    """The method registered as ``name``; ``CamdemoError`` listing the valid names if unknown."""
    try:
        return METHODS[name]
    except KeyError:
        raise CamdemoError(f"Unknown method '{name}'. Choose one of: {', '.join(METHODS)}.") from None


__all__ = ["CAM", "GradCAM", "Saliency", "Method", "ChannelWeightedMethod", "LayerForward", "RawMap", "Target", "METHODS",
           "get_method", "choose_class", "choose_classes"]
