"""camdemo: see why an image classifier decided what it decided.

Public API (the web app uses exactly this)::

    import camdemo
    result = camdemo.explain("cat.jpg", backbone="efficientnet_lite0", method="gradcam")
    result.heatmap      # float32 H×W in [0, 1], over the original image
    result.overlay      # uint8 H×W×3
    result.predictions  # top-5 (index, label, probability)

    camdemo.backbones(), camdemo.layers("resnet50"), camdemo.methods("vgg16")
    camdemo.faithfulness(result), camdemo.compare_methods(...), camdemo.cascading_randomization(...)

Every problem a user can cause raises ``camdemo.CamdemoError`` with a message for people.
"""

from .api import DEFAULT_METHOD, explain, explain_many
from .catalog import MethodInfo, backbones, class_names, layers, methods
from .cost import Cost, estimate_cost
from .devices import PRECISION_TOLERANCE, PRECISIONS, MapTolerance, default_device
from .drawing.overlay import COLORMAPS
from .errors import Cancelled, CamdemoError
from .evaluation.compare import compare_methods, layer_sweep
from .evaluation.faithfulness import Faithfulness, faithfulness
from .evaluation.sanity import cascading_randomization
from .explanation import Explanation, Prediction
from .images import load_image
from .models import DEFAULT_BACKBONE
from .models.layers import LayerInfo
from .teaching import backbone as _teaching_backbone  # noqa: F401  (registers shapes_gapnet)
from .teaching.steps import gradcam_steps

__all__ = [
    "explain", "explain_many", "backbones", "layers", "methods", "class_names", "load_image", "default_device",
    "Explanation", "Prediction", "MethodInfo", "LayerInfo", "CamdemoError", "COLORMAPS",
    "DEFAULT_BACKBONE", "DEFAULT_METHOD", "faithfulness", "Faithfulness", "compare_methods", "layer_sweep",
    "cascading_randomization", "gradcam_steps", "PRECISIONS", "PRECISION_TOLERANCE",
    "MapTolerance", "Cancelled", "Cost", "estimate_cost",
]
