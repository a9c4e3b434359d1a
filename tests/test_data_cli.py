"""Matrices and signals on the command line: a folder of .npy and .csv files in, for each good one the data panel,
the raw map at the data's resolution, the row/column profiles and the predictions out; each bad one its sentence.

The models are ``tests.helpers.data_models``: output "high" (1) is the mean of ReLU(x), so Grad-CAM of it at
``features`` is ReLU(x) times a positive constant, and the rows holding the largest values come first.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from camdemo import cli
from tests.helpers.data_models import MATRIX, MATRIX_SHAPE, SIGNAL, register


@pytest.fixture
def data_models(isolated_registry):
    register()


@pytest.fixture
def data_folder(tmp_path):
    """good.npy (rows 3 and 4 hold 1.0, row 10 holds 0.5), good.csv (row 7 holds 2.0), a NaN file, a ragged CSV, and
    a text file that a folder search leaves alone."""
    folder = tmp_path / "runs"
    (folder / "sub").mkdir(parents=True)
    matrix = np.zeros(MATRIX_SHAPE, np.float32)
    matrix[3:5], matrix[10] = 1.0, 0.5
    np.save(folder / "good.npy", matrix)
    other = np.zeros(MATRIX_SHAPE)
    other[7] = 2.0
    np.savetxt(folder / "sub" / "good.csv", other, delimiter=",")
    broken = matrix.copy()
    broken[2, 5] = np.nan
    np.save(folder / "nan.npy", broken)
    (folder / "ragged.csv").write_text("1,2,3\n4,5\n")
    (folder / "notes.txt").write_text("not data, and not picked up from a folder")
    return folder


def test_a_folder_of_matrices_writes_each_result_and_reports_each_bad_file(data_models, data_folder, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["explain", str(data_folder), "--backbone", MATRIX, "--method", "gradcam", "--class", "high",
                     "--out", str(out), "--quiet"])
    assert code == 1  # two files failed, as for images
    printed = capsys.readouterr().out
    assert "explained 2 of 4 data files" in printed
    assert "nan.npy" in printed and "1 NaN value(s), the first at (2, 5)" in printed
    assert "ragged.csv" in printed and "line 2 has 2 values and the first row 3" in printed
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"good{suffix}" for suffix in ("_panel.png", "_map.npy", "_profiles.csv", ".json", "-2_panel.png",
                                       "-2_map.npy", "-2_profiles.csv", "-2.json"))
    for stem, bright in (("good", [3, 4]), ("good-2", [7])):
        record = json.loads((out / f"{stem}.json").read_text())
        assert record["data_shape"] == list(MATRIX_SHAPE) and record["class_label"] == "high"
        assert record["top_rows"][:len(bright)] == bright
        assert 0.5 < record["predictions"][0]["probability"] < 1 and record["predictions"][0]["label"] == "high"
        raw = np.load(out / f"{stem}_map.npy")
        assert raw.shape == MATRIX_SHAPE and raw.dtype == np.float32
        assert np.argsort(-raw.sum(axis=1), kind="stable")[:len(bright)].tolist() == bright
        with open(out / f"{stem}_profiles.csv") as stream:
            rows = list(csv.DictReader(stream))
        assert len(rows) == 16 + 24 and [row["axis"] for row in rows].count("row") == 16
        firsts = [row for row in rows if row["rank"] == "1"]
        assert [(row["axis"], int(row["index"])) for row in firsts][0] == ("row", bright[0])
        assert float(firsts[0]["sum"]) == pytest.approx(float(raw[bright[0]].sum()), rel=1e-5)
        assert Image.open(out / f"{stem}_panel.png").mode == "RGB"
    np.testing.assert_allclose(np.load(out / "good_map.npy")[3], np.load(out / "good_map.npy")[4])
    assert np.load(out / "good_map.npy")[3, 0] == pytest.approx(2 * np.load(out / "good_map.npy")[10, 0])


def test_a_signal_from_a_one_row_csv(data_models, tmp_path, capsys):
    """A 128-sample signal, one CSV row: saliency |∂(mean ReLU x)/∂x_i| = 1/128 where x_i > 0, else 0."""
    signal = np.where(np.arange(128) % 32 < 8, 1.0, -1.0)
    np.savetxt(tmp_path / "wave.csv", signal[None], delimiter=",")
    code = cli.main(["explain", str(tmp_path / "wave.csv"), "--backbone", SIGNAL, "--method", "saliency", "--class",
                     "1", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0 and "explained 1 of 1 data files" in capsys.readouterr().out
    raw = np.load(tmp_path / "out" / "wave_map.npy")
    assert raw.shape == (128,)
    np.testing.assert_allclose(raw, np.where(signal > 0, 1 / 128, 0.0), atol=1e-7)
    record = json.loads((tmp_path / "out" / "wave.json").read_text())
    assert record["data_shape"] == [128] and set(record["top_samples"]) <= {i for i in range(128) if signal[i] > 0}
    assert "top_rows" not in record
    with open(tmp_path / "out" / "wave_profiles.csv") as stream:
        assert {row["axis"] for row in csv.DictReader(stream)} == {"sample"}


def test_a_data_model_with_no_data_files_and_the_listing(data_models, tmp_path, capsys):
    (tmp_path / "photo.jpg").write_bytes(b"not looked at")
    assert cli.main(["explain", str(tmp_path), "--backbone", MATRIX, "--quiet"]) == 1
    assert "No .npy or .csv files found" in capsys.readouterr().err
    assert cli.main(["list", MATRIX]) == 0
    assert "data 16 × 24, 2 classes" in capsys.readouterr().out
