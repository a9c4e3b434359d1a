"""ONNX models as torch modules, safely enough for a public server: ``load_onnx`` and ``onnx_input``.

The file is read as bytes and parsed as an ONNX protobuf, nothing else: no pickle, no Python code, no file it
names. Before converting (with onnx2torch, so every method works on the result) it is refused, with a sentence,
when it is over ``MAX_ONNX_BYTES``, is not ONNX, fails ONNX's checker, refers to external tensor files (which
would make the server read files), or uses operators the converter cannot translate (all of them listed).

With ``isolate=True`` (the default) the conversion and one forward pass first run in a child process with a
memory cap (``RLIMIT_AS``) and a time limit, and the server converts the same bytes itself only once the child
managed: a graph that makes conversion or a pass explode in time or memory kills a child, not the server. No
object crosses back from the child (it reports in JSON), so nothing the file could influence is unpickled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CamdemoError

OnnxSource = str | os.PathLike | bytes

# 100 MB: a ResNet-50 in float32 (98 MB) fits, and a server holding a few such models stays within a few
# hundred MB. Parsing one costs about twice its size; conversion adds the weights once more (measured in
# tests/test_onnx.py, docs/serving.md).
MAX_ONNX_BYTES = 100 * 2**20
CONVERSION_SECONDS = 60.0  # the child's time for parsing, converting and one pass
CONVERSION_MEMORY = 2 * 2**30  # the child's address space beyond what it had at its start (torch loaded)
CONVERTER = "onnx2torch 1.5.15"
ONNX_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class OnnxInput:
    """What an ONNX graph says about its input and output: ``None`` where it does not say (a dynamic axis)."""

    channels: int | None
    input_size: int | None  # the side of a square input; None when dynamic or not square
    outputs: int | None  # scores per image (N×outputs)
    input_name: str
    producer: str


def read_onnx(source: OnnxSource, *, max_bytes: int = MAX_ONNX_BYTES) -> Any:
    """The checked ``onnx.ModelProto`` of ``source`` (a path or the file's bytes). ``CamdemoError`` for a file too
    large, not ONNX, with external data, refused by ONNX's checker, or with operators the converter lacks."""
    import onnx

    data = _bytes(source, max_bytes)
    try:
        model = onnx.load_model_from_string(data)
    except MemoryError:
        raise
    except Exception:  # protobuf's DecodeError and friends: whatever it is, it is not an ONNX model
        raise CamdemoError("This file is not an ONNX model (it could not be read as one). Export your model with "
                           "torch.onnx.export, tf2onnx or your framework's ONNX exporter and upload the .onnx "
                           "file.") from None
    if not model.HasField("graph") or not model.graph.node:
        raise CamdemoError("This file is not an ONNX model: it holds no graph of operations.")
    external = [tensor.name for tensor in _tensors(model.graph) if tensor.data_location == onnx.TensorProto.EXTERNAL
                or len(tensor.external_data)]
    if external:
        raise CamdemoError(f"This ONNX model keeps {len(external)} of its tensors in separate files ('{external[0]}' "
                           "first); the server reads nothing but the uploaded file. Save it as one file: "
                           "onnx.save_model(model, 'model.onnx', save_as_external_data=False) (possible below 2 GB).")
    try:
        onnx.checker.check_model(model)
    except Exception as error:  # onnx.checker.ValidationError and the C++ checker's errors
        raise CamdemoError(f"This ONNX model is not valid: {_first_line(error)}") from None
    _skip_identities(model)
    _check_operators(model)
    return model


def onnx_input(source: OnnxSource, *, max_bytes: int = MAX_ONNX_BYTES) -> OnnxInput:
    """The input's channels and size and the number of outputs, as far as the graph declares them (an N×C×H×W
    input 1×3×224×224 gives channels 3, size 224); checked as ``read_onnx`` checks it."""
    return _describe(read_onnx(source, max_bytes=max_bytes))


def load_onnx(source: OnnxSource, *, max_bytes: int = MAX_ONNX_BYTES, time_limit: float = CONVERSION_SECONDS,
              memory_limit: int = CONVERSION_MEMORY, isolate: bool = True, input_size: int | None = None,
              channels: int | None = None) -> nn.Module:
    """An ONNX model (a path or the file's bytes) as a ``torch.nn.Module``, in eval mode with frozen weights,
    ready for ``camdemo.wrap_model``.

    ``isolate``: first convert and run one pass on a blank ``channels``×``input_size``² input (default: what the
    graph declares, else 3×224²) in a child process limited to ``time_limit`` seconds and ``memory_limit`` bytes
    beyond its start; the file is refused with a sentence when the child runs out of either. ``CamdemoError`` for
    everything ``read_onnx`` refuses.
    """
    data = _bytes(source, max_bytes)
    model = read_onnx(data, max_bytes=max_bytes)  # refusals first, each with its sentence, before any child
    if isolate:
        _probe_in_child(data, max_bytes, time_limit, memory_limit, input_size, channels)
    return _convert(model)


# --- reading ------------------------------------------------------------------------------------------


def _bytes(source: OnnxSource, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if path.suffix.lower() in (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt"):
            raise CamdemoError(f"'{path.name}' is a PyTorch/pickle file, which can run code when it is loaded, so "
                               "it is not accepted. Export the model to ONNX (torch.onnx.export) and use the "
                               ".onnx file.")
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise CamdemoError(_too_large(size, max_bytes))
            data = path.read_bytes()
        except OSError as error:
            raise CamdemoError(f"Could not read '{path.name}': {error.strerror or error}.") from None
    if len(data) > max_bytes:
        raise CamdemoError(_too_large(len(data), max_bytes))
    if not data:
        raise CamdemoError("This file is empty: it holds no ONNX model.")
    if data[:2] == b"PK" or data[:2] == b"\x80\x02" or data[:1] == b"\x80":
        raise CamdemoError("This is a PyTorch/pickle file (a zip archive or a pickle), which can run code when it "
                           "is loaded, so it is not accepted. Export the model to ONNX (torch.onnx.export) and use "
                           "the .onnx file.")
    return data


def _too_large(size: int, max_bytes: int) -> str:
    return (f"This model file is {size / 2**20:.0f} MB; at most {max_bytes / 2**20:.0f} MB is accepted. A smaller "
            "model, or one exported in float16, fits.")


def _tensors(graph: Any) -> list[Any]:
    """Every tensor stored in ``graph`` and its subgraphs: initializers and attribute values."""
    found = list(graph.initializer) + [sparse.values for sparse in graph.sparse_initializer]
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                found.append(attribute.t)
            found.extend(attribute.tensors)
            for subgraph in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                found.extend(_tensors(subgraph))
    return found


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def _check_operators(model: Any) -> None:
    """Every operator must have a converter: ``CamdemoError`` naming all that do not (onnx2torch would stop at the
    first with a ``NotImplementedError``)."""
    from onnx2torch.node_converters.registry import get_converter

    versions = {opset.domain: opset.version for opset in model.opset_import}
    missing: dict[str, None] = {}
    for node in model.graph.node:
        domain = node.domain or ""
        try:
            if domain not in ONNX_DOMAINS:
                raise NotImplementedError(domain)
            get_converter(operation_type=node.op_type, version=versions.get(domain, versions.get("", 1)),
                          domain=domain)
        except NotImplementedError:
            where = f" (domain {domain})" if domain not in ONNX_DOMAINS else \
                f" (opset {versions.get(domain, versions.get('', 1))})"
            missing[f"{node.op_type}{where}"] = None
    if missing:
        names = list(missing)
        raise CamdemoError(f"This model uses {len(names)} operator{'s' * (len(names) > 1)} that {CONVERTER} cannot "
                           f"translate into PyTorch: {', '.join(names)}. Export it at an opset the converter knows "
                           "(torch.onnx.export(..., opset_version=17)) or with other layers, or explain it from "
                           "Python with camdemo.wrap_model.")


def _describe(model: Any) -> OnnxInput:
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise CamdemoError(f"This ONNX model takes {len(inputs)} inputs; camdemo explains models with one input, "
                           "an image (N×C×H×W).")
    dims = _dims(inputs[0])
    if dims is not None and len(dims) != 4:
        raise CamdemoError(f"This ONNX model's input has {len(dims)} axes; camdemo needs an image batch, "
                           "N×C×H×W (channels first).")
    if dims is not None and dims[3] in (1, 3) and dims[1] not in (None, 1, 3):
        raise CamdemoError(f"This ONNX model's input is {'×'.join(str(d or 'N') for d in dims)}: channels last (NHWC), "
                           "as TensorFlow exports. camdemo feeds N×C×H×W; with tf2onnx, export with "
                           "--inputs-as-nchw <input name>.")
    channels, height, width = dims[1:] if dims else (None, None, None)
    out_dims = _dims(model.graph.output[0]) if model.graph.output else None
    outputs = out_dims[1] if out_dims and len(out_dims) == 2 else None
    producer = " ".join(filter(None, [model.producer_name, model.producer_version])) or "unknown"
    return OnnxInput(channels, height if height == width else None, outputs, inputs[0].name, producer)


def _dims(value: Any) -> list[int | None] | None:
    """A value's declared shape, ``None`` per dynamic axis; ``None`` when it declares none."""
    if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
        return None
    return [dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None
            for dim in value.type.tensor_type.shape.dim]


# --- converting -----------------------------------------------------------------------------------------


def _convert(model: Any) -> nn.Module:
    """onnx2torch's module for the checked ``model``, in eval mode, weights frozen."""
    from onnx2torch import convert

    try:
        module = convert(model)
    except NotImplementedError as error:  # a converter exists but refuses this node's settings
        raise CamdemoError(f"{CONVERTER} cannot translate this model: {_first_line(error)}. Export it with other "
                           "operators or settings.") from None
    except Exception as error:  # the converter's own failures on a valid graph: say so, keep serving
        raise CamdemoError(f"{CONVERTER} could not convert this model ({type(error).__name__}: "
                           f"{_first_line(error)}).") from None
    return module.eval().requires_grad_(False)


def _skip_identities(model: Any) -> None:
    """Remove ``Identity`` nodes, their consumers reading the Identity's input instead.

    torch.onnx.export shares equal weights through Identity nodes (all-zero biases, for example), onnx2torch reads
    a convolution's bias only from an initializer, and it has no converter for Identity at opsets 19 and later.
    An Identity that gives a graph output stays."""
    outputs = {value.name for value in model.graph.output}
    for node in list(model.graph.node):
        if node.op_type != "Identity" or not node.input or node.output[0] in outputs:
            continue
        source, alias = node.input[0], node.output[0]
        for other in model.graph.node:
            for i, name in enumerate(other.input):
                if name == alias:
                    other.input[i] = source
        model.graph.node.remove(node)


# --- the child process ---------------------------------------------------------------------------------


def _probe_in_child(data: bytes, max_bytes: int, time_limit: float, memory_limit: int, input_size: int | None,
                    channels: int | None) -> dict[str, Any]:
    """Convert ``data`` and run one pass in a child process (see the module docstring): its ``ProbeReport`` as
    a dict; ``CamdemoError`` with the child's sentence, or saying which limit it hit.

    A fresh interpreter (``python -m camdemo.models.onnx_import``), not a fork of the server: forking a process
    with running threads (Gradio's, torch's) can deadlock the child, and multiprocessing's forkserver and spawn
    re-import the caller's main script. The bytes go in on stdin, the report comes back as JSON on stdout."""
    settings = json.dumps({"max_bytes": max_bytes, "memory_limit": memory_limit, "input_size": input_size,
                           "channels": channels}).encode()
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-m", "camdemo.models.onnx_import"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment)
    try:
        out, _ = child.communicate(settings + b"\n" + data, timeout=time_limit)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise CamdemoError(f"Converting this model and running it once took longer than {time_limit:.0f} s, this "
                           "server's limit. A smaller model fits.") from None
    try:
        report = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):  # the child died without a word: killed for memory, most likely
        report = {"error": "memory"}
    if report.get("error") == "memory":
        raise CamdemoError(f"Converting this model and running it once needed more than "
                           f"{memory_limit / 2**30:.1f} GB of memory, this server's limit. A smaller model, or a "
                           "smaller input size, fits.")
    if report.get("error"):
        raise CamdemoError(str(report["error"]))
    return report


@dataclass(frozen=True)
class ProbeReport:
    """What the child says back (as JSON): how long converting and one pass took, and its peak memory."""

    convert_seconds: float
    pass_seconds: float
    peak_rss_bytes: int


def _probe(data: bytes, max_bytes: int, memory_limit: int, input_size: int | None,
           channels: int | None) -> dict[str, Any]:  # runs in the child process
    import resource

    import onnx2torch  # noqa: F401  (with onnx: loaded before the cap, which is for the model's own needs)

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    current = _address_space()
    if current:  # Linux; elsewhere the time limit alone holds
        cap = current + memory_limit
        resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        try:
            model = read_onnx(data, max_bytes=max_bytes)
        except CamdemoError:  # the parent read the same bytes without a complaint: only the cap fails it here
            return {"error": "memory"}
        described = _describe(model)
        module = _convert(model)
        converted = time.perf_counter()
        side = input_size or described.input_size or 224
        with torch.no_grad():
            module(torch.zeros(1, channels or described.channels or 3, side, side))
        return asdict(ProbeReport(converted - started, time.perf_counter() - converted,
                                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
    except MemoryError:
        return {"error": "memory"}
    except CamdemoError as error:
        return {"error": str(error)}
    except Exception as error:  # a pass that fails on a blank input: the model's own problem, in a sentence
        message = str(error)
        if any(word in message.lower() for word in ("memory", "alloc", "failed to map")):
            return {"error": "memory"}
        return {"error": f"The converted model could not run on a blank image ({type(error).__name__}: "
                         f"{_first_line(error)}). Check the input size and channels."}


def _address_space() -> int:
    """This process's current virtual memory in bytes (Linux), 0 where it cannot be read."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


if __name__ == "__main__":  # the child of ``_probe_in_child``: settings, a newline, the file's bytes on stdin
    _settings, _, _data = sys.stdin.buffer.read().partition(b"\n")
    _report = _probe(_data, **json.loads(_settings))
    sys.stdout.write(json.dumps(_report) + "\n")
    sys.stdout.flush()
