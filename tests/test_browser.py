"""A real browser (headless Chromium driven by Playwright) against the launched app, as a person uses it.

Uses Debian's Chromium (/usr/bin/chromium): Playwright's own browser download is not available here.
``.ci/run`` installs it and sets CAMDEMO_REQUIRE_BROWSER=1, so in CI a missing browser is a failure;
elsewhere the test is skipped with a note when there is no Chromium. The screenshot is saved to
``test-artifacts/browser.png``.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers.browser import ARTIFACTS, chromium
from tests.helpers import ASSETS

pytestmark = pytest.mark.browser  # and, through the `server` fixture, server

CHROMIUM, sync_api = chromium()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server, timeout=60_000)
    page.wait_for_selector("text=Photos (ImageNet backbones)", timeout=60_000)
    yield page
    page.close()


def choose(page, label: str, option: str, typed: str | None = None) -> None:
    box = page.get_by_label(label)
    box.click()
    if typed:
        page.keyboard.type(typed, delay=20)
    page.get_by_role("option", name=option).first.click()


def test_upload_choose_and_see_the_explanation(page):
    page.locator("input[type=file]").first.set_input_files(str(ASSETS / "cat_and_coffee.jpg"))
    page.wait_for_selector("text=of EfficientNet-Lite0 for class", timeout=60_000)  # the top-1, at once

    choose(page, "Backbone (classifier)", "EfficientNet-Lite1 (offline)")
    page.wait_for_selector("text=of EfficientNet-Lite1 for class", timeout=60_000)
    page.get_by_label("Grad-CAM · class activation maps", exact=True).check()
    choose(page, "Class to explain", "espresso · 967", typed="espresso")
    summary = page.wait_for_selector("text=Grad-CAM at layer head of EfficientNet-Lite1 for class 967 'espresso'",
                                     timeout=60_000)
    assert summary is not None

    predictions = page.locator("[data-testid='label-output-value'], .output-class").first.inner_text()
    assert any(name in predictions for name in ("Egyptian cat", "tabby", "tiger cat"))
    overlay_loaded = page.evaluate(
        "() => [...document.querySelectorAll('img')].some(i => i.naturalWidth >= 900 && i.complete)")
    assert overlay_loaded  # the 901-px wide overlay is on the page
    assert "class=967" in page.url and "backbone=efficientnet_lite1" in page.url  # shareable link
    assert not page.locator(".toast-body").all_inner_texts()  # no error shown
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser.png"), full_page=True)


EXPLAINED = "() => (document.body.innerText.match(/for class (\\d+) '([^']*)' \\(p = /) || []).slice(1)"


def explained(page) -> tuple[int, str] | None:
    """The (index, label) of the class the result on the page explains, from its summary line."""
    found = page.evaluate(EXPLAINED)
    return (int(found[0]), found[1]) if found else None


def type_class_and_press_enter(page, typed: str) -> tuple[int, str]:
    """Type into the class box, press Enter (no click on the list) and return the class explained next."""
    before = explained(page)
    page.get_by_label("Class to explain").click()
    page.keyboard.press("Control+a")  # replace the current class (the page also selects it on focus)
    page.keyboard.type(typed, delay=20)
    page.keyboard.press("Enter")
    page.wait_for_function(f"(before) => {{ const now = ({EXPLAINED})(); return now.length && now[0] !== before; }}",
                           arg=str(before[0]) if before else None, timeout=60_000)
    return explained(page)


def test_typing_a_class_name_and_pressing_enter_explains_the_best_match(page):
    """Enter after "cup" explains cup (968), not porcupine (334), the first list entry containing "cup";
    "cat" explains a class with the word "cat" in its name, not oystercatcher (143)."""
    page.get_by_role("tab", name="Explain").click()
    page.locator("input[type=file]").first.set_input_files(str(ASSETS / "chelsea_cat.jpg"))  # not the image shown
    page.wait_for_selector("text=/for class \\d+ '.*(cat|tabby)'/", timeout=60_000)  # the top-1: a cat

    assert type_class_and_press_enter(page, "cup") == (968, "cup")
    assert page.get_by_label("Class to explain").input_value() == "cup · 968"
    index, label = type_class_and_press_enter(page, "cat")
    assert re.search(r"\bcat\b", label) and index != 143, (index, label)
    assert (index, label) == (282, "tiger cat")  # the lowest index among them (camdemo.app.classes)
    assert not page.locator(".toast-body").all_inner_texts()


def test_bad_upload_shows_the_message_and_the_page_keeps_working(page, tmp_path):
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"this is not a jpeg")
    page.locator("input[type=file]").first.set_input_files(str(bad))
    page.wait_for_selector("text=not an image camdemo can read", timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(ASSETS / "coffee.jpg"))
    page.wait_for_selector("text=for class 967 'espresso'", timeout=60_000)


@pytest.mark.slow
def test_compare_and_sanity_tabs_in_the_browser(page):
    """The learner's path through the new tabs: compare maps with faithfulness, then the sanity check."""
    page.locator("input[type=file]").first.set_input_files(str(ASSETS / "cat_and_coffee.jpg"))
    page.wait_for_selector("text=of EfficientNet-Lite", timeout=60_000)
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Compare methods").click()
    page.wait_for_selector("text=Most faithful here", timeout=180_000)
    assert page.locator("text=deletion AUC").count() >= 1
    page.get_by_role("tab", name="Sanity check").click()
    page.get_by_role("button", name="Randomize the model and compare").click()
    page.wait_for_selector("text=randomized layers", timeout=180_000)
    assert page.locator("text=Guided Backprop").count() >= 1
    assert not page.locator(".toast-body").all_inner_texts()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser_sanity.png"), full_page=True)


