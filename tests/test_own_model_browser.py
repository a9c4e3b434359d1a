"""'Your model' in a real browser (headless Chromium through Playwright): upload a photo, then an ONNX model and
its normalization, press 'Use this model', and the page explains the photo with it and reports the model."""

from __future__ import annotations


import pytest

from camdemo.models import load_model
from tests.helpers.browser import chromium
from tests.helpers import ASSETS
from tests.helpers.onnx_files import export

pytestmark = pytest.mark.browser
CHROMIUM, sync_api = chromium()


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server, timeout=60_000)
        page.wait_for_selector("text=Photos (ImageNet backbones)", timeout=60_000)
        yield page
        browser.close()


def test_an_uploaded_model_explains_the_photo_on_the_page(page, tmp_path):
    model = tmp_path / "shapes.onnx"
    model.write_bytes(export(load_model("shapes_gapnet"), 96))
    page.locator("input[type=file]").first.set_input_files(str(ASSETS / "shapes_two.png"))
    page.wait_for_selector("text=/of ShapesGapNet.* for class/", timeout=60_000)
    page.get_by_text("Your model (upload an ONNX file)").click()
    page.locator("input[type=file]").nth(1).set_input_files(str(model))  # the photo's, the model's, the labels'
    page.wait_for_selector("text=shapes.onnx", timeout=30_000)
    page.get_by_label("Mean per channel").fill("0.5")
    page.get_by_label("Std per channel").fill("0.25")
    page.get_by_role("button", name="Use this model").click()
    page.wait_for_selector("text=is loaded for this page only", timeout=120_000)
    page.wait_for_selector("text=/of Your model \\(shapes\\) for class/", timeout=60_000)
    assert "Pre-flight check" in page.inner_text("body")
    assert page.get_by_label("Backbone (classifier)").input_value() == "Your model (shapes) (this page only)"
    # the method's controls follow the page's own model
    page.get_by_label("Grad-CAM++ · class activation maps", exact=True).check()
    page.wait_for_selector("text=/Grad-CAM\\+\\+ at layer .* of Your model \\(shapes\\) for class/", timeout=60_000)
    assert not page.locator(".toast-body").all_inner_texts()  # no error shown
