"""'Your model' through the real server, and targets beyond the top class: an exported ONNX model uploaded with
gradio_client gives the built-in map, stays private to its page, is evicted with a message, and every bad file
gets a sentence while the server keeps serving."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file

import camdemo
from camdemo.app import own_models as store
from camdemo.app.options import CONTROLS
from camdemo.app.views import label_dict, outputs_text
from camdemo.models import load_model
from tests.helpers import ASSETS
from tests.helpers.onnx_files import export, external_data, unsupported_operators

SHAPES_IMAGE = ASSETS / "shapes_two.png"
NO_OPTIONS = [None] * len(CONTROLS)  # the method settings of /explain, between the sign and the target


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("onnx") / "shapes.onnx"
    path.write_bytes(export(load_model("shapes_gapnet"), 96))
    return str(path)


@pytest.fixture(scope="module")
def labels_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("labels") / "labels.json"
    path.write_text('{"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", '
                    '"7": "seven"}')
    return str(path)


def load(client: Client, path: str, labels: str | None = None) -> str:
    """Upload ``path`` on the client's page with ShapesGapNet's normalization: the panel's report."""
    _, report = client.predict(handle_file(path), handle_file(labels) if labels else None, 0, "auto", "0.5", "0.25",
                               "auto", api_name="/load_model")
    return report


def explain(client: Client, backbone: str, image=SHAPES_IMAGE, class_choice="2", layer=None, method="gradcam",
            direction="up", versus=None) -> tuple:
    return client.predict(handle_file(str(image)), backbone, layer, method, class_choice, "jet", 1.0, False,
                          "positive", *NO_OPTIONS, direction, versus, api_name="/explain")


@pytest.fixture(scope="module")
def owner(server, onnx_file, labels_file) -> Client:
    """A page that uploaded the exported ShapesGapNet, with its labels."""
    client = Client(server, verbose=False)
    report = load(client, onnx_file, labels_file)
    assert "Your model (shapes)" in report and "3×96×96" in report and "Pre-flight check" in report
    return client


def test_an_uploaded_onnx_model_gives_the_built_in_map(owner):
    """The same weights through ONNX: the downloaded heatmap (.npy) is the built-in one to 1e-3, and the uploaded
    labels name the class."""
    own = explain(owner, "your_model")
    built_in = explain(owner, "shapes_gapnet")
    assert "'two'" in own[3] and "Your model (shapes)" in own[3]
    own_map, built_in_map = np.load(own[6]), np.load(built_in[6])
    assert own_map.shape == built_in_map.shape and np.abs(own_map - built_in_map).max() < 1e-3


def test_another_page_can_neither_see_nor_use_it(owner, server):
    stranger = Client(server, verbose=False)
    with pytest.raises(Exception, match="your_model|No model of yours"):
        explain(stranger, "your_model")
    backbone = stranger.view_api(return_format="dict", print_info=False)["named_endpoints"]["/explain"]["parameters"][1]
    assert "'efficientnet_lite0'" in str(backbone) and "'your_model'" not in str(backbone)
    assert "Your model" in explain(owner, "your_model")[3]  # the owner's still works


def test_compare_and_the_sanity_check_take_the_pages_own_model(owner, server):
    """The Compare and Sanity check tabs explain the uploaded model too (the check randomizes a copy of it); another
    page asking for it is refused."""
    image = handle_file(str(SHAPES_IMAGE))
    gallery, table, _, _ = owner.predict(image, "your_model", None, "2", ["gradcam", "saliency"], True, "jet",
                                         api_name="/compare")
    assert len(gallery) == 2 and "deletion" in table.lower()
    gallery, table = owner.predict(image, "your_model", "2", ["gradcam"], 2, "jet", api_name="/sanity_check")
    assert len(gallery) == 3 and "trained" in table
    assert "Your model" in explain(owner, "your_model")[3]  # the page's own model was not changed by the check
    with pytest.raises(Exception, match="your_model|No model of yours"):
        Client(server, verbose=False).predict(image, "your_model", "2", ["gradcam"], 2, "jet",
                                              api_name="/sanity_check")


@pytest.mark.parametrize("name, content, expected", [
    ("notes.onnx", b"these are not the weights you are looking for", "not an ONNX model"),
    ("mystery.onnx", unsupported_operators(), r"Hardmax \(opset 17\), Mystery"),
    ("external.onnx", external_data(), "separate files"),
])
def test_bad_model_files_get_sentences_and_the_server_keeps_serving(owner, tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Exception, match=expected):
        load(owner, str(path))
    assert "Your model" in explain(owner, "your_model")[3]  # a refused upload leaves the page's model as it was


