"""The data teaching networks: generators with known truth, shipped weights, maps that find the truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from camdemo.drawing.ground_truth import draw_row_bands, draw_true_box, row_runs
from camdemo.errors import CamdemoError
from camdemo.models import get_spec, load_model
from camdemo.teaching import beam, data_examples, digits
from camdemo.teaching.data_backbones import load_data_model, register_data_backbones
from camdemo.teaching.data_localization import evaluate_beam, evaluate_digits
from camdemo.teaching.data_networks import BeamGapNet, DigitsGapNet
from camdemo.teaching.data_train import TASKS, accuracy, train_loop

from tests.helpers import ASSETS


# --- cluttered digits --------------------------------------------------------------------------

def test_digit_canvases_are_deterministic_and_test_digits_are_never_trained_on():
    a, b = digits.make_canvas(digits.TEST, 13, 7), digits.make_canvas(digits.TEST, 13, 7)
    assert np.array_equal(a.canvas, b.canvas) and a.box == b.box and a.label == b.label
    assert not np.array_equal(digits.make_canvas(digits.TEST, 13, 8).canvas, a.canvas)
    train, test = set(digits.split_indices(digits.TRAIN)), set(digits.split_indices(digits.TEST))
    assert not train & test and len(train) + len(test) == 1797 and len(test) == 360
    assert all(digits.make_canvas(digits.TEST, 13, i).source in test for i in range(20))
    assert all(digits.make_canvas(digits.TRAIN, 11, i).source in train for i in range(20))


@pytest.mark.parametrize("index", range(30))
def test_digit_box_is_the_digit(index):
    """The box holds the digit's ink at each of its four edges (it is tight), and the label is the source's."""
    item = digits.make_canvas(digits.TRAIN, digits.TRAIN_SEED, index)
    x0, y0, x1, y1 = item.box
    assert 0 <= x0 < x1 <= digits.CANVAS and 0 <= y0 < y1 <= digits.CANVAS
    assert 8 <= x1 - x0 <= 29 and 14 <= y1 - y0 <= 29  # a digit of 20–28 px, slightly rotated
    inside = item.canvas[y0:y1, x0:x1]
    assert inside.max() >= 0.5
    for edge in (inside[0], inside[-1], inside[:, 0], inside[:, -1]):
        assert edge.max() >= digits.INK
    assert item.label == digits.source_digits()[1][item.source]
    assert item.canvas.dtype == np.float32 and 0.0 <= item.canvas.min() and item.canvas.max() <= 1.0


# --- the beam ---------------------------------------------------------------------------------

def test_modal_frequencies_are_euler_bernoulli():
    """f_1 = 1.8751² / (2π · 0.8²) · sqrt(210e9 · 0.005² / (12 · 7850)) = 0.5596 · 7.4655 / 0.64 = 6.527 Hz;
    f_n / f_1 = (β_n L / β_1 L)²: 6.267, 17.55, 34.39."""
    f = beam.modal_frequencies()
    assert f[0] == pytest.approx(6.527, abs=0.002)
    assert f[1:] / f[0] == pytest.approx([6.2669, 17.547, 34.386], rel=1e-4)
    for beta in beam.BETA_L:  # the roots of the cantilever's frequency equation
        assert math.cos(beta) * math.cosh(beta) == pytest.approx(-1.0, abs=1e-6)


def test_mode_shapes_have_no_bending_moment_at_the_free_end():
    """φ''(L) = 0 (no moment at the free end) checks σ_n; the root's curvature is 2 for every mode."""
    for mode in range(4):
        assert beam.curvature(mode, np.array([1.0]))[0] == pytest.approx(0.0, abs=1e-6)
        assert beam.curvature(mode, np.array([0.0]))[0] == pytest.approx(2.0)


def test_stiffness_loss_over_the_whole_beam_is_the_textbook_square_root():
    """A loss d over the whole beam leaves every mode with f · sqrt(1 − d); two halves share the energy."""
    assert beam.strain_energy_share(0.5, 1.0) == pytest.approx(np.ones(4), abs=1e-3)
    halves = beam.strain_energy_share(0.25, 0.5) + beam.strain_energy_share(0.75, 0.5)
    assert halves == pytest.approx(np.ones(4), abs=2e-3)
    f = beam.modal_frequencies()
    shares = beam.strain_energy_share(0.2)
    assert beam.damaged_frequencies(f, 0.2, 0.6) == pytest.approx(f * np.sqrt(1 - 0.6 * shares))
    assert shares[1] < 0.02  # x = 0.2 L is near mode 2's curvature node: mode 2 barely moves