def test_each_upload_runs_the_explanation_once(page, monkeypatch):
    """Gradio's image sends its change event twice per upload (12 uploads made 17 runs); one run each."""
    import time

    import camdemo
    runs: list = []
    explain = camdemo.explain
    monkeypatch.setattr(camdemo, "explain", lambda *args, **kwargs: runs.append(1) or explain(*args, **kwargs))
    names = ["chelsea_cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg"]
    for count, name in enumerate(names, start=1):
        page.locator("input[type=file]").first.set_input_files(str(ASSETS / name))
        deadline = time.monotonic() + 60
        while len(runs) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # time for a duplicate event to arrive
    assert len(runs) == len(names)


@pytest.fixture
def phone(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server, timeout=60_000)
    page.wait_for_selector("text=Your image", timeout=60_000)
    yield page
    context.close()


def test_on_a_phone_the_result_comes_right_after_the_upload(phone):
    phone.locator("input[type=file]").first.set_input_files(str(ASSETS / "chelsea_cat.jpg"))
    phone.wait_for_selector("text=of EfficientNet-Lite0 for class", timeout=60_000)
    where = phone.evaluate("""() => {
        const top = (selector) => document.querySelector(selector).getBoundingClientRect().top + window.scrollY;
        return {upload: top('#camdemo-controls [data-testid="image"], #camdemo-controls .image-container'),
                result: top('#camdemo-results'), settings: top('#camdemo-settings')}; }""")
    assert where["upload"] < where["result"] < where["settings"], where
    assert where["result"] < 844  # it starts on the first screen
    phone.get_by_text("Which backbones work offline?").click()
    cell = phone.locator(".prose td").first
    cell.wait_for(timeout=10_000)
    lines = cell.evaluate("""(cell) => { const range = document.createRange(); range.selectNodeContents(cell);
        return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size; }""")
    assert lines == 1  # one line, not one character per line
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "phone.png"))


def test_missing_weights_say_so_once_and_the_page_keeps_working(browser, server):
    """ResNet-50's weights are not on this machine (tests never download): one whole message, no Error badges."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})  # a fresh visitor: EfficientNet-Lite0
    page.goto(server, timeout=60_000)
    page.wait_for_selector("text=Photos (ImageNet backbones)", timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(ASSETS / "chelsea_cat.jpg"))
    page.wait_for_selector("text=of EfficientNet-Lite0 for class", timeout=60_000)
    choose(page, "Backbone (classifier)", "ResNet-50 (downloads weights)")
    message = page.wait_for_selector("text=needs the weights file", timeout=60_000).inner_text()
    assert "download-weights resnet50" in message and "EfficientNet-Lite backbones work offline" in message
    assert page.locator("text=needs the weights file").count() == 1
    assert not page.locator(".toast-body").all_inner_texts()
    assert page.get_by_text("Error", exact=True).count() == 0  # no output or control marked as failed
    choose(page, "Backbone (classifier)", "EfficientNet-Lite1 (offline)")
    page.wait_for_selector("text=of EfficientNet-Lite1 for class", timeout=60_000)
    page.close()


@pytest.mark.slow
def test_a_slow_method_says_its_cost_first_and_shows_its_progress_where_the_result_goes(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server, timeout=60_000)
    page.wait_for_selector("text=Photos (ImageNet backbones)", timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(ASSETS / "chelsea_cat.jpg"))
    page.wait_for_selector("text=of EfficientNet-Lite0 for class", timeout=60_000)
    assert page.locator("text=Cost: 1 pass").count() == 1  # Grad-CAM
    page.get_by_label("Score-CAM · class activation maps", exact=True).check()
    page.wait_for_selector("text=Cost: 129 passes", timeout=10_000)  # said before it runs
    progress = page.wait_for_selector("#camdemo-results >> text=/Score-CAM: \\d+ of \\d+ masked images/",
                                      timeout=30_000)
    assert progress is not None
    page.wait_for_selector("text=Score-CAM at layer head", timeout=120_000)
    page.close()
