"""Shared fixtures: tiny hand-built models, real images, an isolated backbone registry, the launched app.

What tests import (networks, the upload corpus, server calls) lives in ``tests/helpers/``; fixtures live here.
Test tiers are pytest markers (``slow``, ``server``, ``browser``; see tests/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
import torch

# Never try to download torchvision weights during tests: missing weights must fail fast and clearly.
os.environ.setdefault("CAMDEMO_OFFLINE", "1")

from tests.helpers import ASSETS  # noqa: E402
from tests.helpers.networks import TinyGapNet, tiny_input as make_tiny_input  # noqa: E402
from tests.helpers.registry import isolated_registry as _isolated_registry  # noqa: E402
from tests.helpers.server import launched_demo  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the launched app (``served_demo``, ``server`` or a fixture built on them) is in the
    ``server`` tier, marked or not: the fast tier never starts the app by accident."""
    for item in items:
        if {"served_demo", "data_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture
def tiny_gap_net() -> TinyGapNet:
    return TinyGapNet().eval()


@pytest.fixture
def tiny_input() -> torch.Tensor:
    """x = [[1, 2], [3, 4]] as a 1×1×2×2 batch."""
    return make_tiny_input()


@pytest.fixture(scope="session")
def cat_image() -> np.ndarray:
    from camdemo import load_image
    return load_image(ASSETS / "chelsea_cat.jpg")


@pytest.fixture(scope="session")
def pair_image() -> np.ndarray:
    from camdemo import load_image
    return load_image(ASSETS / "cat_and_coffee.jpg")


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """Backbones registered or re-pointed, models loaded and weight-file verdicts of this test vanish with it;
    models loaded before stay usable (``tests.helpers.registry.isolated_registry``)."""
    with _isolated_registry():
        yield


@pytest.fixture(scope="module")
def served_demo():
    """The real app, launched on a free local port for the tests of one module (its ``gr.Blocks``)."""
    with launched_demo() as demo:
        yield demo


@pytest.fixture(scope="module")
def data_server() -> Iterator[str]:
    """The URL of the real app with the models of data of ``tests.helpers.data_models`` registered in its process
    through ``CAMDEMO_EXTRA_MODELS``, as an operator would; the registry is the module's own."""
    from camdemo.app.extra_models import ENVIRONMENT

    os.environ[ENVIRONMENT] = "tests.helpers.data_models"
    try:
        with _isolated_registry(), launched_demo() as demo:
            yield demo.local_url
    finally:
        del os.environ[ENVIRONMENT]


@pytest.fixture(scope="module")
def server(served_demo) -> str:
    """The URL of the real app launched for this module."""
    return served_demo.local_url