def _peak_row(matrix: np.ndarray, frequency: float) -> int:
    """The row with the most energy within ±3 bins of ``frequency``."""
    center = int(round(frequency / beam.BIN_HZ))
    rows = np.arange(max(0, center - 3), min(beam.ROWS, center + 4))
    return int(rows[np.argmax(matrix[rows].max(axis=1))])


@pytest.mark.parametrize("index", range(12))
def test_spectrogram_peaks_sit_at_the_sample_frequencies(index):
    """Modes 2–4 peak in the bin of their (possibly damaged) frequency; a crack adds energy at 2·f_2."""
    sample = beam.make_sample(beam.TEST_SEED, 1000 + index)
    assert np.array_equal(sample.matrix, beam.make_sample(beam.TEST_SEED, 1000 + index).matrix)
    for frequency in sample.frequencies[1:]:
        assert abs(_peak_row(sample.matrix, frequency) - frequency / beam.BIN_HZ) <= 0.75, frequency
    if sample.label == beam.STIFFNESS_LOSS:
        moved = np.abs(sample.healthy_frequencies - sample.frequencies)
        assert moved.max() >= 1.5 * beam.BIN_HZ
        most = np.argmax(moved)  # the most moved mode changed its rows before and after the move
        for frequency in (sample.frequencies[most], sample.healthy_frequencies[most]):
            assert sample.changed_rows[int(round(frequency / beam.BIN_HZ))]
    elif sample.label == beam.CRACK:
        row = int(round(sample.added[0] / beam.BIN_HZ))
        assert sample.added[0] == pytest.approx(2 * sample.healthy_frequencies[1])
        assert np.array_equal(sample.frequencies, sample.healthy_frequencies)  # the modes stay where they were
        assert sample.changed_rows[row] and set(np.flatnonzero(sample.changed_rows)) <= set(range(row - 4, row + 5))
        assert sample.matrix[row].max() > np.median(sample.matrix) + 0.25  # 20 dB above the typical cell
    else:
        assert not sample.changed_rows.any() and np.array_equal(sample.frequencies, sample.healthy_frequencies)


def test_changed_rows_lie_around_the_moved_frequencies():
    """Measured from the noise-free twin, the changed rows still sit where physics says: within the window's
    main lobe and skirts (≤ 10 bins) of a moved mode or the added harmonic, never between the modes."""
    for index in range(60):
        sample = beam.make_sample(beam.TEST_SEED, 2000 + index, label=1 + index % 2)
        moved = np.abs(sample.healthy_frequencies - sample.frequencies) > 0.05
        near = [*sample.healthy_frequencies[moved], *sample.frequencies[moved], *sample.added]
        for row in np.flatnonzero(sample.changed_rows):
            assert min(abs(row - f / beam.BIN_HZ) for f in near) <= 10, (index, row, near)


# --- examples and drawing ----------------------------------------------------------------------

def test_shipped_examples_are_the_generators_output():
    for stem in (*data_examples.DIGIT_STEMS, *data_examples.BEAM_STEMS):
        assert np.array_equal(np.load(ASSETS / f"{stem}.npy"), data_examples.matrix(stem)), stem
        assert json.loads((ASSETS / f"{stem}.json").read_text()) == data_examples.truth(stem)
    assert {data_examples.truth(stem)["class"] for stem in data_examples.BEAM_STEMS} == set(beam.CLASSES)


def test_truth_is_drawn_where_it_is():
    black = np.zeros((32, 24, 3), np.uint8)  # an 8×6 matrix drawn 4× larger
    rows = np.zeros(8, bool)
    rows[2:4] = True
    assert row_runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 4), (6, 7)]
    drawn = draw_row_bands(black, rows)
    assert set(np.flatnonzero(drawn[:, 12].any(axis=1))) == {8, 15}  # rows 2–3 are pixels 8–15
    flipped = draw_row_bands(black, rows, lowest_row_at_bottom=True)
    assert set(np.flatnonzero(flipped[:, 12].any(axis=1))) == {16, 23}
    boxed = draw_true_box(black, (1, 2, 3, 5), (8, 6), label="")
    assert boxed[8, 4:12].all() and boxed[19, 4:12].all() and not boxed[:7].any()


# --- networks, weights and maps ----------------------------------------------------------------

