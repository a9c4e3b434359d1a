"""Quick settings for the slow methods, their test tier, and the check that no hook outlives a call."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from torch import nn

# Settings that make the slow methods quick in tests that only check plumbing (hooks, modes, batching):
# fewer Score-CAM channels, IG steps, SmoothGrad samples and occlusion patches. Their correctness is
# checked with full settings in test_method_zoo.py.
QUICK_OPTIONS: dict[str, dict[str, float]] = {
    "scorecam": {"channels": 16}, "integrated_gradients": {"steps": 8, "tolerance": 1.0},
    "smoothgrad": {"samples": 2}, "occlusion": {"patch": 56, "stride": 56}}
TINY_OPTIONS: dict[str, dict[str, float]] = {**QUICK_OPTIONS, "occlusion": {"patch": 1, "stride": 1}}  # 2×2 nets


def assert_no_hooks(model: nn.Module) -> None:
    """No forward, pre-forward or backward hook of any kind on any submodule, nor a global one."""
    for name, module in model.named_modules():
        for attribute in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                          "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs"):
            hooks = getattr(module, attribute, None)
            assert not hooks, f"{attribute} left on '{name or 'model'}': {hooks}"
    from torch.nn.modules import module as module_lib
    assert not module_lib._global_forward_hooks
    assert not module_lib._global_forward_pre_hooks
    assert not module_lib._global_backward_hooks


def training_modes(model: nn.Module) -> dict[str, bool]:
    """Each submodule's ``training`` flag, by name: to check that a call restores them exactly."""
    return {name: module.training for name, module in model.named_modules()}


# Methods that run the network many times per map (Score-CAM: a pass per channel; IG: per step; occlusion:
# per patch; SmoothGrad: per sample). On real backbones their tests belong in the slow tier.
MULTI_PASS = ("scorecam", "integrated_gradients", "occlusion", "smoothgrad")


def method_params(names: Iterable[str], fast: Collection[str] | None = None) -> list[Any]:
    """``names`` as pytest parameters, the multi-pass ones marked ``slow`` (given ``fast``: all but those)."""
    def slow(name: str) -> bool:
        return name not in fast if fast is not None else name in MULTI_PASS
    return [pytest.param(name, marks=pytest.mark.slow) if slow(name) else name for name in names]


# Methods that need patterns fitted for the network (shipped only for the teaching network).
NEEDS_PATTERNS = ("patternnet", "patternattribution")


@contextmanager
def patterns_fitted_for(model: nn.Module, input_shape: tuple[int, ...]) -> Iterator[None]:
    """PatternNet's patterns for ``model``, fitted on 256 random inputs of ``input_shape`` (C×H×W) and used
    while the block runs: a tiny test network gets them as a teaching network gets its shipped ones."""
    from camdemo.explainers.patterns import PatternSet, fit_patterns, register_patterns, unregister_patterns, \
        weights_digest
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(256, *input_shape, generator=generator)
    register_patterns("test network", PatternSet(fit_patterns(model, inputs.split(64)), weights_digest(model)))
    try:
        yield
    finally:
        unregister_patterns("test network")
