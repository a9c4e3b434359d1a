"""ONNX models: ``camdemo.load_onnx`` gives the same maps as the PyTorch model it was exported from, and refuses
what a public server must not load, each with a sentence (too large, not ONNX, pickle, unsupported operators,
external data, over the time or memory of the conversion)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import camdemo
from camdemo.models import get_spec, load_model
from tests.helpers import ASSETS
from tests.helpers.onnx_files import export, external_data, unsupported_operators

SHAPES = ASSETS / "shapes_two.png"


@pytest.fixture(scope="module")
def shapes_onnx() -> bytes:
    return export(load_model("shapes_gapnet"), 96)


def wrapped(module: torch.nn.Module, backbone: str) -> camdemo.BackboneSpec:
    """``module`` wrapped with the built-in backbone's preprocessing and labels."""
    spec = get_spec(backbone)
    return camdemo.wrap_model(module, name="onnx", input_size=spec.input_size, channels=spec.channels, mean=spec.mean,
                              std=spec.std, labels=spec.categories)


def test_the_graph_says_its_input_and_outputs(shapes_onnx):
    """ShapesGapNet takes 1×3×96×96 and gives 8 scores; its graph says so."""
    declared = camdemo.onnx_input(shapes_onnx)
    assert (declared.channels, declared.input_size, declared.outputs, declared.input_name) == (3, 96, 8, "image")


@pytest.mark.parametrize("method", ["gradcam", "cam", "saliency"])
def test_an_exported_network_gives_the_built_in_map(shapes_onnx, method):
    """Same weights, same map: the ONNX round trip (BatchNorm folded into the convolutions by the exporter) changes
    the map by float rounding only. The default layer is the last ReLU of the features in both, and CAM finds
    the ONNX graph's GlobalAveragePool → Gemm head by itself."""
    image = str(SHAPES)
    own = wrapped(camdemo.load_onnx(shapes_onnx, isolate=False), "shapes_gapnet")
    built_in = camdemo.explain(image, backbone="shapes_gapnet", method=method, class_index=2)
    converted = camdemo.explain(image, model=own, method=method, class_index=2)
    assert converted.predictions[0].index == built_in.predictions[0].index
    assert np.abs(converted.heatmap - built_in.heatmap).max() < 1e-3
    if method == "cam":
        assert own.cam_head is not None and own.cam_head.layer == camdemo.layers(own)[0].name


@pytest.mark.slow
def test_efficientnet_lite0_through_onnx_gives_the_same_grad_cam(pair_image):
    """The real Lite0 (18 MB of float32 weights) exported, converted back, and explained: Grad-CAM at the head agrees
    with the built-in path to 1e-4 (5.7e-6 measured), on the cat-and-coffee photo, class espresso."""
    own = wrapped(camdemo.load_onnx(export(load_model("efficientnet_lite0"), 224), isolate=False),
                  "efficientnet_lite0")
    built_in = camdemo.explain(pair_image, backbone="efficientnet_lite0", class_index=967)
    converted = camdemo.explain(pair_image, model=own, class_index=967)
    assert np.abs(converted.heatmap - built_in.heatmap).max() < 1e-4


def test_a_file_over_the_limit_is_refused_before_it_is_parsed(shapes_onnx):
    with pytest.raises(camdemo.CamdemoError, match=r"at most 0 MB"):
        camdemo.load_onnx(shapes_onnx, max_bytes=1000, isolate=False)


@pytest.mark.parametrize("data", [b"\xff\xd8\xff\xe0 a JPEG, not a model" * 10, b"name,value\n1,2\n"])
def test_a_file_that_is_not_onnx_is_refused(data):
    with pytest.raises(camdemo.CamdemoError, match="not an ONNX model"):
        camdemo.load_onnx(data, isolate=False)


def test_pickle_files_are_refused_by_name_and_by_content(tmp_path):
    """torch.save writes a zip of pickles: loading one can run code, so neither its name nor its bytes pass."""
    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(2, 2).state_dict(), buffer)
    with pytest.raises(camdemo.CamdemoError, match="pickle"):
        camdemo.load_onnx(buffer.getvalue(), isolate=False)
    (tmp_path / "model.pt").write_bytes(buffer.getvalue())
    with pytest.raises(camdemo.CamdemoError, match="pickle"):
        camdemo.load_onnx(tmp_path / "model.pt", isolate=False)


def test_every_unsupported_operator_is_named():
    with pytest.raises(camdemo.CamdemoError, match=r"2 operators .* Hardmax \(opset 17\), Mystery \(domain "
                                                   r"com.example\)"):
        camdemo.load_onnx(unsupported_operators(), isolate=False)


def test_external_data_is_refused_without_reading_it(tmp_path):
    """The weight names a file beside the model; the file is never opened: it is made unreadable, and the message
    is the refusal, not a read error."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x00" * 12)
    secret.chmod(0)
    with pytest.raises(camdemo.CamdemoError, match="separate files"):
        camdemo.load_onnx(external_data(str(secret)), isolate=False)


@pytest.mark.slow
def test_the_conversion_runs_in_a_child_within_its_limits(shapes_onnx):
    """The child converts and runs the model; with too little memory, or too little time, it is refused in a
    sentence. (Each child imports torch: about 3 s on a quiet 2-core machine, 10 s on a busy one.)"""
    module = camdemo.load_onnx(shapes_onnx, input_size=96)
    assert not module.training and not any(p.requires_grad for p in module.parameters())
    with pytest.raises(camdemo.CamdemoError, match="more than 0.0 GB of memory"):
        camdemo.load_onnx(shapes_onnx, memory_limit=1)
    with pytest.raises(camdemo.CamdemoError, match="longer than 0 s"):
        camdemo.load_onnx(shapes_onnx, time_limit=0.1)


def test_a_channels_last_input_is_explained():
    """TensorFlow models exported as they are take N×H×W×C; camdemo feeds N×C×H×W and says how to re-export."""
    from onnx import TensorProto, helper
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 224, 224, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "nhwc", [value],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 224, 224, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(camdemo.CamdemoError, match="channels last .* --inputs-as-nchw"):
        camdemo.onnx_input(model.SerializeToString())
