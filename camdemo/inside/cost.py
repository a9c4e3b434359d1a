"""What an inside-the-network run costs before it runs, in passes of the network at its input size and in
seconds here (``camdemo.cost``'s table of seconds per forward+backward pass).

Each step is one forward and one backward pass of an image of ``size``², which costs (size / input size)² of a
pass at the model's input size, times ``STEP_FACTOR``: the table's passes are per image in batches of 8, and one
image alone, with its parameterization and random transforms, costs about five times that per pixel. Measured
(``python -m benchmarks.inside``, Lite0, on this shared 2-core machine under load): 0.078 s per 128² step of
activation maximization and 0.070 s per 128²-equivalent step of Deep Dream, against 0.015 s from the table.
The forward pass stops at the chosen layer, so an early layer costs less than this estimate: it is an upper
bound, which is what a server's budget needs.
"""

from __future__ import annotations

from ..cost import Cost, pass_seconds
from ..errors import CamdemoError
from ..models import DEFAULT_BACKBONE, get_spec
from .dream import DEFAULT_OCTAVE_SCALE, DEFAULT_OCTAVES

KINDS = ("maximize", "reconstruct", "dream")
STEP_FACTOR = 5.0


def inside_cost(kind: str, *, backbone: str = DEFAULT_BACKBONE, steps: int = 128, size: int = 128, layers: int = 1,
                octaves: int = DEFAULT_OCTAVES, octave_scale: float = DEFAULT_OCTAVE_SCALE) -> Cost:
    """The cost of ``maximize_activation`` (``steps`` at ``size``), ``reconstruct`` (``steps`` at ``size`` for each
    of ``layers``) or ``deep_dream`` (``steps`` per octave, ``octaves`` of them; ``size`` the image's longer side,
    taken as square).

    For example ``inside_cost("maximize", steps=128, size=128)`` on Lite0: 42 passes at 224², about 10 s."""
    spec = get_spec(backbone)
    area = (size / spec.input_size) ** 2
    if kind == "maximize":
        passes = steps * area
    elif kind == "reconstruct":
        passes = steps * area * layers
    elif kind == "dream":
        area = (size / spec.input_size) ** 2
        passes = steps * area * sum(octave_scale ** (-2 * octave) for octave in range(octaves))
    else:
        raise CamdemoError(f"Unknown kind '{kind}'. Choose one of: {', '.join(KINDS)}.")
    return Cost(passes=passes, seconds=passes * pass_seconds(backbone) * STEP_FACTOR)
