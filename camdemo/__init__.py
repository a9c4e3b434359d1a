"""camdemo: see why an image classifier decided what it decided.

Public API (the web app uses exactly this). The image comes first; every setting after it is a keyword::

    import camdemo
    result = camdemo.explain("cat.jpg", backbone="efficientnet_lite0", method="gradcam")
    result.raw_map      # the method's map, at the layer's resolution (computed by explain)
    result.predictions  # top-5 (index, label, probability, output)
    result.heatmap      # float32 H×W in [0, 1], over the original image (drawn when first read)
    result.overlay      # uint8 H×W×3 in result.colormap at result.opacity (drawn when first read)
    result.restyled(colormap="jet", opacity=0.7, sign="both")  # another style, without running the network

    camdemo.backbones(), camdemo.layers("resnet50"), camdemo.methods("vgg16"), camdemo.class_names("vgg16")
    camdemo.methods()[i].options        # each method's declared settings (camdemo.Option): bounds, label, help
    camdemo.is_signed("smoothgrad", {"base": "integrated_gradients"})  # does the map keep its sign?
    camdemo.estimate_cost(backbone=..., method=..., options={...})     # passes and seconds, before it runs
    camdemo.explain_many(paths, backbone=..., method=..., batch_size=8)
    camdemo.faithfulness(result, increments=32)
    camdemo.compare_methods(image, backbone=..., methods=[...], layer=..., class_index=...)
    camdemo.layer_sweep(image, backbone=..., method=..., layers=[...])
    camdemo.cascading_randomization(image, backbone=..., methods=[...], randomizations=5)
    camdemo.gradcam_steps(image, backbone=..., layer=..., class_index=...)

Your own model (any ``torch.nn.Module``; layers and a GAP → linear head are found for you)::

    spec = camdemo.wrap_model(my_net, input_size=32, labels=["ant", "bee", "cat"])  # or output="binary", ...
    camdemo.explain("ant.jpg", model=spec, method="gradcam")        # versus=b: "why this class rather than b"
    camdemo.layers(spec)                                            # direction="down": what lowers the output
    module = camdemo.load_onnx("model.onnx")                        # an ONNX file, checked and converted

Data that is not a photo (used as it is: no resizing, no normalization; the map at the data's resolution)::

    spec = camdemo.wrap_model(net, data_shape=(64, 128))   # (H, W) matrix, (C, H, W) stack or (L,) signal
    result = camdemo.explain(camdemo.load_array("run.csv"), model=spec, method="gradcam")
    result.profiles().top_rows                              # which rows (and columns) matter
Looking inside the network (``camdemo.inside``)::

    camdemo.maximize_activation(backbone=..., layer=..., channel=..., steps=128, size=128, seed=0, progress=...)
    camdemo.reconstruct(image, backbone=..., layers=[...], steps=200)   # what each layer keeps
    camdemo.deep_dream(image, backbone=..., layer=..., octaves=3, steps=10)
    camdemo.channel_gallery("efficientnet_lite0")                     # the shipped images of strongest channels
    camdemo.inside_cost("maximize", backbone=..., steps=..., size=...)  # before it runs

Seams for extending camdemo:

* ``register_backbone(BackboneSpec(...))`` adds a backbone (``GapLinearHead`` names its GAP → linear head,
  which CAM needs); ``camdemo.teaching.backbone`` is a worked example.
* ``explain_on_model(model, image, backbone=..., method=...)`` explains a model of a registered architecture
  that is not the cached one (a fine-tuned or randomized copy), without the forward cache.
* ``clear_cache()`` forgets the cached forward passes that let CAM switch classes without running the network.
* ``camdemo.saving.write_result`` writes a result's files as the command line does.

Settings passed by position, and the old names ``steps`` (faithfulness, sanity check), ``method_names`` and
``layer_names``, still work for one release, with a ``DeprecationWarning``. Every problem a user can cause raises
``camdemo.CamdemoError`` with a message for people.
"""

from .api import DEFAULT_METHOD, clear_cache, explain, explain_many, explain_on_model
from .catalog import (METHOD_GROUPS, MethodInfo, backbones, check_model, class_names, is_signed, layers, methods,
                      wrap_model)
from .cost import Cost, estimate_cost, faithfulness_cost
from .devices import PRECISION_TOLERANCE, PRECISIONS, MapTolerance, default_device
from .drawing.overlay import COLORMAPS
from .errors import Cancelled, CamdemoError
from .evaluation.compare import DEFAULT_COMPARE_METHODS, Cell, compare_methods, layer_sweep, most_faithful
from .evaluation.faithfulness import Faithfulness, faithfulness
from .evaluation.sanity import DEFAULT_SANITY_METHODS, SanityStep, cascading_randomization
from .explainers.options import Option
from .explanation import Explanation, Prediction
from .images import load_image
from .inside import (ActivationImage, Dream, GalleryEntry, LayerReconstruction, Reconstruction, channel_gallery,
                     deep_dream, inside_cost, maximize_activation, reconstruct)
from .models import DEFAULT_BACKBONE, BackboneInfo, BackboneSpec, GapLinearHead, register_backbone
from .data import load_array, profiles
from .models.onnx_import import OnnxInput, load_onnx, onnx_input
from .models.layers import LayerInfo
from .models.preflight import ModelReport
from .teaching import backbone as _teaching_backbone  # noqa: F401  (registers shapes_gapnet)
from .teaching.steps import GradCAMSteps, gradcam_steps

__all__ = [
    "METHOD_GROUPS",
    "explain", "explain_many", "backbones", "layers", "methods", "class_names", "load_image", "default_device",
    "Explanation", "Prediction", "MethodInfo", "LayerInfo", "CamdemoError", "COLORMAPS",
    "DEFAULT_BACKBONE", "DEFAULT_METHOD", "faithfulness", "Faithfulness", "compare_methods", "layer_sweep",
    "cascading_randomization", "gradcam_steps", "PRECISIONS", "PRECISION_TOLERANCE",
    "MapTolerance", "Cancelled", "Cost", "estimate_cost",
    "explain_on_model", "clear_cache", "register_backbone", "BackboneSpec", "GapLinearHead",
    "is_signed", "Option", "faithfulness_cost", "Cell", "most_faithful", "SanityStep",
    "DEFAULT_COMPARE_METHODS", "DEFAULT_SANITY_METHODS", "BackboneInfo", "GradCAMSteps", "wrap_model",
    "load_array", "profiles", "check_model", "ModelReport",
    "maximize_activation", "ActivationImage", "reconstruct", "Reconstruction", "LayerReconstruction", "deep_dream",
    "Dream", "channel_gallery", "GalleryEntry", "inside_cost",
    "load_onnx", "onnx_input", "OnnxInput",
]
