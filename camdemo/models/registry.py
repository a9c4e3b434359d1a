"""The registry of backbones and the shared cache of loaded models.

Models load once, are cached, and are shared by all callers: they are put in eval mode with
``requires_grad=False`` and must never be modified afterwards.
"""

from __future__ import annotations

import threading

import torch
from torch import nn

from ..errors import CamdemoError
from . import weights
from .builtin import BUILTIN_SPECS
from .spec import BackboneSpec

_SPECS: dict[str, BackboneSpec] = {spec.name: spec for spec in BUILTIN_SPECS}
DEFAULT_BACKBONE = "efficientnet_lite0"


def backbone_names() -> list[str]:
    """Names of all registered backbones, offline-ready ones first."""
    return sorted(_SPECS, key=lambda name: _SPECS[name].weights_url is not None)  # stable: registration order


def get_spec(name: str | BackboneSpec) -> BackboneSpec:
    """The spec of backbone ``name``; ``CamdemoError`` listing the valid names if unknown. A spec is its own
    spec (a user's wrapped model is not in the registry: it belongs to whoever wrapped it)."""
    if isinstance(name, BackboneSpec):
        return name
    try:
        return _SPECS[name]
    except KeyError:
        raise CamdemoError(f"Unknown backbone '{name}'. Choose one of: {', '.join(_SPECS)}.") from None


_models: dict[str, nn.Module] = {}
_load_locks: dict[str, threading.Lock] = {name: threading.Lock() for name in _SPECS}
_architectures: dict[str, nn.Module] = {}
_architectures_lock = threading.Lock()


def register_backbone(spec: BackboneSpec) -> None:
    """Add (or replace) a backbone in the registry, e.g. a model of your own or a test's tiny network."""
    _SPECS[spec.name] = spec
    _load_locks.setdefault(spec.name, threading.Lock())
    with _architectures_lock:
        _architectures.pop(spec.name, None)
    for key in [key for key in _models if key.split("@")[0] == spec.name]:
        del _models[key]
    weights.forget(spec.name)  # a verdict on the old spec's file


def load_model(name: str | BackboneSpec, device: torch.device | str = "cpu") -> nn.Module:
    """The shared, cached model of backbone ``name`` with its weights, in eval mode, frozen, on ``device``.

    Thread-safe: concurrent first calls load the weights once. A user's wrapped model is returned as it is,
    on its own device: ``CamdemoError`` if another device is asked for (camdemo does not move it).
    """
    spec = get_spec(name)
    if spec.module is not None:
        return _own_model(spec, torch.device(device))
    name = spec.name
    key = f"{name}@{device}"
    model = _models.get(key)
    if model is not None:
        return model
    with _load_locks[name]:
        model = _models.get(key)
        if model is None:
            model = weights.load_weights(spec)
            model.eval().requires_grad_(False)
            model = model.to(device)
            _models[key] = model
            weights.mark_loaded(name)
    return model


def _own_model(spec: BackboneSpec, device: torch.device) -> nn.Module:
    assert spec.module is not None
    where = model_device(spec) or torch.device("cpu")
    if (where.type, where.index or 0) != (device.type, device.index or 0):
        raise CamdemoError(f"Your model {spec.title} is on {where}, and {device} was asked for. camdemo does not move "
                           f"your model: pass device='{where}', or move the model first (model.to('{device}')).")
    return spec.module


def model_device(spec: BackboneSpec) -> torch.device | None:
    """The device of a user's wrapped model (its first parameter or buffer), or None for a built-in backbone."""
    if spec.module is None:
        return None
    return next((tensor.device for tensor in spec.module.parameters()), None) or \
        next((tensor.device for tensor in spec.module.buffers()), torch.device("cpu"))


def architecture(name: str | BackboneSpec) -> nn.Module:
    """An untrained instance of backbone ``name``, cached, for facts that need no weights (layers, shapes);
    a user's wrapped model itself (read, never changed)."""
    spec = get_spec(name)
    if spec.module is not None:
        return spec.module
    name = spec.name
    with _architectures_lock:
        if name not in _architectures:
            _architectures[name] = spec.build().eval().requires_grad_(False)
        return _architectures[name]