def test_networks_refuse_photos_with_a_sentence():
    with pytest.raises(CamdemoError, match="N×1×H×W"):
        DigitsGapNet()(torch.zeros(1, 3, 60, 60))
    with pytest.raises(CamdemoError, match="64 rows"):
        BeamGapNet()(torch.zeros(1, 1, 32, 64))


@pytest.mark.parametrize("task", ["digits", "beam"])
def test_registered_backbones_load_the_shipped_weights_and_cam_head_holds(task, isolated_registry):
    register_data_backbones()
    name = TASKS[task].name
    spec = get_spec(name)
    assert spec.categories == TASKS[task].classes and spec.cam_head is not None
    model = load_model(name)
    inputs = torch.from_numpy(TASKS[task].batch("test", 0, 4)[0])
    with torch.no_grad():
        features = model.get_submodule("features")(model.block2(model.block1(
            inputs if task == "digits" else torch.cat([inputs, model.row_frequency.expand(4, 1, 64, 64)], 1))))
        head = model.get_submodule("classifier")(features.mean(dim=(2, 3)))
        torch.testing.assert_close(head, model(inputs))
    assert (ASSETS / f"{name}.pt").stat().st_size < 300_000


@pytest.mark.slow
@pytest.mark.parametrize("task, count, margin", [("digits", 500, 0.03), ("beam", 300, 0.02)])
def test_shipped_weights_reach_the_reported_accuracy_on_fresh_inputs(task, count, margin):
    metadata = json.loads((ASSETS / f"{TASKS[task].name}.json").read_text())
    assert metadata["classes"] == list(TASKS[task].classes)
    inputs, labels = TASKS[task].batch("test", 50_000, count)  # never used in training or in the reported figure
    assert accuracy(load_data_model(task), inputs, labels) >= metadata["test_accuracy"] - margin


@pytest.mark.slow
def test_cam_finds_the_digit_better_than_the_center():
    results = evaluate_digits(count=200, start=20_000, methods=("cam",))
    cam, prior = np.mean(results["cam"].pointing), np.mean(results["center prior (baseline)"].pointing)
    assert cam >= 0.85 and cam >= prior + 0.3, (cam, prior)
    assert np.mean(results["cam"].ious) > np.mean(results["center box (baseline)"].ious) + 0.1


@pytest.mark.slow
def test_cam_row_profile_finds_the_changed_bands():
    scores = evaluate_beam(count=200, start=20_000, methods=("cam",))
    rates = scores.rates()
    assert rates["cam"] >= scores.chance + 0.4, rates
    assert rates["cam"] > rates["loudest row of the input (baseline)"] + 0.2, rates


@pytest.mark.slow
def test_training_lowers_the_loss():
    """Two short epochs (32 canvases shown 4 times each, batches of 32: 8 steps in all) really train: the
    second epoch's mean training loss is clearly below the first's (about 2.3 → 2.06 for three seeds tried)."""
    torch.manual_seed(0)
    inputs, labels = digits.make_batch(digits.TRAIN, digits.TRAIN_SEED, 0, 32)
    losses = train_loop(DigitsGapNet(), np.tile(inputs, (4, 1, 1, 1)), np.tile(labels, 4), epochs=2, batch_size=32,
                        learning_rate=4e-3, seed=0)
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert losses[1] < losses[0] - 0.1, losses


def test_the_shipped_examples_through_the_public_api():
    """``camdemo.explain`` on the shipped .npy files, as a user would: the matrix goes in as it is, CAM's peak is in
    the digit's true box, and the beam's top row (by the row profile) is one of the truly changed rows."""
    import camdemo

    truth = json.loads((ASSETS / "digits_example_1.json").read_text())
    digit = camdemo.explain(ASSETS / "digits_example_1.npy", backbone="digits_gapnet", method="cam")
    assert digit.class_index == truth["class_index"] and digit.raw_map.shape == (15, 15)
    row, column = np.unravel_index(digit.heatmap.argmax(), digit.heatmap.shape)
    x0, y0, x1, y1 = truth["box"]
    assert y0 <= row < y1 and x0 <= column < x1
    crack = json.loads((ASSETS / "beam_crack.json").read_text())
    beam_map = camdemo.explain(ASSETS / "beam_crack.npy", backbone="beam_gapnet", method="gradcam")
    assert beam_map.class_index == crack["class_index"] and beam_map.heatmap.shape == (64, 64)
    assert beam_map.profiles(top=1).top_rows[0] in crack["changed_rows"]
