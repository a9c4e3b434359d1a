"""What an explanation costs before it runs: passes of the network, and seconds on this machine.

Each method declares its work per image in forward+backward passes (``Method.passes``, from its
options); a backbone's seconds per pass turn that into time. The seconds come from a table measured
on 2 CPU cores (``python -m benchmarks.speed passes``); a faster server says how much faster with
``CAMDEMO_SPEED_FACTOR``. A model of matrices or signals that is not in the table (``BackboneSpec.data_shape``:
usually a tiny network) is timed here once instead, on a blank example, and its cost grows with the cells of
the data actually explained.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .api import DEFAULT_METHOD
from .deprecation import keyword_settings
from .evaluation.faithfulness import DEFAULT_INCREMENTS as FAITHFULNESS_INCREMENTS
from .explainers import get_method
from .explainers.base import FORWARD_PASS
from .explainers.hooks import eval_mode
from .models import DEFAULT_BACKBONE, BackboneSpec, get_spec, load_model
from .models.custom import signal_model
from .models.layers import list_layers

# Seconds per image for one forward+backward pass (gradients down to the pixels), batches of 8, 2 CPU cores,
# float32: `python -m benchmarks.speed passes`, measured twice on a quiet machine, the larger value, rounded up.
PASS_SECONDS: dict[str, float] = {
    "efficientnet_lite0": 0.046,
    "efficientnet_lite1": 0.063,
    "efficientnet_lite2": 0.075,
    "shapes_gapnet": 0.003,
    "resnet18": 0.050,
    "resnet50": 0.126,
    "vgg16": 0.405,
    "mobilenet_v3_large": 0.024,
    "densenet121": 0.117,
    "convnext_tiny": 0.138,
}
UNKNOWN_PASS_SECONDS = 0.405  # a backbone not in the table: as slow as the slowest one measured
SINGLE_PASS = 2.0  # at most this many passes: a "fast" method (CAM family, saliency, Guided Grad-CAM)


@dataclass(frozen=True)
class Cost:
    """The estimated work of one explanation: passes of the network and the seconds they take here."""

    passes: float
    seconds: float

    @property
    def single_pass(self) -> bool:
        """True for methods that cost about one pass: they never wait behind slow ones in the app."""
        return self.passes <= SINGLE_PASS

    def describe(self) -> str:
        """For people: "1 pass, under a second" or "384 passes, about 15 s here"."""
        passes = f"{self.passes:.0f} pass{'es' if round(self.passes) != 1 else ''}" if self.passes >= 1 else \
            "one forward pass"
        if self.seconds < 1.0:
            return f"{passes}, under a second"
        if self.seconds < 90:
            return f"{passes}, about {self.seconds:.0f} s here"
        return f"{passes}, about {self.seconds / 60:.0f} min here"


def pass_seconds(backbone: str | BackboneSpec) -> float:
    """Seconds per image for one forward+backward pass of ``backbone`` here: the table, times
    ``CAMDEMO_SPEED_FACTOR`` for a server that is not 2 CPU cores (0.1: ten times as fast). A data model
    not in the table, or a user's model: its pass on a blank example, timed here once (``measured_pass_seconds``).

    Not learned from the jobs that ran: their times include pauses for other jobs, and a visitor could
    steer the estimate either way with jobs that stop early or run slowly (found by trying).
    """
    spec = get_spec(backbone)
    if spec.module is not None or (spec.name not in PASS_SECONDS and spec.data_shape is not None):
        return measured_pass_seconds(spec)  # a user's or a data model, measured on this machine: no speed factor
    try:
        factor = float(os.environ.get("CAMDEMO_SPEED_FACTOR", "1"))
    except ValueError:
        factor = 1.0
    factor = factor if math.isfinite(factor) and factor > 0 else 1.0
    return PASS_SECONDS.get(spec.name, UNKNOWN_PASS_SECONDS) * factor


# id(spec) → (a weak reference to the spec, its seconds per pass): a user's model is not kept alive by this table
_timed: dict[int, tuple[weakref.ref, float]] = {}
_timing_lock = threading.Lock()


def measured_pass_seconds(spec: BackboneSpec) -> float:
    """One forward+backward pass of a user's or a data model on a blank example (its ``data_shape``, or an image of
    its input size), timed here: the fastest of up to 20 (2 s at most), once per spec. ``UNKNOWN_PASS_SECONDS``
    if it cannot run (no weights)."""
    with _timing_lock:
        for key in [key for key, (ref, _) in _timed.items() if ref() is None]:
            del _timed[key]  # specs that are gone
        if id(spec) in _timed and _timed[id(spec)][0]() is spec:
            return _timed[id(spec)][1]
        try:
            model = load_model(spec)
            device = next((tensor.device for tensor in model.parameters()), torch.device("cpu"))
            if spec.data_shape is not None:
                example = spec.data_tensor(np.zeros(spec.data_shape, np.float32), device).requires_grad_(True)
            else:
                example = torch.zeros(1, spec.channels, spec.input_size, spec.input_size, device=device,
                                      requires_grad=True)
            network = signal_model(model) if spec.data_shape is not None and len(spec.data_shape) == 1 else model
            times: list[float] = []
            with eval_mode(model):
                while len(times) < 20 and sum(times) < 2.0:  # the first passes are often far slower
                    started = time.perf_counter()
                    (gradient,) = torch.autograd.grad(network(example).sum(), example)
                    float(gradient.sum())  # waits for a GPU
                    times.append(time.perf_counter() - started)
            seconds = min(times)
        except Exception:  # the model cannot run here (weights missing, damaged): explain says why
            seconds = UNKNOWN_PASS_SECONDS
        _timed[id(spec)] = (weakref.ref(spec), seconds)
        return seconds


@keyword_settings("backbone", "method", "layer", "options")
def estimate_cost(*, backbone: str | BackboneSpec = DEFAULT_BACKBONE, method: str = DEFAULT_METHOD,
                  layer: str | None = None, options: Mapping[str, Any] | None = None,
                  data_shape: Sequence[int] | None = None) -> Cost:
    """The cost of explaining one image: ``CamdemoError`` for unknown names or bad options, as ``explain``.

    For a model of matrices or signals, ``data_shape`` is the shape of the data to be explained (default: the
    model's own ``data_shape``): the seconds grow with its cells, and occlusion's positions with its longer side.
    """
    spec = get_spec(backbone)
    explainer = get_method(method)
    checked = explainer.check_options(options)
    infos = {info.name: info for info in list_layers(spec)}
    info = infos.get(layer or "") or next(iter(infos.values()), None)
    channels = info.channels if info is not None else 1  # a model without spatial layers: no layer method applies
    shape = tuple(data_shape) if data_shape is not None and spec.data_shape is not None else spec.data_shape
    input_size = max(shape[-2:]) if shape else spec.input_size
    scale = math.prod(shape) / math.prod(spec.data_shape) if shape and spec.data_shape else 1.0
    passes = explainer.passes(checked, channels=channels, input_size=input_size)
    return Cost(passes=passes, seconds=passes * pass_seconds(spec) * scale)


@keyword_settings("backbone", "increments")
def faithfulness_cost(*, backbone: str | BackboneSpec = DEFAULT_BACKBONE,
                      increments: int = FAITHFULNESS_INCREMENTS) -> Cost:
    """The cost of ``camdemo.faithfulness`` for one map: its deletion and its insertion curve, ``increments`` + 1
    forward passes each."""
    passes = 2 * (increments + 1) * FORWARD_PASS
    return Cost(passes=passes, seconds=passes * pass_seconds(backbone))
