"""No hook outlives a call, modes are restored, and concurrent users never see each other's maps."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import camdemo
from camdemo.models import GapLinearHead, load_model
from camdemo.explainers.hooks import eval_mode
from camdemo.explainers import METHODS, Target

from tests.helpers import ASSETS
from tests.helpers.methods import NEEDS_PATTERNS, QUICK_OPTIONS, TINY_OPTIONS, assert_no_hooks, method_params, \
    patterns_fitted_for, training_modes
from tests.helpers.networks import Exploding


# Every method on the tiny nets below; on the real backbone, one of each kind in the fast tier (guided backprop
# for its hooks on every ReLU).
# PatternNet and PatternAttribution have no patterns for EfficientNet-Lite0; test_propagation.py checks them on the
# teaching network, for which patterns ship.
ON_LITE0 = [name for name in METHODS if name not in NEEDS_PATTERNS]


@pytest.mark.parametrize("method", method_params(ON_LITE0, fast=("cam", "gradcam", "guided_backprop")))
def test_no_hook_left_and_eval_mode_kept_after_success_and_errors(method, cat_image):
    model = load_model("efficientnet_lite0")
    before = training_modes(model)
    quick = QUICK_OPTIONS.get(method)
    camdemo.explain(cat_image, method=method, options=quick)
    assert_no_hooks(model)
    assert training_modes(model) == before
    with pytest.raises(camdemo.CamdemoError, match="out of range"):  # fails after the forward pass
        camdemo.explain(cat_image, method=method, class_index=5000, options=quick)
    assert_no_hooks(model)
    assert training_modes(model) == before
    if METHODS[method].uses_layer and method != "cam":  # fails inside the hook, during the forward pass
        with pytest.raises(camdemo.CamdemoError, match="not a spatial map"):
            camdemo.explain(cat_image, method=method, layer="classifier", options=quick)
        assert_no_hooks(model)
        assert training_modes(model) == before
    assert camdemo.explain(cat_image, method=method, options=quick).class_index == 285  # and the next call works


@pytest.mark.parametrize("method", list(METHODS))
def test_train_mode_restored_and_hooks_removed_when_model_raises(method, tiny_gap_net, tiny_input):
    if method in NEEDS_PATTERNS:
        with patterns_fitted_for(tiny_gap_net, (1, 2, 2)):
            _train_mode_restored_and_hooks_removed_when_model_raises(method, tiny_gap_net, tiny_input)
    else:
        _train_mode_restored_and_hooks_removed_when_model_raises(method, tiny_gap_net, tiny_input)


def _train_mode_restored_and_hooks_removed_when_model_raises(method, tiny_gap_net, tiny_input):
    model = tiny_gap_net.train()
    model.features[1].eval()  # a mixed state must come back exactly as it was
    before = training_modes(model)
    target = Target(model, tiny_input, None, model.features, "features", GapLinearHead("features", "fc"),
                    options=METHODS[method].check_options(TINY_OPTIONS.get(method)))
    with eval_mode(model):
        assert not any(training_modes(model).values())
        METHODS[method].compute(target)
    assert training_modes(model) == before
    assert_no_hooks(model)

    model.pool = Exploding()
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(model):
            METHODS[method].compute(target)
    assert training_modes(model) == before
    assert_no_hooks(model)


@pytest.mark.slow
def test_eight_threads_get_exactly_their_sequential_results():
    """Eight users at once on one shared model, different images, classes and methods, same answers as alone."""
    photos = [camdemo.load_image(ASSETS / name) for name in
              ["chelsea_cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg", "cat_and_coffee.jpg"]]
    images = photos + [np.ascontiguousarray(photo[:, ::-1]) for photo in photos[:3]]  # mirrored: new activations
    jobs = [("gradcam", 285), ("gradcam", 967), ("cam", 281), ("cam", 968), ("saliency", 282),
            ("gradcam", 504), ("saliency", 967), ("gradcam", None)]
    camdemo.clear_cache()
    alone = [camdemo.explain(image, method=m, class_index=c) for image, (m, c) in zip(images, jobs)]
    camdemo.clear_cache()
    barrier = threading.Barrier(len(jobs))
    together: list = [None] * len(jobs)
    errors: list = []

    def work(i, method, class_index):
        try:
            barrier.wait()
            for _ in range(3):  # several rounds so the passes really overlap
                together[i] = camdemo.explain(images[i], method=method, class_index=class_index)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i, m, c)) for i, (m, c) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for (method, _), single, concurrent in zip(jobs, alone, together):
        assert concurrent.class_index == single.class_index and concurrent.method == method
        np.testing.assert_array_equal(concurrent.raw_map, single.raw_map)
        np.testing.assert_array_equal(concurrent.heatmap, single.heatmap)
    # the jobs really differ from each other, so a leak between them could not go unseen
    assert len({result.raw_map.tobytes() for result in together}) == len(jobs)
    assert_no_hooks(load_model("efficientnet_lite0"))


def test_cam_for_another_class_reuses_the_forward_pass(cat_image, monkeypatch):
    """Changing the class for CAM must not run the network again."""
    camdemo.clear_cache()
    model = load_model("efficientnet_lite0")
    calls = []
    handle = model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        first = camdemo.explain(cat_image, method="cam", class_index=285)
        second = camdemo.explain(cat_image, method="cam", class_index=967)
    finally:
        handle.remove()
    assert len(calls) == 1
    assert first.class_index == 285 and second.class_index == 967
    assert not np.array_equal(first.raw_map, second.raw_map)
    np.testing.assert_allclose(second.raw_map, camdemo.explain(cat_image.copy(), method="cam", class_index=967,
                                                               ).raw_map)


def test_restyle_does_not_run_the_network(cat_image, monkeypatch):
    result = camdemo.explain(cat_image, method="gradcam")
    monkeypatch.setattr(camdemo.api, "load_model", lambda *a, **k: pytest.fail("network ran"))
    restyled = result.restyled("cividis", 0.8)  # another colormap than the default (viridis)
    assert restyled.colormap == "cividis" and not np.array_equal(restyled.overlay, result.overlay)
    np.testing.assert_array_equal(restyled.heatmap, result.heatmap)


@pytest.mark.parametrize("method", method_params(ON_LITE0, fast=("cam", "gradcam", "saliency")))  # one of each kind
def test_batched_results_equal_single_results_and_bad_files_stay_in_place(method):
    """explain_many runs one pass per batch; every image still gets exactly its own map and class."""
    files = [ASSETS / "chelsea_cat.jpg", b"not an image", ASSETS / "coffee.jpg", ASSETS / "cat_and_coffee.jpg",
             ASSETS / "rocket.jpg"]
    quick = QUICK_OPTIONS.get(method)
    batched = list(camdemo.explain_many(files, method=method, batch_size=4, options=quick))
    assert isinstance(batched[1], camdemo.CamdemoError) and "not an image" in str(batched[1])
    for source, result in zip(files, batched):
        if isinstance(source, bytes):
            continue
        alone = camdemo.explain(source, method=method, options=quick)
        assert result.class_index == alone.class_index
        assert result.predictions[0].index == alone.predictions[0].index
        scale = np.abs(alone.raw_map).max()
        if METHODS[method].family != "CAM" or method in ("guided_gradcam", "scorecam"):
            # A batched convolution sums in another order (~1e-6 differences). Saliency's gradient passes every
            # ReLU6 gate down to the pixels, so a unit sitting at its kink can flip and move a few pixels by ~1%.
            # The same holds for every method that goes down to the pixels (and Score-CAM's masked passes).
            assert np.abs(result.raw_map - alone.raw_map).max() <= 0.02 * scale
            assert np.corrcoef(result.raw_map.ravel(), alone.raw_map.ravel())[0, 1] > 0.9999
        else:
            np.testing.assert_allclose(result.raw_map, alone.raw_map, rtol=1e-4, atol=1e-4 * scale)
