"""Data that is not a photo: reading matrices and signals (``camdemo.data.load_array``), explaining them as they are
(no resizing, no normalization) with a model of one's own, and the row/column profiles of the answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import camdemo
from camdemo.data import load_array, profiles
from camdemo.drawing.matrix import data_panel


def _matrix_net() -> nn.Module:
    """A GAP net on 1×H×W matrices whose class 1 fires on large values in rows 3–5 (a bump, by hand):
    a 1×1 conv that keeps the input, a fixed row mask, GAP, and a linear layer."""

    class RowNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Conv2d(1, 2, 1)
            self.fc = nn.Linear(2, 2, bias=False)
            with torch.no_grad():
                self.features.weight.copy_(torch.tensor([1.0, 0.0]).view(2, 1, 1, 1))
                self.features.bias.zero_()
                self.fc.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.features(x)).mean(dim=(2, 3)))

    return RowNet().eval()


def test_a_matrix_is_explained_at_its_own_resolution_without_normalization():
    """CAM of class 1 is w·f = the matrix itself (f1 = ReLU(x), weight 1): the rows with large values win."""
    matrix = np.zeros((12, 7), np.float32)
    matrix[3:6] = 2.5
    spec = camdemo.wrap_model(_matrix_net(), data_shape=(12, 7), labels=["quiet", "bump"])
    result = camdemo.explain(matrix, model=spec, method="cam", class_index=1)
    assert result.raw_map.shape == (12, 7) and np.allclose(result.raw_map, matrix)  # the values as they are
    assert result.heatmap.shape == (12, 7) and result.data is not None and np.array_equal(result.data, matrix)
    assert set(result.profiles(top=3).top_rows) == {3, 4, 5}
    other_size = camdemo.explain(np.ones((30, 9), np.float32), model=spec, method="gradcam")  # any size
    assert other_size.raw_map.shape == (30, 9)


def test_a_signal_through_a_conv1d_model_with_input_gradients():
    """A 1-D model (N×1×L): saliency equals |∂y/∂x| computed directly, one value per sample."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                        nn.Linear(4, 3)).eval()
    signal = np.sin(np.linspace(0, 12, 200)).astype(np.float32)
    spec = camdemo.wrap_model(net, data_shape=(200,))
    result = camdemo.explain(signal, model=spec, method="saliency", class_index=2)
    x = torch.from_numpy(signal)[None, None].requires_grad_(True)
    (gradient,) = torch.autograd.grad(net(x)[0, 2], x)
    assert result.raw_map.shape == (1, 200)
    assert np.allclose(result.raw_map[0], gradient.abs()[0, 0].numpy(), atol=1e-6)
    assert result.profiles().columns.shape == (200,)
    assert [info.name for info in camdemo.layers(spec)] == ["0"]  # the conv: N×C×L, read as a C×1×L map
    gradcam = camdemo.explain(signal, model=spec, method="gradcam", layer="0", class_index=2)
    x = torch.from_numpy(signal)[None, None]
    features = net[0](x).detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(net[4](net[3](net[2](net[1](features))))[0, 2], features)
    expected = (gradient[0].mean(dim=1)[:, None] * features[0]).sum(0).detach().numpy()  # Grad-CAM on a row
    assert gradcam.raw_map.shape == (1, 200) and np.allclose(gradcam.raw_map[0], expected, atol=1e-6)


def test_integrated_gradients_baseline_is_stated_in_data_units():
    """For data the black baseline is the constant 0: IG's completeness holds against f(0)."""
    spec = camdemo.wrap_model(_matrix_net(), data_shape=(12, 7))
    matrix = np.random.default_rng(1).random((12, 7), dtype=np.float32)
    result = camdemo.explain(matrix, model=spec, method="integrated_gradients", class_index=1,
                             options={"steps": 16, "baseline": "black"})
    net = _matrix_net()
    with torch.no_grad():
        difference = float(net(torch.from_numpy(matrix)[None, None])[0, 1] - net(torch.zeros(1, 1, 12, 7))[0, 1])
    assert float(result.raw_map.sum()) == pytest.approx(difference, rel=0.02)


def test_profiles_by_hand():
    found = profiles(np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]]), top=2)
    assert np.allclose(found.rows, [-0.5, 2.0]) and np.allclose(found.columns, [4.0, -2.0, -0.5])
    assert found.top_rows == (1, 0) and found.top_columns == (0, 2)


def test_reading_npy_and_csv(tmp_path):
    matrix = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.save(tmp_path / "m.npy", matrix)
    (tmp_path / "m.csv").write_text("a,b,c,d\n" + "\n".join(",".join(map(str, row)) for row in matrix) + "\n")
    (tmp_path / "s.csv").write_text("0.5\n1.5\n2.5\n")
    assert np.array_equal(load_array(tmp_path / "m.npy"), matrix.astype(np.float32))
    assert np.array_equal(load_array(tmp_path / "m.csv"), matrix.astype(np.float32))  # the header line is skipped
    assert np.array_equal(load_array((tmp_path / "m.csv").read_bytes()), matrix.astype(np.float32))
    assert load_array(tmp_path / "s.csv").shape == (3,)  # one column: a signal


