"""The *Matrices & signals* tab in a real browser (headless Chromium through Playwright), on a phone's screen:
upload a .npy, explain it, then again with the color scale shared; nothing is wider than the screen.

Skipped without Chromium, unless CAMDEMO_REQUIRE_BROWSER=1 (as ``tests/test_browser.py``). The screenshot is saved
to ``test-artifacts/data-tab-phone.png``.
"""

from __future__ import annotations


import numpy as np
import pytest

from tests.helpers.browser import ARTIFACTS, chromium
from tests.helpers.data_models import MATRIX_SHAPE

pytestmark = pytest.mark.browser  # and, through the `data_server` fixture, server

CHROMIUM, sync_api = chromium()
PHONE = {"width": 390, "height": 844}


def test_a_matrix_explained_on_a_phone(data_server, tmp_path):
    matrix = np.zeros(MATRIX_SHAPE, np.float32)
    matrix[3:5] = 1.0
    np.save(tmp_path / "bright.npy", matrix)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport=PHONE)
            page.goto(data_server)
            tab = page.get_by_role("tab", name="Matrices & signals")
            page.wait_for_timeout(1000)
            if not tab.is_visible():  # on a phone the last tabs are in Gradio's overflow menu
                page.locator("button.overflow-menu, .overflow-menu button").first.click()
                tab = page.get_by_text("Matrices & signals").last
            tab.click()
            page.locator("#camdemo-data-file input[type=file]").set_input_files(str(tmp_path / "bright.npy"))
            page.get_by_text("bright.npy").first.wait_for(timeout=20000)
            page.get_by_role("button", name="Explain", exact=True).last.click()
            page.get_by_text("What the model saw").wait_for(timeout=30000)
            assert page.get_by_text("The previous map, on the same scale").count() == 0
            page.get_by_text("Share one color scale with the previous map").click()
            page.get_by_role("button", name="Explain", exact=True).last.click()
            page.get_by_text("Both maps are drawn on one color scale").wait_for(timeout=30000)
            assert page.get_by_text("The previous map, on the same scale").first.is_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "data-tab-phone.png"), full_page=True)
        finally:
            browser.close()
