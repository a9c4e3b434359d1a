"""The real Gradio server, called through gradio_client as any API user (or the browser) would."""

from __future__ import annotations

import httpx
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import gradio as gr

import camdemo
from camdemo.app.display import render
from camdemo.app.downloads import written
from camdemo.app.examples import backbone_for_image
from camdemo.app.handlers.analysis import run_steps
from camdemo.app.handlers.controls import (RestoredSettings, on_backbone_change, on_image_change, on_method_change,
                                           restore_from_url)
from camdemo.app.handlers.explain import (AutomaticOutputs, ExplainOutputs, on_prediction_click, restyle, run_explain,
                                          run_explain_top1)
from camdemo.app.options import sign_for
from camdemo.app.results import RecentResults, recent_results
from camdemo.app.views import class_choices

from tests.helpers import ASSETS
from tests.helpers.uploads import malformed_corpus


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


def explain_all(client, path, backbone="efficientnet_lite0", layer="head", method="gradcam", class_choice="auto",
                colormap="jet", opacity=0.5, show_boxes=True):
    """Every output of the API: pair, heatmap, top-5, summary, classes, 3 download files, example name."""
    return client.predict(handle_file(str(path)), backbone, layer, method, class_choice, colormap, opacity,
                          show_boxes, api_name="/explain")


def explain(client, path, **settings):
    """The first five outputs: slider pair, heatmap, top-5, summary, class list (gr.State stays server-side)."""
    return explain_all(client, path, **settings)[:5]


def test_example_image_returns_overlay_and_predictions(client):
    pair, heatmap, top5, summary, classes = explain(client, ASSETS / "chelsea_cat.jpg")
    original, overlay = (np.asarray(Image.open(path).convert("RGB")) for path in pair)  # 451 px: not enlarged
    assert original.shape == overlay.shape == (300, 451, 3)
    assert not np.array_equal(original, overlay)
    heatmap = np.asarray(Image.open(heatmap).convert("RGB"))  # the map at the image's size, its scale underneath
    assert heatmap.shape[:2] == (300 + camdemo.drawing.overlay.color_bar("viridis", 451, 0.0, 1.0, "x").shape[0], 451)
    assert top5["label"].split(" (")[0] in {"tabby", "tiger cat", "Egyptian cat"}
    assert len(top5["confidences"]) == 5
    assert "Grad-CAM at layer head of EfficientNet-Lite0" in summary and "ms" in summary
    assert classes == str(top5["confidences"][0]["label"].split("(")[-1].rstrip(")"))


def test_class_choice_moves_the_map(client):
    """With opacity 1 and jet, the hottest (red) pixels mark the peak: on the cat (left) or the cup (right)."""
    def red_columns(class_choice):
        pair, *_ = explain(client, ASSETS / "cat_and_coffee.jpg", class_choice=class_choice, opacity=1.0)
        rgb = np.asarray(Image.open(pair[1]).convert("RGB"))
        red = (rgb[..., 0] > 200) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
        return np.nonzero(red)[1]

    assert np.median(red_columns("285")) < 451 < np.median(red_columns("967"))


def test_bad_uploads_get_clear_messages_and_server_keeps_serving(client, tmp_path):
    cases = {
        "notes.txt": (b"not an image at all", "not an image"),
        "broken.jpg": ((ASSETS / "chelsea_cat.jpg").read_bytes()[:2000], "damaged or incomplete"),
        "tiny.png": (None, "too small"),
    }
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(Exception, match=expected):
            explain(client, path)
        *_, summary, _classes = explain(client, ASSETS / "coffee.jpg")
        assert "EfficientNet-Lite0" in summary


@pytest.mark.slow
def test_robustness_sweep_through_the_server(client, tmp_path):
    for path, expected in malformed_corpus(tmp_path).items():  # made in tests/helpers/uploads.py
        if expected is None:
            *_, summary, _classes = explain(client, path)
            assert "EfficientNet-Lite0" in summary, path.name
        else:
            with pytest.raises(Exception, match=expected):
                explain(client, path)
        *_, summary, _classes = explain(client, ASSETS / "chelsea_cat.jpg")  # and the next request works
        assert "for class 28" in summary


