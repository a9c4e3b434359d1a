"""The explanation methods, by registry name, in the order the UI lists them."""

from __future__ import annotations

from ..errors import CamdemoError
from .base import ChannelWeightedMethod, LayerForward, Method, RawMap, Target, choose_class, choose_classes
from .options import Option
from .cam import CAM
from .deconvnet import DeConvNet
from .deeplift import DeepLift
from .eigencam import EigenCAM
from .gradcam import GradCAM
from .gradcam_variants import GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from .input_gradients import GuidedBackprop, GuidedGradCAM, InputAttributionMethod, InputXGradient, IntegratedGradients
from .lrp import LRP, DeepTaylor
from .occlusion import Occlusion
from .patternnet import PatternAttribution, PatternNet
from .saliency import Saliency
from .scorecam import ScoreCAM
from .smoothgrad import SmoothGrad

METHODS: dict[str, Method] = {method.name: method for method in (
    CAM(), GradCAM(), GradCAMPlusPlus(), XGradCAM(), LayerCAM(), HiResCAM(), ScoreCAM(), EigenCAM(),
    Saliency(), SmoothGrad(), InputXGradient(), IntegratedGradients(), GuidedBackprop(), GuidedGradCAM(),
    Occlusion(), DeConvNet(), PatternNet(), LRP(), DeepTaylor(), DeepLift(), PatternAttribution(),
)}


def get_method(name: str) -> Method:
    """The method registered as ``name``; ``CamdemoError`` listing the valid names if unknown."""
    try:
        return METHODS[name]
    except KeyError:
        raise CamdemoError(f"Unknown method '{name}'. Choose one of: {', '.join(METHODS)}.") from None


__all__ = ["CAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM", "HiResCAM", "ScoreCAM", "EigenCAM", "Saliency",
           "SmoothGrad", "InputXGradient", "IntegratedGradients", "GuidedBackprop", "GuidedGradCAM", "Occlusion",
           "DeConvNet", "LRP", "DeepTaylor", "DeepLift", "PatternNet", "PatternAttribution",
           "InputAttributionMethod", "Method", "Option", "ChannelWeightedMethod", "LayerForward", "RawMap", "Target",
           "METHODS", "get_method", "choose_class", "choose_classes"]
