"""A backbone registry and model cache of a test's own: register, re-point and load freely, then forget it all."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

import camdemo
from camdemo.models import BackboneSpec, GapLinearHead, get_spec, register_backbone, registry, weights

from .networks import RedDetector


@contextmanager
def isolated_registry(*, fresh_models: bool = False) -> Iterator[None]:
    """Inside the block, registered backbones, loaded models and verdicts on weight files are the block's own.

    The registry's specs and architectures, the model cache, the set of loaded backbones and the remembered
    weight-file problems are copies, put back at the end whatever happens; the forward-pass cache is cleared
    on the way in and out, since its entries are keyed by backbone name. Models loaded before stay usable
    inside, unless ``fresh_models``: then every model is loaded afresh, through the real loading path.
    """
    saved = (registry._SPECS, registry._architectures, registry._models, weights._loaded, weights._problems)
    registry._SPECS = dict(registry._SPECS)
    registry._architectures = dict(registry._architectures)
    registry._models = {} if fresh_models else dict(registry._models)
    weights._loaded = set() if fresh_models else set(weights._loaded)
    weights._problems = {}
    camdemo.api.forward_cache.clear()
    try:
        yield
    finally:
        camdemo.api.forward_cache.clear()
        registry._SPECS, registry._architectures, registry._models, weights._loaded, weights._problems = saved


def point_at(name: str, path: Path, **changes: object) -> None:
    """Re-register backbone ``name`` to read its weights from ``path`` (with ``changes`` to other spec fields
    that it has): it is loaded again on next use. Only inside ``isolated_registry``."""
    assert registry._SPECS is not _ORIGINAL_SPECS, "point_at outside isolated_registry would change every test"
    spec = get_spec(name)
    known = {field.name for field in dataclasses.fields(spec)}
    register_backbone(dataclasses.replace(spec, weights_file=lambda: str(path),
                                          **{key: value for key, value in changes.items() if key in known}))


def register_red_detector(folder: Path) -> str:
    """Register ``RedDetector`` as backbone "red_detector", its weights saved in ``folder``; return its name.

    It goes through the real loading path (a weights file, a ``weights_only`` load). Only inside
    ``isolated_registry``.
    """
    assert registry._SPECS is not _ORIGINAL_SPECS, "registering outside isolated_registry would outlive the test"
    weights_file = folder / "red.pth"
    torch.save(RedDetector().state_dict(), weights_file)
    register_backbone(BackboneSpec(
        name="red_detector", title="Red detector", build=RedDetector, weights_file=lambda: str(weights_file),
        weights_url=None, input_size=64, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        layer_names=lambda model: ["features"], cam_head=GapLinearHead("features", "fc"),
        categories=("red", "not red"),
    ))
    return "red_detector"


_ORIGINAL_SPECS = registry._SPECS