def test_pickle_files_are_not_accepted(owner, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(Exception, match="pickle"):
        load(owner, str(path))


def test_a_file_over_the_upload_limit_is_refused_as_it_streams_in(server, owner):
    response = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.onnx", b"\0" * (51 * 2**20))},
                          timeout=60)
    assert response.status_code == 413 and "at most 50 MB" in response.text
    assert "Your model" in explain(owner, "your_model")[3]


def test_why_the_cat_rather_than_the_espresso_lands_on_the_cat(owner):
    """Grad-CAM of tiger cat (282) rather than espresso (967): the score y_282 − y_967. Its map's mass lies on the
    left half of the photo, where the cat is; what lowers it (direction down) lies on the cup, at the right."""
    def left_share(result) -> float:
        heatmap = np.load(result[6])
        half = heatmap.shape[1] // 2
        return float(heatmap[:, :half].sum() / heatmap.sum())

    photo = ASSETS / "cat_and_coffee.jpg"
    rather = explain(owner, "efficientnet_lite0", photo, "282", "head", versus="967")
    assert "rather than 'espresso'" in rather[3] and left_share(rather) > 0.7
    against = explain(owner, "efficientnet_lite0", photo, "282", "head", direction="down", versus="967")
    assert left_share(against) < 0.5


@pytest.mark.slow
def test_a_model_evicted_for_room_says_so_to_its_owner(server, onnx_file, monkeypatch):
    """With room for one model, a second page's upload evicts the first's; the first page is told why."""
    monkeypatch.setattr(store.own_models, "max_models", 1)
    first, second = Client(server, verbose=False), Client(server, verbose=False)
    load(first, onnx_file)
    load(second, onnx_file)
    with pytest.raises(Exception, match="removed from this server to make room"):
        explain(first, "your_model")
    assert "Your model" in explain(second, "your_model")[3]


# --- without the server: the store, the labels file, how predictions read ------------------------------------


def one_output_net() -> torch.nn.Module:
    """A small convolutional model with one output (a logit or a value)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, 1))


def kept(nbytes: int) -> store.OwnModel:
    return store.OwnModel(camdemo.wrap_model(one_output_net(), input_size=16, output="binary"), nbytes, 0.01, "m")


def test_the_store_evicts_the_least_recently_used_by_count_and_by_bytes():
    models = store.OwnModels(max_models=2, max_bytes=100)
    assert models.put("a", kept(40)) == [] and models.put("b", kept(40)) == []
    models.get("a")  # a was used last: b goes first
    assert models.put("c", kept(40)) == ["b"]
    assert models.put("d", kept(90)) == ["a", "c"]  # by bytes: 40 + 40 + 90 > 100
    with pytest.raises(camdemo.CamdemoError, match="removed from this server"):
        models.get("b")
    with pytest.raises(camdemo.CamdemoError, match="No model of yours"):
        models.get("never")
    with pytest.raises(camdemo.CamdemoError, match="at most 0 MB"):
        models.put("e", kept(101))
    assert store.model_for("efficientnet_lite0", "d") == "efficientnet_lite0"


@pytest.mark.parametrize("text, labels", [("cat\ndog\n\n", ["cat", "dog"]), ('["cat", "dog"]', ["cat", "dog"]),
                                          ('{"1": "dog", "0": "cat"}', ["cat", "dog"]),
                                          ('["a | b", "two\\nlines"]', ["a / b", "two lines"])])  # tables stay whole
def test_labels_files_one_per_line_or_json(text, labels):
    assert store.parse_labels(text, outputs=2) == labels


@pytest.mark.parametrize("text, message", [('{"0": "cat", "2": "dog"}', "none missing"), ("[1, 2", "not valid JSON"),
                                           ("cat\ndog\nbird", "3 labels and the model has 2")])
def test_bad_labels_files_get_sentences(text, message):
    with pytest.raises(camdemo.CamdemoError, match=message):
        store.parse_labels(text, outputs=2)


def test_predictions_read_as_the_kind_of_output(pair_image):
    """A regression shows values (no gr.Label of probabilities), a binary model its positive output and the
    complement, a softmax the usual top-5."""
    regression = camdemo.explain(pair_image, model=camdemo.wrap_model(one_output_net(), input_size=16,
                                                                      output="regression"))
    assert label_dict(regression) is None and "| output | value |" in outputs_text(regression)
    binary = camdemo.explain(pair_image, model=camdemo.wrap_model(one_output_net(), input_size=16, output="binary"))
    probabilities = label_dict(binary)
    assert probabilities is not None and sum(probabilities.values()) == pytest.approx(1.0)
    assert "complement" in outputs_text(binary)
    assert outputs_text(camdemo.explain(pair_image)) == ""