def test_unavailable_method_and_missing_weights_are_explained(client):
    with pytest.raises(Exception, match="CAM is not available for VGG-16"):
        explain(client, ASSETS / "coffee.jpg", backbone="vgg16", layer="features.29", method="cam")
    if not camdemo.models.get_spec("resnet50").offline:
        with pytest.raises(Exception, match=r"resnet50-.*\.pth"):
            explain(client, ASSETS / "coffee.jpg", backbone="resnet50", layer="layer4")


def test_server_files_are_not_exposed(server):
    for path in ["/gradio_api/file=/etc/passwd", "/gradio_api/file=app.py", "/file=/etc/passwd"]:
        response = httpx.get(server.rstrip("/") + path)
        assert response.status_code in (403, 404), path
        assert "root:" not in response.text


def test_recent_results_are_bounded_by_bytes_and_an_expired_one_says_so():
    result = camdemo.explain(ASSETS / "shapes_star.png", backbone="shapes_gapnet")
    size = RecentResults.size_of(result)
    assert size >= result.heatmap.nbytes + result.overlay.nbytes + result.image.nbytes
    cache = RecentResults(max_bytes=3 * size)
    first, second = cache.put(result), cache.put(result)
    assert cache.get(first) is result  # used again: now the most recent
    third, fourth = cache.put(result), cache.put(result)
    assert len(cache) == 3 and cache.total_bytes == 3 * size
    assert cache.get(second) is None and cache.get(first) is result
    assert all(cache.get(key) is result for key in (third, fourth))
    with pytest.warns(UserWarning, match="no longer kept"):  # the page shows it as a warning toast
        assert restyle("a-result-long-gone", "jet", 0.5) == (gr.skip(),) * 5
    assert restyle(None, "jet", 0.5) == (gr.skip(),) * 5  # nothing explained yet: nothing to say


def test_restyle_reblends_without_the_network(monkeypatch):
    result = camdemo.explain(ASSETS / "chelsea_cat.jpg")
    key = recent_results.put(result, "chelsea_cat.jpg")
    monkeypatch.setattr(camdemo.api, "load_model", lambda *a, **k: pytest.fail("network ran"))
    (original, overlay), heatmap, overlay_file, *_ = restyle(key, "cividis", 0.9)
    assert Path(overlay_file).name.startswith("chelsea_cat_")  # downloads keep the image's name after a re-draw
    original, overlay = (np.asarray(Image.open(path).convert("RGB")) for path in (original, overlay))
    assert overlay.shape == original.shape
    downloaded = np.asarray(Image.open(written(overlay_file)).convert("RGB"))  # the lossless PNG of the overlay
    assert np.abs(downloaded.astype(int) - overlay.astype(int)).mean() < 3  # vs the JPEG shown
    assert not np.array_equal(downloaded, result.overlay)  # cividis at 0.9, not the original viridis at 0.5


def test_shapes_example_shows_true_and_map_boxes(client):
    pair, heatmap, top5, summary, classes = explain(client, ASSETS / "shapes_two.png", backbone="shapes_gapnet",
                                                     layer="features", method="cam", class_choice="3")  # star
    assert "IoU" in summary and "true star box" in summary
    overlay = np.asarray(Image.open(pair[1]).convert("RGB"))
    assert overlay.shape == (384, 384, 3)  # 96×96 enlarged ×4 for display
    # pixels are checked on the handler's own output: the client gets lossy WebP, which smears 1-px lines
    star = next(o for o in camdemo.teaching.scenes.example_scene("shapes_two.png").objects if o.name == "star")
    (_, drawn_path), *_ = run_explain(str(ASSETS / "shapes_two.png"), "shapes_gapnet", "features", "cam", "3", "jet",
                                    0.5, True)
    drawn = np.asarray(Image.open(drawn_path).convert("RGB"))  # JPEG: near white, not exactly 255
    x0, y0, x1, _ = (4 * v for v in star.box)  # drawn on the ×4 display copy
    assert (drawn[y0, x0:x1] > 220).all(axis=1).mean() > 0.8  # the true star box's top edge, in white
    *_, plain_summary, _ = explain(client, ASSETS / "shapes_two.png", backbone="shapes_gapnet", layer="features",
                                   method="cam", class_choice="3", show_boxes=False)
    assert "IoU" not in plain_summary


