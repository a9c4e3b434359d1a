"""The two data teaching networks as backbones: ``digits_gapnet`` and ``beam_gapnet``, and loading them directly.

Registered on import of ``camdemo`` (``register_data_backbones``) as data models: their spec's ``data_shape``
says that ``camdemo.explain`` feeds them the matrix as it is. What they take:

* ``digits_gapnet``: N×1×60×60 float32 in [0, 1] (0 = background, 1 = ink), not normalized, not resized;
  classes "0" … "9". Made by ``camdemo.teaching.digits``.
* ``beam_gapnet``: N×1×64×64 float32 in [0, 1]: rows = frequency bins of 4 Hz from 0 Hz (row 0) to
  252 Hz, columns = time frames of 62.5 ms, values = power in dB below the matrix's maximum mapped from
  [−80, 0] dB to [0, 1]; not normalized, not resized (the row count must be 64: the network appends each
  row's frequency). Classes "healthy", "stiffness loss", "breathing crack". Made by ``camdemo.teaching.beam``.

CAM's head is ``features`` → GAP → ``classifier`` in both.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ..assets import ASSETS_DIR
from ..errors import CamdemoError
from ..models import BackboneSpec, GapLinearHead, register_backbone
from . import beam, digits
from .data_networks import BeamGapNet, DigitsGapNet

HEAD = GapLinearHead("features", "classifier")
DIGITS_INPUT = "N×1×60×60 float32 in [0, 1] (0 = background, 1 = ink), not normalized"
BEAM_INPUT = ("N×1×64×64 float32 in [0, 1]: rows = 4 Hz frequency bins from 0 Hz, columns = 62.5 ms frames, "
              "power in dB below the maximum mapped from [−80, 0] dB to [0, 1]; not normalized")
_BUILDERS = {
    "digits": ("digits_gapnet", lambda: DigitsGapNet(len(digits.CLASSES))),
    "beam": ("beam_gapnet", lambda: BeamGapNet(len(beam.CLASSES), beam.ROWS)),
}


def weights_path(task: str) -> str:
    return str(ASSETS_DIR / f"{_BUILDERS[task][0]}.pt")


@functools.cache
def load_data_model(task: str) -> nn.Module:
    """The shipped ``digits`` or ``beam`` network with its weights, in eval mode (cached; do not train it)."""
    if task not in _BUILDERS:
        raise CamdemoError(f"Unknown teaching task '{task}': choose 'digits' or 'beam'.")
    name, build = _BUILDERS[task]
    model = build()
    try:
        state = torch.load(weights_path(task), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CamdemoError(f"The weights of {name} are missing: train them with "
                           f"`python -m camdemo.teaching.data_train {task}`.") from None
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def _spec(task: str, title: str, size: int, categories: tuple[str, ...], what: str) -> BackboneSpec:
    name, build = _BUILDERS[task]
    path = ASSETS_DIR / f"{name}.pt"
    return BackboneSpec(
        name=name, title=title, build=build,
        weights_file=lambda: str(path) if path.is_file() else None, weights_url=None,
        input_size=size, channels=1, data_shape=(size, size),
        mean=(0.0,), std=(1.0,),  # not used: a data model's matrix goes in as it is
        layer_names=lambda model: ["features", "block2", "block1"],
        cam_head=HEAD, categories=categories,
        note=f"a small GAP network trained here on {what}; input {DIGITS_INPUT if task == 'digits' else BEAM_INPUT}",
        install_hint=f"Train it with `python -m camdemo.teaching.data_train {task}`.",
        repair_hint=(f"Restore the committed copy with `git checkout assets/{name}.pt`, or train a new one with "
                     f"`python -m camdemo.teaching.data_train {task}`."),
    )


def digits_spec() -> BackboneSpec:
    return _spec("digits", "DigitsGapNet (teaching, cluttered digits)", digits.CANVAS, digits.CLASSES,
                 "cluttered handwritten digits with known boxes")


def beam_spec() -> BackboneSpec:
    return _spec("beam", "BeamGapNet (teaching, beam spectrograms)", beam.ROWS, beam.CLASSES,
                 "simulated cantilever-beam spectrograms whose changed frequency rows are known")


def register_data_backbones() -> None:
    """Register ``digits_gapnet`` and ``beam_gapnet`` (done on import of ``camdemo``)."""
    register_backbone(digits_spec())
    register_backbone(beam_spec())