@pytest.mark.parametrize("data, message", [
    (np.array([[1.0, np.nan], [np.inf, 0.0]]), r"2 NaN and infinite value\(s\), the first at \(0, 1\)"),
    (np.zeros((2, 2, 2, 2)), "4 dimensions"),
    (np.array([["a", "b"]]), "camdemo needs numbers"),
    (np.zeros((0, 3)), "is empty"),
    (b"1,2,3\n4,5\n", "line 2 has 2 values and the first row 3"),
    (b"1,2\n3,x\n", "Line 2 of the uploaded file has 'x'"),
    (b"\xff\xfe\x00", "neither a .npy file nor CSV text"),
    (b"", "is empty"),
])
def test_bad_data_gets_a_sentence(data, message):
    with pytest.raises(camdemo.CamdemoError, match=message):
        load_array(data)


def test_a_hundred_million_cells_are_refused_from_the_header(tmp_path):
    """A 10⁴ × 10⁴ .npy is refused from its header: its 400 MB of values are never read."""
    path = tmp_path / "huge.npy"
    with open(path, "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (10_000, 10_000)})
    assert path.stat().st_size < 1024  # only the header exists
    with pytest.raises(camdemo.CamdemoError, match="too large .*100,000,000 values"):
        load_array(path)
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(camdemo.CamdemoError, match="pickled array"):
        load_array(pickled)


def test_a_model_that_cannot_take_the_data_says_so():
    spec = camdemo.wrap_model(_matrix_net(), data_shape=(12, 7))
    with pytest.raises(camdemo.CamdemoError, match="reads a matrix"):
        camdemo.explain(np.zeros(5, np.float32), model=spec, method="saliency")
    with pytest.raises(camdemo.CamdemoError, match=r"data_shape must be \(L,\)"):
        camdemo.wrap_model(_matrix_net(), data_shape=(1, 2, 3, 4))


def test_the_data_panel_draws_the_matrix_map_and_profiles():
    matrix = np.zeros((10, 16), np.float32)
    matrix[2] = 1.0
    panel = data_panel(matrix, matrix * 2.0)
    assert panel.dtype == np.uint8 and panel.ndim == 3 and panel.shape[1] > 2 * 16
    signal = data_panel(np.sin(np.linspace(0, 6, 50)), np.cos(np.linspace(0, 6, 50))[None, :])
    assert signal.shape[1] > 50


def test_occlusion_hides_windows_of_samples_on_a_signal():
    """SignalNet's "high" = mean ReLU(x) over L = 128 samples. With window = stride = 4 each sample is hidden once,
    by b = 128/255: the drop of a window of ones is 4(1 − b)/128, of a window of zeros −4b/128 (by hand)."""
    from tests.helpers.data_models import signal_spec

    signal = np.zeros(128, np.float32)
    signal[40:44] = 1.0
    result = camdemo.explain(signal, model=signal_spec(), method="occlusion", class_index=1,
                             options={"patch": 4, "stride": 4})
    b = 128 / 255
    expected = np.full(128, -4 * b / 128)
    expected[40:44] = 4 * (1 - b) / 128
    np.testing.assert_allclose(result.raw_map[0], expected, atol=1e-6)


def test_a_data_models_cost_is_timed_here_and_grows_with_the_data(isolated_registry):
    """Not in the speed table: one pass is timed on this machine, once (the same value the second time), and 10 × 10
    times the cells cost 100 times as much. A data model that cannot run here (no weights) is assumed slow."""
    import dataclasses

    from camdemo.cost import UNKNOWN_PASS_SECONDS, pass_seconds
    from tests.helpers.data_models import matrix_spec

    spec = matrix_spec()
    timed = pass_seconds(spec)
    assert 0 < timed == pass_seconds(spec) and timed != UNKNOWN_PASS_SECONDS
    own = camdemo.estimate_cost(backbone=spec, method="integrated_gradients")
    larger = camdemo.estimate_cost(backbone=spec, method="integrated_gradients", data_shape=(160, 240))
    assert own.passes == larger.passes == 129 and larger.seconds == pytest.approx(100 * own.seconds)
    assert own.seconds == pytest.approx(129 * timed)  # 128 steps, two forward passes (½ each)
    missing = dataclasses.replace(spec, name="no_weights_here", module=None, weights_file=lambda: None)
    camdemo.register_backbone(missing)
    assert pass_seconds(missing) == UNKNOWN_PASS_SECONDS


def test_a_typo_in_the_first_row_is_an_error_not_a_header(tmp_path):
    """A first line with numbers and a typo is not a header: it is refused, not dropped without a word."""
    (tmp_path / "typo.csv").write_text("1,2,x\n3,4,5\n")
    with pytest.raises(camdemo.CamdemoError, match="Line 1 of 'typo.csv' has 'x'"):
        load_array(tmp_path / "typo.csv")
    (tmp_path / "header.csv").write_text("a,b,c\n3,4,5\n6,7,8\n")
    assert load_array(tmp_path / "header.csv").shape == (2, 3)


def test_values_beyond_float32_are_not_called_missing():
    with pytest.raises(camdemo.CamdemoError, match="beyond float32's range"):
        load_array(np.full((4, 4), 1e300))


def test_a_photo_given_to_a_data_model_is_told_so():
    """The shipped beam model reads spectrogram matrices: a photo's path gets a sentence that says so."""
    with pytest.raises(camdemo.CamdemoError, match="reads data .* not photos; 'coffee.jpg' looks like a photo"):
        camdemo.explain("assets/coffee.jpg", backbone="beam_gapnet", method="cam")