def test_an_automatic_run_fills_what_an_explanation_fills_and_clears_the_pending_class():
    """AutomaticOutputs is written out for the type checker; it must stay ExplainOutputs plus pending_class."""
    assert AutomaticOutputs._fields == (*ExplainOutputs._fields, "pending_class")
    assert {name: AutomaticOutputs.__annotations__[name] for name in ExplainOutputs._fields} \
        == ExplainOutputs.__annotations__


def test_automatic_runs_fall_back_to_the_new_backbones_defaults():
    """An example sets image and backbone together: a stale layer or method must not fail the automatic run."""
    outputs = run_explain_top1(str(ASSETS / "shapes_star.png"), "shapes_gapnet", "head", "cam", "jet", 0.5, True,
                                  None)
    assert "ShapesGapNet" in outputs.summary and "at layer features" in outputs.summary
    with pytest.raises(Exception, match="not a layer"):  # an explicit request still says what is wrong
        run_explain(str(ASSETS / "shapes_star.png"), "shapes_gapnet", "blocks.3", "gradcam", "auto", "jet", 0.5)


def test_bundled_examples_pick_their_backbone_and_uploads_go_to_imagenet(tmp_path):
    shapes_example = tmp_path / "shapes_star.png"
    shapes_example.write_bytes((ASSETS / "shapes_star.png").read_bytes())
    assert backbone_for_image(str(shapes_example), "efficientnet_lite0") == "shapes_gapnet"
    photo = tmp_path / "chelsea_cat.jpg"
    photo.write_bytes((ASSETS / "chelsea_cat.jpg").read_bytes())
    assert backbone_for_image(str(photo), "shapes_gapnet") == "efficientnet_lite0"
    assert backbone_for_image(str(photo), "resnet50") is None  # a chosen ImageNet backbone stays
    own = tmp_path / "shapes_star.png"  # same name, other bytes: a person's own file
    own.write_bytes((ASSETS / "shapes_heart.png").read_bytes())
    assert backbone_for_image(str(own), "efficientnet_lite0") is None
    # After a shapes example, a person's own photo goes to an ImageNet backbone, unless the person chose ShapesGapNet
    own_photo = tmp_path / "holiday.jpg"
    own_photo.write_bytes((ASSETS / "coffee.jpg").read_bytes())
    assert backbone_for_image(str(own_photo), "shapes_gapnet", chosen_by_example=True) == "efficientnet_lite0"
    assert backbone_for_image(str(own_photo), "shapes_gapnet", chosen_by_example=False) is None
    outputs = on_image_change(str(ASSETS / "shapes_star.png"), "efficientnet_lite0", "gradcam", None, False)
    assert outputs.backbone == "shapes_gapnet"
    assert outputs.backbone_by_example is True  # remembered as the example's choice


def test_a_photo_on_the_shapes_network_is_flagged():
    photo = run_explain(str(ASSETS / "coffee.jpg"), "shapes_gapnet", None, "gradcam", "auto", "jet", 0.5)
    assert "learned only generated shapes" in photo.summary
    shape = run_explain(str(ASSETS / "shapes_star.png"), "shapes_gapnet", None, "gradcam", "auto", "jet", 0.5)
    assert "learned only generated shapes" not in shape.summary


def test_downloads_hold_the_overlay_and_the_raw_heatmap(client):
    *_, overlay_file, npy_file, png_file, example = explain_all(client, ASSETS / "chelsea_cat.jpg", method="cam")
    heatmap = np.load(npy_file)
    assert heatmap.shape == (300, 451) and heatmap.dtype == np.float32 and heatmap.max() == pytest.approx(1.0)
    assert Image.open(overlay_file).size == (451, 300) and Image.open(png_file).mode == "L"
    assert "chelsea_cat_efficientnet_lite0_cam_class" in overlay_file
    assert example == "chelsea_cat.jpg"  # a bundled example: its name may go into a shared link
    assert camdemo.explain(ASSETS / "chelsea_cat.jpg", method="cam").heatmap == pytest.approx(heatmap, abs=1e-6)


