"""The public API's shape: computing apart from drawing, settings by keyword, old calls that still work.

These run on ShapesGapNet (a tiny backbone that ships with camdemo) so that they take seconds.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import numpy as np
import pytest
import torch

import camdemo
from camdemo.drawing import overlay
from camdemo.evaluation.compare import compare_methods, layer_sweep
from camdemo.evaluation.faithfulness import deletion_insertion
from camdemo.evaluation.sanity import cascade_plan, cascading_randomization
from camdemo.models import load_model

from tests.helpers import ASSETS

SHAPES = "shapes_gapnet"


@pytest.fixture(scope="module")
def shapes_image() -> np.ndarray:
    return camdemo.load_image(ASSETS / "shapes_two.png")


@pytest.fixture
def drawing_calls(monkeypatch) -> dict[str, int]:
    """How often the real ``blend``, ``colorize`` and ``display_heatmap`` ran during the test."""
    calls = {"blend": 0, "colorize": 0, "display_heatmap": 0}
    for name in calls:
        real = getattr(overlay, name)

        def counted(*args, real=real, name=name, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(overlay, name, counted)
    return calls


def test_explain_draws_nothing_until_the_pictures_are_read(shapes_image, drawing_calls):
    result = camdemo.explain(shapes_image, backbone=SHAPES, method="cam", colormap="jet", opacity=0.7)
    assert drawing_calls == {"blend": 0, "colorize": 0, "display_heatmap": 0}
    assert "heatmap" not in vars(result) and "overlay" not in vars(result)
    drawn = result.overlay
    assert drawing_calls["blend"] == 1 and drawing_calls["display_heatmap"] == 1
    assert result.overlay is drawn and drawing_calls["blend"] == 1  # kept, not drawn again
    # the same pictures explain used to draw at once: the shown part normalized, then blended
    heatmap, _ = overlay.display_heatmap(result.raw_map, shapes_image.shape[:2], "positive")
    np.testing.assert_array_equal(result.heatmap, heatmap)
    np.testing.assert_array_equal(drawn, overlay.blend(shapes_image, heatmap, "jet", 0.7))


def test_nbytes_counts_the_pictures_before_they_are_drawn(shapes_image):
    """What a cache of results counts must not grow when a cached result is drawn."""
    result = camdemo.explain(shapes_image, backbone=SHAPES)
    before = result.nbytes
    _ = result.overlay  # drawn now
    assert before == result.nbytes == sum(value.nbytes for value in vars(result).values()
                                          if isinstance(value, np.ndarray))


def test_a_restyled_result_is_drawn_on_request_and_keeps_its_heatmap(shapes_image, drawing_calls):
    result = camdemo.explain(shapes_image, backbone=SHAPES, method="gradcam")
    heatmap = result.heatmap
    restyled = result.restyled("cividis", 0.8)
    assert "overlay" not in vars(restyled) and restyled.heatmap is heatmap  # same sign: the same numbers
    np.testing.assert_array_equal(restyled.overlay, overlay.blend(shapes_image, heatmap, "cividis", 0.8))
    both = result.restyled(sign="both")
    assert both.colormap == "diverging" and "heatmap" not in vars(both)
    np.testing.assert_array_equal(both.heatmap, overlay.display_heatmap(result.raw_map, shapes_image.shape[:2],
                                                                        "both")[0])
    with pytest.raises(camdemo.CamdemoError, match="Unknown colormap"):  # at once, not when it is drawn
        result.restyled("rainbow-unicorn")
    with pytest.raises(camdemo.CamdemoError, match="Opacity must be between 0 and 1"):
        result.restyled(opacity=1.5)


def test_the_flat_map_note_is_unchanged_by_drawing_later():
    """raw = [[-1, -2], [-3, -4]]: nothing for the class (a flat positive part), something against it."""
    raw = np.array([[-1.0, -2.0], [-3.0, -4.0]], np.float32)
    assert overlay.is_flat(raw, "positive") and not overlay.is_flat(raw, "negative")
    assert not overlay.is_flat(raw, "both") and overlay.is_flat(np.zeros((2, 2), np.float32), "both")
    for sign in overlay.SIGNS:
        assert overlay.is_flat(raw, sign) == overlay.display_heatmap(raw, (8, 8), sign)[1]


def test_compare_sweep_sanity_and_faithfulness_never_draw(shapes_image, drawing_calls):
    cells = compare_methods(shapes_image, backbone=SHAPES, methods=["gradcam", "saliency"], increments=4)
    assert [cell.faithfulness is not None for cell in cells] == [True, True]
    layer_sweep(shapes_image, backbone=SHAPES, method="gradcam", count=2)
    cascading_randomization(shapes_image, backbone=SHAPES, methods=["gradcam"], randomizations=2)
    camdemo.faithfulness(cells[0].explanation, increments=4)
    assert drawing_calls["blend"] == 0 and drawing_calls["colorize"] == 0
    assert not any("overlay" in vars(cell.explanation) for cell in cells)


def test_positional_settings_warn_and_give_the_same_results(shapes_image):
    keyword = camdemo.explain(shapes_image, backbone=SHAPES, method="gradcam", layer="block2", class_index=2,
                              colormap="jet", opacity=0.3)
    with pytest.warns(DeprecationWarning, match=r"passing backbone, method, layer, class_index, colormap, "
                                                r"opacity to explain\(\) by position is deprecated"):
        positional = camdemo.explain(shapes_image, SHAPES, "gradcam", "block2", 2, "jet", 0.3)
    np.testing.assert_array_equal(positional.raw_map, keyword.raw_map)
    assert (positional.colormap, positional.opacity, positional.layer) == ("jet", 0.3, "block2")
    with pytest.warns(DeprecationWarning, match="explain_many"):
        (many,) = camdemo.explain_many([shapes_image], SHAPES, "gradcam", "block2", 2)
    np.testing.assert_array_equal(many.raw_map, keyword.raw_map)
    model = load_model(SHAPES)
    with pytest.warns(DeprecationWarning, match="explain_on_model"):
        on_model = camdemo.explain_on_model(model, shapes_image, SHAPES, "gradcam", "block2", 2)
    np.testing.assert_array_equal(on_model.raw_map, keyword.raw_map)
    with pytest.warns(DeprecationWarning, match="gradcam_steps"):
        steps = camdemo.gradcam_steps(shapes_image, SHAPES, "block2", 2)
    np.testing.assert_array_equal(steps.weighted_sum, keyword.raw_map)
    with pytest.warns(DeprecationWarning, match="faithfulness"):
        report = camdemo.faithfulness(keyword, 4)
    assert len(report.curves.deletion) == 5


def test_positional_evaluation_settings_warn_and_still_work(shapes_image):
    with pytest.warns(DeprecationWarning, match="compare_methods"):
        cells = compare_methods(shapes_image, SHAPES, ["gradcam", "saliency"], "block2", 2, with_faithfulness=False)
    assert [cell.explanation.method for cell in cells] == ["gradcam", "saliency"]
    assert cells[0].explanation.layer == "block2" and {c.explanation.class_index for c in cells} == {2}
    with pytest.warns(DeprecationWarning, match="layer_sweep"):
        cells = layer_sweep(shapes_image, SHAPES, "gradcam", ["block2", "features"], 2)
    assert [cell.explanation.layer for cell in cells] == ["block2", "features"]
    with pytest.warns(DeprecationWarning, match="cascading_randomization"):
        stages = cascading_randomization(shapes_image, SHAPES, ["gradcam"], 2, 2)
    assert len(stages) == 3 and stages[0].explanations["gradcam"].class_index == 2


def test_every_renamed_keyword_warns_and_still_works(shapes_image):
    result = camdemo.explain(shapes_image, backbone=SHAPES)
    with pytest.warns(DeprecationWarning, match="color_scale"):
        assert np.array_equal(result.colour_scale(), result.color_scale())  # the old spelling of the method
    with pytest.warns(DeprecationWarning, match=r"faithfulness\(steps=...\) is deprecated; its name is now increments"):
        assert len(camdemo.faithfulness(result, steps=4).curves.deletion) == 5
    inputs, zeros = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2))
    with pytest.warns(DeprecationWarning, match="increments"):
        assert len(deletion_insertion(model, inputs, np.ones((4, 4)), 0, zeros, zeros, steps=2).deletion) == 3
    with pytest.warns(DeprecationWarning) as caught:
        cells = compare_methods(shapes_image, backbone=SHAPES, method_names=["saliency"], steps=4)
    assert {"methods", "increments"} <= {str(w.message).rsplit(" ", 1)[-1].removesuffix("=...") for w in caught}
    assert [c.explanation.method for c in cells] == ["saliency"] and len(cells[0].faithfulness.curves.deletion) == 5
    with pytest.warns(DeprecationWarning, match="layers"):
        cells = layer_sweep(shapes_image, backbone=SHAPES, layer_names=["features"])
    assert [c.explanation.layer for c in cells] == ["features"]
    with pytest.warns(DeprecationWarning) as caught:
        stages = cascading_randomization(shapes_image, backbone=SHAPES, method_names=["gradcam"], steps=1)
    assert {"methods", "randomizations"} <= {str(w.message).rsplit(" ", 1)[-1].removesuffix("=...") for w in caught}
    assert len(stages) == 2 and list(stages[0].explanations) == ["gradcam"]
    with pytest.warns(DeprecationWarning, match="randomizations"):
        assert cascade_plan(load_model(SHAPES), steps=2) == cascade_plan(load_model(SHAPES), 2)


def test_style_given_to_the_evaluation_warns_and_still_styles_its_results(shapes_image):
    with pytest.warns(DeprecationWarning, match=r"compare_methods\(colormap=..., opacity=...\) is deprecated"):
        (cell,) = compare_methods(shapes_image, backbone=SHAPES, methods=["gradcam"], with_faithfulness=False,
                                  colormap="jet", opacity=0.9)
    assert (cell.explanation.colormap, cell.explanation.opacity) == ("jet", 0.9)
    with pytest.warns(DeprecationWarning, match=r"layer_sweep\(colormap=...\)"):
        (cell,) = layer_sweep(shapes_image, backbone=SHAPES, layers=["features"], colormap="magma")
    assert cell.explanation.colormap == "magma"


def test_calls_the_old_signatures_never_allowed_still_fail(shapes_image):
    with pytest.raises(TypeError, match="at most 8 positional arguments"):
        camdemo.explain(shapes_image, SHAPES, "gradcam", None, None, "jet", 0.5, "cpu", "extra")
    with pytest.raises(TypeError, match="multiple values for argument 'backbone'"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        camdemo.explain(shapes_image, SHAPES, backbone=SHAPES)
    with pytest.raises(TypeError, match="multiple values for argument 'increments'"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        compare_methods(shapes_image, steps=4, increments=4)


def test_keyword_calls_do_not_warn(shapes_image):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        result = camdemo.explain(shapes_image, backbone=SHAPES, method="cam", class_index=1)
        camdemo.faithfulness(result, increments=2)
        camdemo.gradcam_steps(shapes_image, backbone=SHAPES, class_index=1)


def test_no_module_shadows_a_public_function():
    """``camdemo.faithfulness`` stays the function however its module (camdemo.evaluation.faithfulness) is imported."""
    before = {name: getattr(camdemo, name) for name in camdemo.__all__}
    assert importlib.import_module("camdemo.evaluation.faithfulness").faithfulness is camdemo.faithfulness
    for module in pkgutil.walk_packages(camdemo.__path__, "camdemo."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    assert callable(camdemo.faithfulness) and not isinstance(camdemo.faithfulness, type(camdemo))
    assert {name: getattr(camdemo, name) for name in camdemo.__all__} == before


def test_the_seams_are_public():
    from camdemo import api, models
    assert camdemo.register_backbone is models.register_backbone and camdemo.BackboneSpec is models.BackboneSpec
    assert camdemo.GapLinearHead is models.GapLinearHead and camdemo.explain_on_model is api.explain_on_model
    assert {"register_backbone", "BackboneSpec", "GapLinearHead", "explain_on_model", "clear_cache"} <= \
        set(camdemo.__all__)


def test_clear_cache_makes_cam_run_the_network_again(shapes_image):
    """CAM for another class of the same image reuses the forward pass; after clear_cache() it runs again."""
    model = load_model(SHAPES)
    calls = []
    handle = model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        camdemo.clear_cache()
        camdemo.explain(shapes_image, backbone=SHAPES, method="cam", class_index=0)
        camdemo.explain(shapes_image, backbone=SHAPES, method="cam", class_index=1)
        assert len(calls) == 1
        camdemo.clear_cache()
        camdemo.explain(shapes_image, backbone=SHAPES, method="cam", class_index=2)
    finally:
        handle.remove()
    assert len(calls) == 2


def test_a_misspelt_method_is_refused_by_name_not_skipped(shapes_image):
    """Methods that do not apply to a backbone are skipped; a name that is no method at all is a typo to report."""
    for run in (lambda names: compare_methods(shapes_image, backbone=SHAPES, methods=names, with_faithfulness=False),
                lambda names: cascading_randomization(shapes_image, backbone=SHAPES, methods=names, randomizations=1)):
        with pytest.raises(camdemo.CamdemoError, match="Unknown method 'gradcamm'. Choose one of: cam, gradcam"):
            run(["gradcam", "gradcamm"])
    with pytest.raises(camdemo.CamdemoError, match="None of the chosen methods applies to VGG-16"):
        compare_methods(shapes_image, backbone="vgg16", methods=["cam"])  # CAM does not apply: nothing is loaded


def test_the_cost_estimates_take_keywords_like_explain():
    default = camdemo.estimate_cost()
    assert default == camdemo.estimate_cost(backbone=camdemo.DEFAULT_BACKBONE, method=camdemo.DEFAULT_METHOD)
    with pytest.warns(DeprecationWarning, match="by keyword"):
        assert camdemo.estimate_cost("efficientnet_lite0", "gradcam") == default
    with pytest.warns(DeprecationWarning, match="by keyword"):
        old_call = camdemo.faithfulness_cost("efficientnet_lite0")
    assert old_call == camdemo.faithfulness_cost(backbone="efficientnet_lite0")
