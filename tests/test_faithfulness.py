"""Faithfulness metrics, the comparison grid and the sanity check (Adebayo et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import camdemo
from camdemo.evaluation.compare import compare_methods, layer_sweep, most_faithful, spread_layers
from camdemo.evaluation.faithfulness import deletion_insertion, faithfulness
from camdemo.models import load_model
from camdemo.evaluation.sanity import cascade_plan, cascading_randomization, parameter_groups, spearman

from tests.helpers.methods import assert_no_hooks
from tests.helpers.networks import RegionModel


def test_oracle_map_beats_random_maps_on_deletion_and_insertion():
    model = RegionModel().eval()
    inputs, zeros = torch.ones(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    oracle = model.region[0, 0].numpy()
    curves = deletion_insertion(model, inputs, oracle, 0, removed=zeros, canvas=zeros, increments=32)
    # removing the 64 region pixels (2 of 32 steps) takes p from sigmoid(10) to sigmoid(−10)
    assert curves.deletion[0] == pytest.approx(1 / (1 + np.exp(-10)), rel=1e-6)
    assert curves.deletion[2] == pytest.approx(1 / (1 + np.exp(10)), rel=1e-4)
    assert curves.insertion[2] == pytest.approx(1 / (1 + np.exp(-10)), rel=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(5):
        random = deletion_insertion(model, inputs, rng.random((32, 32)), 0, zeros, zeros, increments=32)
        assert curves.deletion_auc < random.deletion_auc - 0.3
        assert curves.insertion_auc > random.insertion_auc + 0.3
    assert curves.deletion_auc < 0.05 and curves.insertion_auc > 0.95


@pytest.mark.slow
def test_faithfulness_of_a_real_explanation(pair_image):
    result = camdemo.explain(pair_image, method="gradcam")  # top-1: tiger cat
    report = faithfulness(result, increments=16)
    assert report.curves.fractions[0] == 0 and report.curves.fractions[-1] == 1 and len(report.curves.deletion) == 17
    assert report.curves.deletion[0] == pytest.approx(result.class_probability, rel=1e-4)
    assert 0 <= report.deletion_auc <= 1 and 0 <= report.insertion_auc <= 1 and 0 <= report.average_drop <= 1
    assert report.confidence_increase == (report.masked_probability > report.probability)
    assert_no_hooks(load_model(camdemo.DEFAULT_BACKBONE))


@pytest.mark.slow
def test_compare_grid_explains_one_class_with_times_and_boxes(pair_image):
    cells = compare_methods(pair_image, methods=["cam", "gradcam", "saliency", "eigencam"], class_index=967,
                            increments=8)
    assert [cell.title for cell in cells] == ["CAM", "Grad-CAM", "Saliency", "Eigen-CAM"]
    assert {cell.explanation.class_index for cell in cells} == {967}
    for cell in cells:
        assert cell.seconds > 0 and cell.faithfulness is not None
        x0, y0, x1, y1 = cell.box
        assert 0 <= x0 < x1 <= pair_image.shape[1] and 0 <= y0 < y1 <= pair_image.shape[0]
    best_deletion, best_insertion = most_faithful(cells)
    assert best_deletion.faithfulness.deletion_auc == min(c.faithfulness.deletion_auc for c in cells)
    # CAM is skipped where it does not apply instead of failing the whole grid
    assert "CAM" not in [c.title for c in compare_methods(pair_image, backbone="shapes_gapnet", methods=["gradcam"],
                                                                   with_faithfulness=False)]


def test_layer_sweep_goes_from_early_to_late_layers(pair_image):
    names = spread_layers(camdemo.DEFAULT_BACKBONE, 4)
    assert names[0] == "stem" and names[-1] == "head" and len(names) == 4
    cells = layer_sweep(pair_image, count=4)
    assert [c.explanation.layer for c in cells] == names
    assert [c.explanation.raw_map.shape[0] for c in cells] == sorted((c.explanation.raw_map.shape[0] for c in cells),
                                                                      reverse=True)  # finer first
    with pytest.raises(camdemo.CamdemoError, match="any layer"):
        layer_sweep(pair_image, method="saliency")


def test_spearman_matches_the_rank_formula():
    a = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    b = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # ranks a: 3,1,2,5,4 → d² = 4+1+1+1+1 = 8 → 1 − 6·8/(5·24) = 0.6
    assert spearman(a, b) == pytest.approx(0.6)
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(np.sqrt(3) / 2)  # ties
    assert spearman(np.ones(4), b[:4]) == 0.0


def test_cascading_randomization_exposes_guided_backprop_and_leaves_the_cached_model_alone(pair_image):
    model = load_model(camdemo.DEFAULT_BACKBONE)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    steps = cascading_randomization(pair_image, methods=["gradcam", "guided_backprop"], randomizations=3)
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)  # the cached model is untouched
    assert_no_hooks(model) and not any(m.training for m in model.modules())
    assert steps[0].label == "trained" and steps[1].randomized == ("classifier",)
    assert steps[-1].randomized[-1] == "stem"  # the last step randomizes everything
    assert {s.explanations["gradcam"].class_index for s in steps} == {steps[0].explanations["gradcam"].class_index}
    # Adebayo et al.: Guided Backprop barely changes when the classifier is random; Grad-CAM does.
    assert steps[1].spearman["guided_backprop"] > 0.9
    assert steps[1].spearman["gradcam"] < 0.5
    # and the next explanation on the cached model is still the trained one
    np.testing.assert_array_equal(camdemo.explain(pair_image).raw_map, steps[0].explanations["gradcam"].raw_map)


def test_cascade_plan_is_cumulative_from_the_top():
    model = load_model(camdemo.DEFAULT_BACKBONE)
    groups = parameter_groups(model)
    assert groups[0] == "stem" and groups[-1] == "classifier" and "blocks.15" in groups
    plan = cascade_plan(model, 4)
    assert plan[0] == ["classifier"] and plan[-1] == groups[::-1]
    assert all(plan[i] == plan[i + 1][:len(plan[i])] for i in range(len(plan) - 1))