def test_url_settings_are_validated():
    from camdemo.app.share import settings_from_query
    good = settings_from_query({"backbone": "resnet50", "layer": "layer3", "method": "cam", "class": "967",
                                "colormap": "viridis", "opacity": "0.8", "example": "cat_and_coffee.jpg"})
    assert good["backbone"] == "resnet50" and good["layer"] == "layer3" and good["method"] == "cam"
    assert good["class"] == "967" and good["colormap"] == "viridis" and good["opacity"] == 0.8
    assert good["example"].endswith("assets/cat_and_coffee.jpg")
    bad = settings_from_query({"backbone": "resnet9", "layer": "layer4", "method": "cam", "class": "5000",
                               "colormap": "rainbow", "opacity": "7", "example": "../../etc/passwd"})
    assert bad == {"method": "cam"}  # every unknown or out-of-range value is dropped (cam is fine for lite0)
    assert "method" not in settings_from_query({"backbone": "vgg16", "method": "cam"})  # not available there


@pytest.mark.parametrize("bad_class", ["²", "9" * 5000, "-1", "1e3", " 7", "٣"])
def test_a_shared_link_with_a_bad_class_still_opens(bad_class):
    """'²'.isdigit() is True but int('²') fails; int() refuses 5,000 digits: neither may break the page load."""
    from camdemo.app.share import settings_from_query
    settings = settings_from_query({"class": bad_class, "method": "gradcam", "sign": "both"})
    assert settings == {"method": "gradcam", "sign": "both"}
    request = type("Request", (), {"query_params": {"class": bad_class, "colormap": "viridis"}})()
    loaded = RestoredSettings._make(restore_from_url(request)[:len(RestoredSettings._fields)])
    assert loaded.colormap == "viridis" and loaded.pending_class is None  # the rest of the link applies; no class


def test_a_shared_link_keeps_the_sign_only_for_signed_methods():
    from camdemo.app.share import settings_from_query
    assert settings_from_query({"method": "integrated_gradients", "sign": "negative"})["sign"] == "negative"
    assert "sign" not in settings_from_query({"method": "saliency", "sign": "negative"})  # saliency has no sign
    assert "sign" not in settings_from_query({"sign": "sideways"})


def test_steps_view_renders_every_step():
    items, text = run_steps(str(ASSETS / "cat_and_coffee.jpg"), "efficientnet_lite0", "head", "967", "jet")
    captions = [caption for _, caption in items]
    assert len(items) == 6 + 1 + 3 and "1280 feature maps" in text and "'espresso'" in text
    assert captions[0].startswith("map ") and captions[6].startswith("against: map ")
    assert captions[-3].startswith("Σ α·A") and captions[-2].startswith("ReLU")
    assert items[-1][0].shape == (300, 901, 3)


def test_controls_follow_the_backbone():
    layers, classes, method, method_help, status, _ = on_backbone_change("vgg16", "cam", "head")
    assert method == "gradcam"  # CAM does not apply to VGG-16: switch and say why
    assert "features.29" == layers["value"] and "Grad-CAM" in method_help
    assert "Not available here: CAM" in status
    layer_update, help_text, sign, *settings = on_method_change("efficientnet_lite0", "cam", "blocks.10")
    assert layer_update["value"] == "head" and "CAM is computed at layer `head`" in help_text
    assert sign["interactive"] and not any(update["visible"] for update in settings)  # CAM is signed, has no settings
    _, _, sign, *settings = on_method_change("efficientnet_lite0", "integrated_gradients", "head", "both")
    assert sign["value"] == "both" and [update["visible"] for update in settings][:2] == [True, True]
    _, _, sign, *_ = on_method_change("efficientnet_lite0", "saliency", "head", "both")
    assert sign["value"] == "positive" and not sign["interactive"]  # saliency has no sign


