"""One writer for a result's files: the command line and the app's downloads save the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import camdemo
from camdemo import cli, saving

from tests.helpers import ASSETS


@pytest.fixture(scope="module")
def result() -> camdemo.Explanation:
    return camdemo.explain(ASSETS / "shapes_two.png", backbone="shapes_gapnet", method="gradcam", colormap="jet")


def test_the_cli_and_the_app_write_identical_files_for_one_result(result, tmp_path, monkeypatch):
    from camdemo.app import downloads

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # the app's folders go under tmp_path
    cli.write_result(result, ASSETS / "shapes_two.png", tmp_path, "shapes_two")
    app_files = [Path(downloads.written(path)) for path in
                 downloads.write_downloads(result, result.overlay, "shapes_two.png", "a test")]
    assert [path.name for path in app_files] == [f"shapes_two_shapes_gapnet_gradcam_class{result.class_index}{end}"
                                                 for end in ("_overlay.png", "_heatmap.npy", "_heatmap.png")]
    for app_file, end in zip(app_files, ("_overlay.png", "_heatmap.npy", "_heatmap.png")):
        assert app_file.read_bytes() == (tmp_path / f"shapes_two{end}").read_bytes(), end
    heatmap = np.load(app_files[1])
    assert heatmap.dtype == np.float32 and 0.0 <= heatmap.min() and heatmap.max() == 1.0
    np.testing.assert_array_equal(heatmap, result.heatmap)


def test_the_files_hold_the_result(result, tmp_path):
    """heatmap PNG = round(255 · heatmap); overlay PNG = the overlay (lossless); JSON = predictions and settings."""
    files = saving.write_result(result, tmp_path, "x", source="shapes_two.png")
    assert files == saving.ResultFiles(tmp_path / "x_overlay.png", tmp_path / "x_heatmap.npy",
                                       tmp_path / "x_heatmap.png", tmp_path / "x.json")
    gray = cv2.imread(str(files.heatmap_png), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(gray, np.rint(result.heatmap * 255).astype(np.uint8))
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(files.overlay)), cv2.COLOR_BGR2RGB), result.overlay)
    record = json.loads(files.record.read_text())
    assert record["image"] == "shapes_two.png" and record["colormap"] == "jet" and record["method"] == "gradcam"
    assert record["predictions"][0] == result.predictions[0]._asdict()
    assert saving.write_result(result, tmp_path, "y", with_record=False).record is None
    assert not (tmp_path / "y.json").exists()


def test_a_picture_that_cannot_be_written_raises(tmp_path):
    with pytest.raises(OSError):
        saving.write_image(tmp_path / "missing folder" / "x.png", np.zeros((4, 4, 3), np.uint8))
