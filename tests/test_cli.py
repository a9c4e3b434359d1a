"""The command line, run as a user would: files and folders in, overlays, heatmaps and JSON out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import camdemo
from camdemo import cli

from tests.helpers import ASSETS


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(ASSETS / "chelsea_cat.jpg", folder)
    shutil.copy(ASSETS / "coffee.jpg", folder / "sub")
    shutil.copy(ASSETS / "coffee.jpg", folder / "coffee.jpg")  # same name twice: outputs must not collide
    (folder / "sub" / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    return folder


def test_explain_folder_writes_every_output_and_reports_the_bad_file(photo_folder, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["explain", str(photo_folder), "--class", "espresso", "--out", str(out), "--quiet",
                     "--batch-size", "2"])
    assert code == 1  # one image failed
    printed = capsys.readouterr().out
    assert "broken.jpg" in printed and "not an image" in printed and "explained 3 of 4" in printed
    records = sorted(out.glob("*.json"))
    assert [r.name for r in records] == ["chelsea_cat.json", "coffee-2.json", "coffee.json"]
    for record in records:
        data = json.loads(record.read_text())
        assert data["class_index"] == 967 and data["class_label"] == "espresso" and len(data["predictions"]) == 5
        stem = record.stem
        heatmap = np.load(out / f"{stem}_heatmap.npy")
        overlay = Image.open(out / f"{stem}_overlay.png")
        gray = Image.open(out / f"{stem}_heatmap.png")
        assert overlay.size == gray.size == (heatmap.shape[1], heatmap.shape[0]) and gray.mode == "L"
        assert heatmap.dtype == np.float32 and 0.0 <= heatmap.min() and heatmap.max() <= 1.0
    cat = json.loads((out / "chelsea_cat.json").read_text())
    assert cat["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}


def test_all_good_images_exit_zero_and_bad_settings_exit_two(tmp_path, capsys):
    assert cli.main(["explain", str(ASSETS / "chelsea_cat.jpg"), "--method", "cam", "--out", str(tmp_path),
                     "--quiet"]) == 0
    assert cli.main(["explain", str(ASSETS / "chelsea_cat.jpg"), "--layer", "nope", "--out", str(tmp_path / "x"),
                     "--quiet"]) == 2
    assert "Choose one of: head" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing written when the settings are wrong
    assert cli.main(["explain", str(ASSETS / "chelsea_cat.jpg"), "--class", "espres", "--quiet"]) == 2
    assert "Did you mean: espresso maker, espresso" in capsys.readouterr().err


@pytest.mark.slow
def test_method_settings_and_sign_from_the_command_line(tmp_path, capsys):
    import json
    assert cli.main(["explain", str(ASSETS / "cat_and_coffee.jpg"), "--method", "integrated_gradients", "--option",
                     "steps=16", "--option", "tolerance=1.0", "--option", "baseline=gray", "--sign", "both",
                     "--class", "967", "--out", str(tmp_path), "--quiet"]) == 0
    (record,) = [json.loads(path.read_text()) for path in tmp_path.glob("*.json")]
    assert record["method"] == "integrated_gradients" and record["class_index"] == 967
    assert cli.main(["explain", str(ASSETS / "chelsea_cat.jpg"), "--method", "occlusion", "--option", "stride",
                     "--out", str(tmp_path / "y"), "--quiet"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert cli.main(["explain", str(ASSETS / "chelsea_cat.jpg"), "--method", "saliency", "--sign", "both",
                     "--out", str(tmp_path / "z"), "--quiet"]) == 2
    assert "no sign" in capsys.readouterr().err


def test_contrast_and_direction_from_the_command_line(tmp_path):
    """--class tabby --versus espresso: "why the cat rather than the espresso", recorded in the JSON."""
    assert cli.main(["explain", str(ASSETS / "cat_and_coffee.jpg"), "--method", "cam", "--class", "tabby",
                     "--versus", "espresso", "--out", str(tmp_path), "--quiet"]) == 0
    (record,) = [json.loads(path.read_text()) for path in tmp_path.glob("*.json")]
    assert (record["class_index"], record["versus"], record["direction"]) == (281, 967, "up")
    assert "rather than 'espresso'" in record["note"]
    assert cli.main(["explain", str(ASSETS / "coffee.jpg"), "--method", "cam", "--direction", "down",
                     "--out", str(tmp_path / "down"), "--quiet"]) == 0
    (record,) = [json.loads(path.read_text()) for path in (tmp_path / "down").glob("*.json")]
    assert record["direction"] == "down" and "lowers the score" in record["note"]


def test_precision_from_the_command_line_is_recorded(tmp_path):
    assert cli.main(["explain", str(ASSETS / "coffee.jpg"), "--method", "cam", "--precision", "half", "--device",
                     "cpu", "--out", str(tmp_path), "--quiet"]) == 0
    (record,) = [json.loads(path.read_text()) for path in tmp_path.glob("*.json")]
    assert record["precision"] == "bfloat16"  # "half" on a CPU


def test_list_shows_layers_methods_and_reasons(capsys):
    assert cli.main(["list", "vgg16"]) == 0
    text = capsys.readouterr().out
    assert "features.29 · 512×14×14" in text and "CAM: unavailable: VGG-16 flattens" in text
    assert "Integrated Gradients: available [steps=128" in text


def test_download_weights_reports_ready_files_and_packaged_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    torch.save(torch.nn.Module.state_dict(cli.get_spec("resnet18").build()),
               tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    assert cli.main(["download-weights", "resnet18", "efficientnet_lite0", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "resnet18: ready" in text and "efficientnet_lite0: ships with camdemo" in text
    assert cli.main(["download-weights", "resnet9", "--quiet"]) == 1


@pytest.mark.slow
def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "camdemo", "list", "shapes_gapnet"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "features · 96×12×12" in done.stdout


def test_list_says_how_to_get_packaged_weights_that_are_missing(isolated_registry, capsys):
    """ShapesGapNet's weights ship in assets/, not from a download: where they are missing (an installed wheel
    has no assets/), `list` says how to get them instead of promising a download."""
    import dataclasses

    from camdemo.models import get_spec, register_backbone
    register_backbone(dataclasses.replace(get_spec("shapes_gapnet"), weights_file=lambda: None))
    assert cli.main(["list", "shapes_gapnet"]) == 0
    out = capsys.readouterr().out
    assert "weights not on this machine: Train it with `python -m camdemo.teaching.train`" in out
    assert "download" not in out.splitlines()[0]


def test_a_misspelt_class_name_gets_close_suggestions():
    with pytest.raises(camdemo.CamdemoError, match="'espreso' is not a class of EfficientNet-Lite0. Did you mean: "
                                                   "espresso"):
        cli.parse_class("espreso", "efficientnet_lite0")
    assert cli.parse_class("Espresso", "efficientnet_lite0") == 967