def test_method_controls_are_built_from_the_declared_settings():
    """Each control's bounds, choices, default and help are its setting's declaration; the eight settings the
    /explain endpoint has always taken come first, in their order, and run_explain has a parameter for each."""
    import inspect

    import gradio as gr
    from camdemo.app.options import API_ORDER, CONTROLS, build_controls
    from camdemo.explainers import METHODS
    with gr.Blocks():
        _, boxes = build_controls()
    assert [(control.method, control.option) for control in CONTROLS][:8] == list(API_ORDER)
    shown = {(name, option.name) for name, method in METHODS.items() for option in method.declared_options
             if option.in_app}
    assert {(control.method, control.option) for control in CONTROLS} == shown and len(CONTROLS) == len(shown)
    for control, box in zip(CONTROLS, boxes):
        option = control.declaration
        assert box.value == option.default and box.info == option.help and option.label in box.label
        if option.kind in ("int", "float"):
            assert isinstance(box, gr.Slider) and (box.minimum, box.maximum) == (option.low, option.high)
        elif option.kind == "choice":
            assert isinstance(box, gr.Dropdown) and [value for _, value in box.choices] == list(option.choices)
        else:
            assert isinstance(box, gr.Checkbox)
    parameters = list(inspect.signature(run_explain).parameters)
    settings = parameters[parameters.index("sign") + 1:parameters.index("direction")]
    assert len(settings) == len(CONTROLS) and settings[:2] == ["ig_steps", "ig_baseline"] \
        and settings[-3:] == ["ig_adaptive", "lrp_rules", "deeplift_reference"]
    assert parameters[parameters.index("direction"):parameters.index("request")] == ["direction", "versus"]


def test_the_sign_selector_follows_smoothgrads_base():
    from camdemo.app.options import CONTROLS, control_updates
    values = [control.declaration.default for control in CONTROLS]
    base = [(c.method, c.option) for c in CONTROLS].index(("smoothgrad", "base"))
    sign, *_ = control_updates("smoothgrad", "negative", values)
    assert sign["value"] == "positive" and not sign["interactive"]  # over saliency: no sign
    values[base] = "integrated_gradients"
    sign, *_ = control_updates("smoothgrad", "negative", values)
    assert sign["value"] == "negative" and sign["interactive"]
    _, _, sign, *_ = on_method_change("efficientnet_lite0", "smoothgrad", "head", "both", *values)
    assert sign["value"] == "both" and sign["interactive"]
    assert sign_for("smoothgrad", "negative", {"base": "input_x_gradient"}) == "negative"
    assert sign_for("smoothgrad", "negative", {"base": "saliency"}) == "positive"


def test_the_methods_overview_shows_each_declared_cost():
    from camdemo.app.options import describe_all
    rows = {row.split(" | ")[0].lstrip("| "): row for row in describe_all("vgg16").splitlines()[2:]}
    for info in camdemo.methods("vgg16"):
        assert f"| {info.cost} |" in rows[info.title]
    assert "| as wrapped |" in rows["SmoothGrad"] and "| yes |" in rows["Integrated Gradients"]


def test_changing_smoothgrads_base_on_the_page_updates_the_sign_selector(served_demo):
    """The page's own event: SmoothGrad's base control → the sign selector (usable over a signed method)."""
    (event,) = [fn for fn in served_demo.fns.values() if [box.label for box in fn.outputs] == ["Which evidence to show"]
                and any(box.label == "SmoothGrad: method to smooth" for box in fn.inputs)]
    assert [box.label for box in event.inputs][:2] == ["Which evidence to show", "SmoothGrad: method to smooth"]
    assert [trigger for _, trigger in event.targets] == ["input"]
    over_ig = event.fn("negative", "integrated_gradients", 25, 0.15)
    assert over_ig["value"] == "negative" and over_ig["interactive"]
    over_saliency = event.fn("negative", "saliency", 25, 0.15)
    assert over_saliency["value"] == "positive" and not over_saliency["interactive"]


@pytest.mark.slow
def test_api_takes_the_sign_and_method_settings_and_old_calls_still_work(server):
    """The explain endpoint's new inputs (sign, method settings) come after the old eight and have defaults."""
    from gradio_client import Client, handle_file
    client = Client(server, verbose=False)
    image = handle_file(str(ASSETS / "cat_and_coffee.jpg"))
    signed = client.predict(image, "efficientnet_lite0", "head", "gradcam", "967", "jet", 0.5, False, "both",
                            api_name="/explain")
    assert "Grad-CAM" in signed[3]
    ig = client.predict(image, "efficientnet_lite0", None, "integrated_gradients", "967", "jet", 0.5, False, "positive",
                        16, "black", api_name="/explain")
    assert "Completeness" in ig[3] and "Integrated Gradients" in ig[3]


