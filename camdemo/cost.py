"""What an explanation costs before it runs: passes of the network, and seconds on this machine.

Each method declares its work per image in forward+backward passes (``Method.passes``, from its
options); a backbone's seconds per pass turn that into time. The seconds come from a table measured
on 2 CPU cores (``python -m benchmarks.speed passes``); a faster server says how much faster with
``CAMDEMO_SPEED_FACTOR``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Mapping

from .api import DEFAULT_METHOD
from .catalog import layers
from .deprecation import keyword_settings
from .evaluation.faithfulness import DEFAULT_INCREMENTS as FAITHFULNESS_INCREMENTS
from .explainers import get_method
from .explainers.base import FORWARD_PASS
from .models import DEFAULT_BACKBONE, BackboneSpec, get_spec

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
    ``CAMDEMO_SPEED_FACTOR`` for a server that is not 2 CPU cores (0.1: ten times as fast).

    Not learned from the jobs that ran: their times include pauses for other jobs, and a visitor could
    steer the estimate either way with jobs that stop early or run slowly (found by trying).
    """
    try:
        factor = float(os.environ.get("CAMDEMO_SPEED_FACTOR", "1"))
    except ValueError:
        factor = 1.0
    factor = factor if math.isfinite(factor) and factor > 0 else 1.0
    return PASS_SECONDS.get(backbone if isinstance(backbone, str) else "", UNKNOWN_PASS_SECONDS) * factor


@keyword_settings("backbone", "method", "layer", "options")
def estimate_cost(*, backbone: str | BackboneSpec = DEFAULT_BACKBONE, method: str = DEFAULT_METHOD,
                  layer: str | None = None, options: Mapping[str, Any] | None = None) -> Cost:
    """The cost of explaining one image: ``CamdemoError`` for unknown names or bad options, as ``explain``."""
    spec = get_spec(backbone)
    explainer = get_method(method)
    checked = explainer.check_options(options)
    infos = {info.name: info for info in layers(backbone)}
    info = infos.get(layer or "") or next(iter(infos.values()))
    passes = explainer.passes(checked, channels=info.channels, input_size=spec.input_size)
    return Cost(passes=passes, seconds=passes * pass_seconds(backbone))


@keyword_settings("backbone", "increments")
def faithfulness_cost(*, backbone: str | BackboneSpec = DEFAULT_BACKBONE,
                      increments: int = FAITHFULNESS_INCREMENTS) -> Cost:
    """The cost of ``camdemo.faithfulness`` for one map: its deletion and its insertion curve, ``increments`` + 1
    forward passes each."""
    passes = 2 * (increments + 1) * FORWARD_PASS
    return Cost(passes=passes, seconds=passes * pass_seconds(backbone))
