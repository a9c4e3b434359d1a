"""'Your model': an uploaded ONNX file checked, converted (``camdemo.load_onnx``, in a child process with time and
memory limits), wrapped (``camdemo.wrap_model``) and kept for the uploading page only (``camdemo.app.own_models``).

The conversion runs in the slow lane of ``camdemo.app.jobs``, under the same per-visitor limits as any model work.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import numpy as np

import camdemo
from camdemo.app.handlers.outputs import Update
from camdemo.app.inputs import message
from camdemo.app.own_models import (YOUR_MODEL, OwnModel, model_report, module_bytes, own_models, parse_labels,
                                    parse_numbers)
from camdemo.app.uploads import FILE_NOT_AN_UPLOAD, uploaded_file
from camdemo.app.views import backbone_choices
from camdemo.app.work import on_model, session_of

# The app's limit for an ONNX file: the server's upload limit (camdemo.app.ui.MAX_FILE_SIZE), which refuses a larger
# body while it streams in. camdemo.load_onnx alone accepts up to 100 MB.
MAX_ONNX_BYTES = 50 * 2**20
MAX_LABELS_BYTES = 2 * 2**20
NO_MODEL_FILE = "Choose an ONNX model file (.onnx) first."
OUTPUT_KINDS = ("auto", "softmax", "multilabel", "binary", "regression")


class ModelLoaded(NamedTuple):
    """The page's backbone list with its own model chosen, and what the panel says about the model."""

    backbone: Update
    model_report: str


def load_own_model(model_file: str | None, labels_file: str | None = None, input_size: float | None = None,
                   channels: str | None = "auto", mean: str | None = "", std: str | None = "",
                   output_kind: str | None = "auto", request: gr.Request | None = None,
                   progress=gr.Progress()) -> ModelLoaded:
    """Load the uploaded ONNX model for this page (API name ``load_model``).

    ``input_size`` 0 or empty and ``channels`` "auto" take what the model's graph declares (else 224 and 3);
    empty ``mean``/``std`` mean ImageNet's for RGB and none for gray; ``output_kind`` is ``wrap_model``'s.
    """
    model_path = _uploaded(model_file)
    if model_path is None:
        raise gr.Error(NO_MODEL_FILE, print_exception=False)
    labels_path = _uploaded(labels_file)
    if output_kind not in OUTPUT_KINDS:
        raise gr.Error(f"The kind of output must be one of: {', '.join(OUTPUT_KINDS)}.", print_exception=False)
    try:
        labels_text = _labels_text(labels_path)
        if os.path.getsize(model_path) > MAX_ONNX_BYTES:
            raise camdemo.CamdemoError(f"This model file is {os.path.getsize(model_path) / 2**20:.0f} MB; this "
                                       f"server accepts at most {MAX_ONNX_BYTES / 2**20:.0f} MB.")

        def work(progress) -> OwnModel:
            return _convert(model_path, labels_text, input_size, channels, mean, std, str(output_kind), progress)

        model = on_model(work, request=request, fast=False, progress=progress)
        own_models.put(session_of(request), model)
    except camdemo.CamdemoError as error:
        raise message(error) from None
    choices = backbone_choices() + [(f"{model.spec.title} (this page only)", YOUR_MODEL)]
    return ModelLoaded(gr.update(choices=choices, value=YOUR_MODEL), model_report(model))


def _uploaded(file: object) -> str | None:
    """The path of an uploaded file, checked as images are (``camdemo.app.uploads``); None when there is none."""
    path = file.get("path") if isinstance(file, dict) else file
    if not path:
        return None
    if not isinstance(path, str) or uploaded_file(path) is None:
        raise gr.Error(FILE_NOT_AN_UPLOAD, print_exception=False)
    return uploaded_file(path)


def _labels_text(path: str | None) -> str | None:
    if path is None:
        return None
    if os.path.getsize(path) > MAX_LABELS_BYTES:
        raise camdemo.CamdemoError(f"The labels file is over {MAX_LABELS_BYTES / 2**20:.0f} MB; one label per line "
                                   "or a JSON list is much smaller.")
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise camdemo.CamdemoError("The labels file is not text (UTF-8): one label per line, or JSON.") from None


def _convert(path: str, labels_text: str | None, input_size: float | None, channels: str | None, mean: str | None,
             std: str | None, output_kind: str, progress) -> OwnModel:
    """In the slow lane: check and convert the file, wrap it with its preprocessing, time one pass."""
    progress(0.05, "Checking the model file")
    data = Path(path).read_bytes()
    declared = camdemo.onnx_input(data, max_bytes=MAX_ONNX_BYTES)
    size = _size(input_size) or declared.input_size or 224
    count = int(channels) if channels in ("1", "3") else declared.channels or 3
    if count not in (1, 3):
        raise camdemo.CamdemoError(f"The model's input has {count} channels; camdemo feeds 3 (RGB) or 1 (gray).")
    progress(0.1, "Converting the model in a separate process (time and memory limited)")
    module = camdemo.load_onnx(data, max_bytes=MAX_ONNX_BYTES, input_size=size, channels=count)
    progress(0.7, "Finding its layers and its head")
    labels = parse_labels(labels_text) if labels_text is not None else None
    title = f"Your model ({Path(path).stem[:40]})"
    spec = camdemo.wrap_model(module, name=YOUR_MODEL, title=title, input_size=size, channels=count,
                              mean=parse_numbers(mean, "mean", count), std=parse_numbers(std, "std", count),
                              labels=labels, output=output_kind)
    progress(0.9, "Timing one pass")
    started = time.perf_counter()
    camdemo.explain(np.full((size, size, 3), 128, np.uint8), model=spec, method="saliency")
    return OwnModel(spec, module_bytes(module), time.perf_counter() - started, Path(path).name)


def _size(value: float | None) -> int | None:
    """The input size field: 0 or empty for the model's own."""
    try:
        number = float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        number = float("nan")
    if number != number or number < 0 or number != int(number):
        raise camdemo.CamdemoError("The input size must be a whole number of pixels (0: the model's own).")
    return int(number) or None