def test_compare_and_sanity_endpoints_through_the_server(server):
    from gradio_client import Client, handle_file
    client = Client(server, verbose=False)
    image = handle_file(str(ASSETS / "cat_and_coffee.jpg"))
    gallery, table, deletion, insertion = client.predict(image, "efficientnet_lite0", "head", "967",
                                                         ["gradcam", "eigencam"], True, "jet", api_name="/compare")
    assert len(gallery) == 2 and "espresso" in table and "deletion" in table.lower()
    assert "Grad-CAM" in gallery[0]["caption"] and "ms" in gallery[0]["caption"]
    gallery, text = client.predict(image, "efficientnet_lite0", "gradcam", "auto", 3, "jet", api_name="/layer_sweep")
    assert len(gallery) == 3 and "stem" in text
    gallery, table = client.predict(image, "efficientnet_lite0", "auto", ["gradcam", "guided_backprop"], 2, "jet",
                                    api_name="/sanity_check")
    assert len(gallery) == 2 * 3 and "Guided Backprop" in table and "trained" in table


def test_photos_get_the_map_box_when_boxes_are_shown():
    """The CAM paper's box (largest region above 20% of the maximum) is drawn on any image, not only on shapes."""
    result = camdemo.explain(ASSETS / "cat_and_coffee.jpg", class_index=967)
    (_, with_box), _, note = render(result, show_boxes=True)
    (_, without), _, no_note = render(result, show_boxes=False)
    assert "Magenta box" in note and no_note == ""
    from camdemo.evaluation.boxes import peak_in_box
    box = result.map_box()
    assert peak_in_box(result.heatmap, box)
    x0, y0, x1, y1 = box
    changed = np.argwhere(np.any(with_box != without, axis=2))  # (row, column) of every drawn pixel
    assert len(changed) > 2 * ((x1 - x0) + (y1 - y0))  # at least the outline
    margin, label = 12, 40  # the line's width; the "map" label sits above the top-left corner
    assert changed[:, 0].min() >= y0 - label and changed[:, 0].max() <= y1 + margin
    assert changed[:, 1].min() >= x0 - margin and changed[:, 1].max() <= x1 + label


def test_clicking_a_prediction_selects_its_class():
    event = gr.SelectData(target=None, data={"index": 1, "value": {"label": "tiger cat (282)"}, "selected": True})
    assert on_prediction_click(event) == "282"
    assert str(class_choices("efficientnet_lite0")[283]) == str(("tiger cat · 282", "282"))


def test_automatic_runs_get_the_visitor_and_the_progress_bar():
    """Gradio hands ``gr.Request`` and ``gr.Progress`` only to parameters before a ``*args``. The automatic run
    once took its method settings as ``*args``: it ran as one shared "local" visitor (outside the per-visitor
    limit, never stopped when its page left) and without a progress bar."""
    import inspect

    from gradio.helpers import special_args

    visitor = object()
    parameters = {handler: list(inspect.signature(handler).parameters) for handler in (run_explain, run_explain_top1)}
    for handler, names in parameters.items():
        inputs, progress_index, *_ = special_args(handler, [None] * names.index("request"), request=visitor)
        assert inputs[names.index("request")] is visitor and progress_index == names.index("progress"), handler
    settings = [names[names.index("sign") + 1:names.index("request")] for names in parameters.values()]
    assert settings[0] == settings[1]  # the same method settings, in the same order


def test_the_view_helpers_work_without_gradio():
    """Choice lists, texts and pictures can be used from a notebook or a script that has no Gradio."""
    import subprocess
    import sys

    code = ("import sys; import camdemo.app.views, camdemo.app.display, camdemo.app.examples; "
            "print(camdemo.app.views.backbone_status('shapes_gapnet')); assert 'gradio' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0 and "ShapesGapNet" in done.stdout, done.stderr[-2000:]
