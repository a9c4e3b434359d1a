"""Shared fixtures: tiny hand-built models, real images, and a clean hub cache for weight tests."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

# Never try to download torchvision weights during tests: missing weights must fail fast and clearly.
os.environ.setdefault("CAMDEMO_OFFLINE", "1")

from camdemo.assets import ASSETS_DIR as ASSETS  # noqa: E402

# Settings that make the slow methods quick in tests that only check plumbing (hooks, modes, batching):
# fewer Score-CAM channels, IG steps, SmoothGrad samples and occlusion patches. Their correctness is
# checked with full settings in test_method_zoo.py.
QUICK_OPTIONS = {"scorecam": {"channels": 16}, "integrated_gradients": {"steps": 8, "tolerance": 1.0},
                 "smoothgrad": {"samples": 2}, "occlusion": {"patch": 56, "stride": 56}}
TINY_OPTIONS = {**QUICK_OPTIONS, "occlusion": {"patch": 1, "stride": 1}}  # for the 2×2 test nets


class TinyGapNet(nn.Module):
    """1-channel input → features (1×1 conv with bias, ReLU) with 2 channels → GAP → linear, 2 classes.

    Weights are set by hand so that tests can state the expected maps in closed form.
    """

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, kernel_size=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, 0.5]).view(2, 1, 1, 1))
            self.features[0].bias.copy_(torch.tensor([0.0, -1.0]))
            self.fc.weight.copy_(torch.tensor([[2.0, -1.0], [-1.0, 3.0]]))
            self.fc.bias.copy_(torch.tensor([0.1, -0.2]))

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@pytest.fixture
def tiny_gap_net() -> TinyGapNet:
    return TinyGapNet().eval()


@pytest.fixture
def tiny_input() -> torch.Tensor:
    """x = [[1, 2], [3, 4]] as a 1×1×2×2 batch."""
    return torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)


@pytest.fixture(scope="session")
def cat_image() -> np.ndarray:
    from camdemo import load_image
    return load_image(ASSETS / "chelsea_cat.jpg")


@pytest.fixture(scope="session")
def pair_image() -> np.ndarray:
    from camdemo import load_image
    return load_image(ASSETS / "cat_and_coffee.jpg")


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


@pytest.fixture(scope="module")
def served_demo():
    """The real app, launched on a free local port for the tests of one module (its ``gr.Blocks``)."""
    from camdemo.app import ui
    from benchmarks.load import free_port

    demo = ui.build_demo()
    ui.with_queue(demo, max_size=16).launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                                   quiet=True, **ui.launch_options())
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def server(served_demo):
    """The URL of the real app launched for this module."""
    return served_demo.local_url


