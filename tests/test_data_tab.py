"""The *Matrices & signals* tab: its handlers called as the page calls them, then the real server through
gradio_client, with the test models of ``tests.helpers.data_models`` registered in the server's process by
``CAMDEMO_EXTRA_MODELS`` (``camdemo.app.extra_models``), as an operator would register a model of their own.

Grad-CAM of "high" at ``features`` is ReLU(x) times a positive constant (see ``data_models``), so the rows with the
largest values lead the profiles.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file
from PIL import Image

import camdemo
from camdemo.models import registry
from camdemo import saving
from camdemo.app.data_views import NO_DATA_MODEL, data_backbone_choices, data_method_choices, data_status
from camdemo.app.examples import data_examples
from camdemo.app.extra_models import ENVIRONMENT, register_extra_models
from camdemo.app.results import recent_results
from camdemo.app.handlers.data import (CHOOSE_METHOD, CHOOSE_MODEL, on_data_method_change, on_data_model_change,
                                       run_data)
from camdemo.app.uploads import MAX_DATA_MB, NOT_A_DATA_UPLOAD, DataUpload
from camdemo.app.views import backbone_choices
from tests.helpers.data_models import MATRIX, MATRIX_SHAPE, SIGNAL, register
from tests.helpers.server import call


@pytest.fixture
def data_models(isolated_registry):
    register()


def bright_rows(tmp_path: Path, rows=(3, 4), name: str = "bright.npy") -> Path:
    matrix = np.zeros(MATRIX_SHAPE, np.float32)
    matrix[list(rows)] = 1.0
    matrix[10] = 0.25
    np.save(tmp_path / name, matrix)
    return tmp_path / name


def test_the_tab_shows_the_panel_predictions_profiles_and_what_the_model_saw(data_models, tmp_path):
    shown = run_data(str(bright_rows(tmp_path)), MATRIX, "gradcam", None, "auto", progress=None)
    assert Image.open(shown.data_panel).mode == "RGB" and shown.previous_panel is None
    assert "| high (1) |" in shown.data_predictions.splitlines()[2]  # the top-1, with its probability
    assert shown.data_profiles[:3] == [["row", 3, pytest.approx(shown.data_profiles[0][2])],
                                       ["row", 4, pytest.approx(shown.data_profiles[0][2])],
                                       ["row", 10, pytest.approx(shown.data_profiles[0][2] / 4)]]
    assert "16 × 24 matrix" in shown.data_summary and "no resizing, no normalization" in shown.data_summary
    assert np.load(shown.download_map).shape == MATRIX_SHAPE
    assert Path(shown.download_profiles).read_text().startswith("axis,index,sum,rank\nrow,0,")


def test_sharing_the_scale_draws_the_previous_map_on_the_same_scale(data_models, tmp_path):
    """The second map is 4 × the first (values 4 where they were 1): one scale, ±the larger maximum."""
    first = run_data(str(bright_rows(tmp_path)), MATRIX, "gradcam", None, "1", progress=None)
    stronger = np.load(bright_rows(tmp_path)) * 4
    np.save(tmp_path / "stronger.npy", stronger)
    second = run_data(str(tmp_path / "stronger.npy"), MATRIX, "gradcam", None, "1", share_scale=True,
                      previous_key=first.data_result, progress=None)
    largest = float(np.abs(np.load(second.download_map)).max())
    assert largest == pytest.approx(4 * float(np.abs(np.load(first.download_map)).max()), rel=1e-5)
    assert second.previous_panel is not None and f"−{largest:.3g} to +{largest:.3g}" in second.data_summary
    alone = run_data(str(tmp_path / "stronger.npy"), MATRIX, "gradcam", None, "1", share_scale=False,
                     previous_key=first.data_result, progress=None)
    assert alone.previous_panel is None
    # The stronger map's own scale is the shared one: its panel is as without sharing. The first map, drawn again on
    # that scale, looks 4 × paler than in its own panel.
    assert np.array_equal(np.asarray(Image.open(alone.data_panel)), np.asarray(Image.open(second.data_panel)))
    previous = np.asarray(Image.open(second.previous_panel))
    assert np.array_equal(previous, saving.data_picture(recent_results.get(first.data_result), largest))
    assert not np.array_equal(previous, np.asarray(Image.open(first.data_panel)))


def test_bad_files_and_raw_values_get_sentences(data_models, tmp_path):
    broken = np.ones(MATRIX_SHAPE)
    broken[1, 2] = np.inf
    np.save(tmp_path / "inf.npy", broken)
    with pytest.raises(gr.Error, match=r"1 infinite value\(s\), the first at \(1, 2\)"):
        run_data(str(tmp_path / "inf.npy"), MATRIX, "gradcam", None, "auto", progress=None)
    np.save(tmp_path / "signal.npy", np.ones(128))
    with pytest.raises(gr.Error, match=r"reads a matrix \(H × W\); this input has shape \(128,\)"):
        run_data(str(tmp_path / "signal.npy"), MATRIX, "gradcam", None, "auto", progress=None)
    with pytest.raises(gr.Error, match=CHOOSE_MODEL):
        run_data(str(tmp_path / "signal.npy"), "efficientnet_lite0", "gradcam", None, "auto", progress=None)
    with pytest.raises(gr.Error, match="Choose one of the listed methods: gradcam"):
        run_data(str(tmp_path / "signal.npy"), SIGNAL, "guided_backprop", None, "auto", progress=None)  # not offered
    assert CHOOSE_METHOD.startswith("Choose one of the listed methods")


def test_a_regression_shows_its_value_not_a_probability(isolated_registry, tmp_path):
    """One output, the mean of the matrix (a 1×1 conv of weight 1, GAP, a linear layer of weight 1). By hand: rows
    3 and 4 hold 1 and row 10 holds 0.25, so the mean is (2 + 0.25) · 24 / (16 · 24) = 0.140625."""
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(1, 1))
    with torch.no_grad():
        for layer in (net[0], net[3]):
            layer.weight.fill_(1.0)
            layer.bias.zero_()
    camdemo.register_backbone(camdemo.wrap_model(net, name="mean_value", data_shape=MATRIX_SHAPE,
                                                 labels=["mean"], output="regression"))
    shown = run_data(str(bright_rows(tmp_path)), "mean_value", "gradcam", None, "auto", progress=None)
    assert shown.data_predictions.splitlines()[:3] == ["| output | value |", "| --- | ---: |", "| mean (0) | 0.1406 |"]
    assert "p = " not in shown.data_summary and "for output 0 'mean'" in shown.data_summary


def test_the_controls_follow_the_model_and_the_method(data_models):
    data_models = [name for _, name in data_backbone_choices()]
    assert data_models[-2:] == [MATRIX, SIGNAL] and {"digits_gapnet", "beam_gapnet"} <= set(data_models)
    assert {name for _, name in backbone_choices()}.isdisjoint(data_models)  # not offered for photos
    signal = on_data_model_change(SIGNAL, "gradcam", "features")  # a Conv1d model: its N×C×L layers as 1-row maps
    assert signal.data_method["value"] == "gradcam" and signal.data_layer["choices"][0][1] == "features"
    assert "128-sample signal" in signal.data_status and "no resizing, no normalization" in signal.data_status
    names = [name for _, name in data_method_choices(MATRIX)]
    assert names[0] == "gradcam" and "occlusion" in names and "guided_backprop" not in names
    occlusion = on_data_method_change(MATRIX, "occlusion", "features", None, None, 4, 2)
    assert occlusion.occlusion_window["visible"] and not occlusion.ig_steps["visible"]
    assert occlusion.data_layer == {"__type__": "update", "value": None, "interactive": False}
    # Occlusion.passes bounds the positions by a square of the longer side: ((24 − 4) // 2 + 1)² + 1 = 122 forward
    # passes of ½ each (the 7 × 11 positions of a 16 × 24 matrix are fewer).
    assert "for a 16 × 24 matrix: 61 passes" in occlusion.data_cost


def test_without_a_data_model_the_tab_says_so(isolated_registry):
    for name in ("digits_gapnet", "beam_gapnet"):  # the shipped ones, gone for this test only
        registry._SPECS.pop(name)
    assert data_backbone_choices() == [] and data_status(None) == NO_DATA_MODEL
    with pytest.raises(gr.Error, match="No model of matrices or signals is registered"):
        run_data(None, None, None, None, None, progress=None)


def test_an_example_is_one_line_and_shown_only_with_its_model(data_models, tmp_path):
    path = bright_rows(tmp_path)
    entries = [(str(path), MATRIX, "two bright rows"), (str(path), "not_registered", "left out")]
    assert data_examples(entries) == [(str(path), MATRIX, "two bright rows")]


def test_the_upload_component_opens_only_uploads_of_bounded_size(tmp_path):
    upload = DataUpload(type="filepath")
    outside = bright_rows(tmp_path)
    with pytest.raises(gr.Error, match=NOT_A_DATA_UPLOAD):
        upload.preprocess(upload.data_model(path=str(outside)))
    inside = Path(get_upload_folder()) / uuid.uuid4().hex
    inside.mkdir(parents=True)
    try:
        shutil.copy(outside, inside / "ok.npy")
        assert upload.preprocess(upload.data_model(path=str(inside / "ok.npy"))) == str((inside / "ok.npy").resolve())
        with open(inside / "huge.csv", "wb") as huge:
            huge.truncate(MAX_DATA_MB * 2**20 + 1)  # sparse: no disk used
        with pytest.raises(gr.Error, match=f"up to {MAX_DATA_MB} MB"):
            upload.preprocess(upload.data_model(path=str(inside / "huge.csv")))
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def test_extra_models_are_named_by_the_operator(isolated_registry):
    assert register_extra_models({ENVIRONMENT: " tests.helpers.data_models "}) == ["tests.helpers.data_models"]
    assert MATRIX in {info.name for info in camdemo.backbones()}
    with pytest.raises(camdemo.CamdemoError, match="'no_such_module', which could not be imported"):
        register_extra_models({ENVIRONMENT: "no_such_module"})
    with pytest.raises(camdemo.CamdemoError, match="has no register\\(\\) function"):
        register_extra_models({ENVIRONMENT: "tests.helpers"})


# --- the real server (``data_server``, in conftest.py; the ``server`` tier) ---------------------------------------


def test_a_npy_upload_through_the_server_and_a_bad_one_after_it(data_server, tmp_path):
    client = Client(data_server, verbose=False)
    settings = ("gradcam", None, "auto", 128, "black", 4, 2, False)
    panel, previous, predictions, profiles, summary, map_file, profiles_file = client.predict(
        handle_file(str(bright_rows(tmp_path))), MATRIX, *settings, api_name="/explain_data")
    assert np.asarray(Image.open(panel)).shape[2] == 3 and previous is None
    assert "| high (1) |" in predictions and "16 × 24 matrix" in summary
    assert [row[:2] for row in profiles["data"][:2]] == [["row", 3], ["row", 4]]
    assert np.load(map_file).shape == MATRIX_SHAPE and Path(profiles_file).read_text().startswith("axis,")
    (tmp_path / "ragged.csv").write_text("0.1,0.2,0.3\n0.4,0.5\n")
    with pytest.raises(Exception, match="line 2 has 2 values and the first row 3"):
        client.predict(handle_file(str(tmp_path / "ragged.csv")), MATRIX, *settings, api_name="/explain_data")
    event, answer = call(data_server, "explain_data", [{"path": "/etc/passwd"}, MATRIX, *settings])
    assert event == "error" and NOT_A_DATA_UPLOAD in answer and "passwd" not in answer
    np.savetxt(tmp_path / "wave.csv", np.sin(np.linspace(0, 9, 128))[None], delimiter=",")
    *_, summary, map_file, _ = client.predict(handle_file(str(tmp_path / "wave.csv")), SIGNAL, "occlusion", None,
                                              "1", 128, "black", 8, 4, False, api_name="/explain_data")
    assert "128-sample signal" in summary and np.load(map_file).shape == (128,)  # still serving
