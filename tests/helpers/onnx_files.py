"""ONNX files for the tests, made here: exported networks and hand-built graphs that must be refused."""

from __future__ import annotations

import io
import warnings

import onnx
import torch
from onnx import TensorProto, helper


def export(module: torch.nn.Module, size: int, channels: int = 3) -> bytes:
    """``module`` exported with torch.onnx.export (the TorchScript exporter: the dynamo one needs onnxscript) at
    opset 17, which onnx2torch 1.5.15 converts; a fixed 1×C×S×S input named "image"."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(module.eval(), (torch.zeros(1, channels, size, size),), buffer, dynamo=False,
                          opset_version=17, input_names=["image"], output_names=["scores"])
    return buffer.getvalue()


def _model(nodes: list, initializers: list | None = None, domains: tuple[str, ...] = ()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                            [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3])],
                              initializer=initializers or [])
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(domain, 1) for domain in domains]
    return helper.make_model(graph, opset_imports=opsets)


def unsupported_operators() -> bytes:
    """A valid graph with two operators onnx2torch cannot translate: Hardmax (standard) and a custom one."""
    nodes = [helper.make_node("Hardmax", ["image"], ["hard"]),
             helper.make_node("Mystery", ["hard"], ["scores"], domain="com.example")]
    return _model(nodes, domains=("com.example",)).SerializeToString()


def external_data(location: str = "/etc/passwd") -> bytes:
    """A graph whose one weight lives in an external file (``location``): it must be refused unread."""
    weight = TensorProto(name="weight", data_type=TensorProto.FLOAT, dims=[3])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "12")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    nodes = [helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[2, 3], keepdims=0),
             helper.make_node("Mul", ["pooled", "weight"], ["scores"])]
    return _model(nodes, [weight]).SerializeToString()
