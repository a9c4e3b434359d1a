"""A public server: only uploads are read, every request is bounded, fast work never waits behind slow
work, and a job stops when nobody waits for it. Through the real server where the behavior is the server's."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file

import camdemo
from camdemo.app import jobs
from camdemo.app.budget import BUDGET_SECONDS, total_cost
from camdemo.app.handlers.explain import restyle, run_explain
from camdemo.app.inputs import method_list
from camdemo.app.results import recent_results
from camdemo.app.uploads import FILE_NOT_AN_UPLOAD, NOT_AN_UPLOAD
from camdemo.cost import faithfulness_cost
from camdemo.errors import Cancelled
from benchmarks.load import fn_index as load_fn_index, free_port
from tests.helpers import ASSETS
from tests.helpers.server import call, fn_index, is_serving, open_job, wait_for

from camdemo.app.options import CONTROLS  # noqa: E402
from camdemo.explainers import METHODS  # noqa: E402

OPTIONS_OFF = [METHODS[owner].option_defaults[option] for owner, option, *_ in CONTROLS]  # the controls' defaults
ROOT = Path(__file__).resolve().parents[1]


def _explain_data(image, method="gradcam", backbone="efficientnet_lite0", options=None):
    """The raw inputs of /explain: image, backbone, layer, method, class, colormap, opacity, boxes, sign, one per
    method setting the app shows (``CONTROLS``), then the direction and the contrast class."""
    values = list(OPTIONS_OFF)
    for (owner, option, *_), index in zip(CONTROLS, range(len(CONTROLS))):
        if owner == method and options and option in options:
            values[index] = options[option]
    return [image, backbone, None, method, "auto", "viridis", 0.5, True, "positive", *values, "up", "none"]


# --- only uploads are read ------------------------------------------------------------------------------


@pytest.fixture
def outside_files(tmp_path):
    """An image outside Gradio's upload folder, and a link inside the upload folder that points to it."""
    image = tmp_path / "private.jpg"
    shutil.copy(ASSETS / "chelsea_cat.jpg", image)
    inside = Path(get_upload_folder()) / uuid.uuid4().hex
    inside.mkdir(parents=True)
    link = inside / "innocent.jpg"
    link.symlink_to(image)
    try:
        yield {"outside image": str(image), "system file": "/etc/passwd", "missing file": str(tmp_path / "nope.png"),
               "link out of the upload folder": str(link), "dotted path": f"{get_upload_folder()}/../../etc/passwd",
               "NUL byte": f"{get_upload_folder()}/a\x00b.jpg",
               "name too long": f"{get_upload_folder()}/{'a' * 300}.jpg"}
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def test_no_endpoint_reads_a_server_file_named_by_a_visitor(served_demo, server, outside_files):
    """Payloads without Gradio's "meta" marker skip its upload check; ours refuses them all alike."""
    url = server
    public = {
        "explain": lambda payload: _explain_data(payload),
        "compare": lambda payload: [payload, "efficientnet_lite0", None, "auto", ["gradcam"], False, "viridis"],
        "layer_sweep": lambda payload: [payload, "efficientnet_lite0", "gradcam", "auto", 2, "viridis"],
        "sanity_check": lambda payload: [payload, "efficientnet_lite0", "auto", ["gradcam"], 2, "viridis"],
        "reconstruct": lambda payload: [payload, "efficientnet_lite0", ["stem"], 20],
        "dream": lambda payload: [payload, "efficientnet_lite0", "blocks.7", 1, 2],
        "load_model": lambda payload: [payload, None, 0, "auto", "", "", "auto"],
    }
    private = {  # reachable by fn_index although hidden from the API page
        "run_explain_top1": lambda payload: [payload, "efficientnet_lite0", None, "gradcam", "viridis", 0.5, True,
                                             None, "positive", *OPTIONS_OFF, "up", "none"],
        "run_steps": lambda payload: [payload, "efficientnet_lite0", None, "auto", "viridis"],
    }
    answers = {}
    for kind, path in outside_files.items():
        for api_name, data in public.items():
            answers[(kind, api_name)] = call(url, api_name, data({"path": path}))
        for name, data in private.items():
            with open_job(url, fn_index(served_demo, name), data({"path": path})) as messages:
                deadline = time.monotonic() + 60
                while not any(m.get("msg") == "process_completed" for m in messages) and time.monotonic() < deadline:
                    time.sleep(0.05)
            done = next(m for m in messages if m.get("msg") == "process_completed")
            answers[(kind, name)] = ("complete" if done["success"] else "error", str(done["output"]))
    for (kind, where), (event, data) in answers.items():
        assert event == "error", f"{kind} through {where} was read: {data[:200]}"
        assert (NOT_AN_UPLOAD if where != "load_model" else FILE_NOT_AN_UPLOAD) in data, (kind, where, data)
        assert "No image file" not in data and "not an image" not in data, (kind, where)  # no existence oracle
        for path in outside_files.values():
            assert path not in data and "passwd" not in data


def test_a_real_upload_and_a_bundled_example_still_work(server):
    client = Client(server, verbose=False)
    result = client.predict(handle_file(str(ASSETS / "chelsea_cat.jpg")), "efficientnet_lite0", None, "gradcam",
                            "auto", "viridis", 0.5, True, "positive", api_name="/explain")
    assert "Grad-CAM" in result[3]
    client.close()


# --- every request is bounded ----------------------------------------------------------------------------


def test_too_costly_settings_are_refused_before_any_work(server):
    """SmoothGrad over Integrated Gradients with both sliders at their maximum took ~14 minutes on Lite2."""
    started = time.perf_counter()
    event, data = call(server, "explain", _explain_data(
        {"path": str(ASSETS / "chelsea_cat.jpg")}, "smoothgrad", "efficientnet_lite2",
        {"base": "integrated_gradients", "samples": 100}))
    assert event == "error" and "more than this server allows" in data and "min here" in data
    assert time.perf_counter() - started < 5


def test_every_setting_the_app_offers_at_its_default_fits_the_budget():
    from camdemo.cost import estimate_cost
    for backbone in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"):
        for info in camdemo.methods(backbone):
            if info.available:
                cost = estimate_cost(backbone=backbone, method=info.name)
                assert cost.seconds <= BUDGET_SECONDS, (backbone, info.name)


def test_a_full_queue_answers_in_words(served_demo, server):
    """The browser shows its own "This application is currently busy"; the server's answer reads as well."""
    served_demo._queue.max_size = 0
    try:
        response = httpx.post(f"{server}gradio_api/queue/join", timeout=30, json={
            "data": _explain_data({"path": str(ASSETS / "chelsea_cat.jpg")}),
            "fn_index": fn_index(served_demo, "explain"),
            "session_hash": uuid.uuid4().hex, "event_data": None, "trigger_id": None})
    finally:
        served_demo._queue.max_size = 16
    assert response.status_code == 503
    assert "very busy" in response.json()["detail"] and "Max size" not in response.json()["detail"]


# --- the lanes, in-process -----------------------------------------------------------------------------


def _steps(count: int, seconds: float, log: list, name: str):
    """A fake model job: ``count`` steps of ``seconds``, reporting progress after each."""
    def work(progress):
        for step in range(count):
            time.sleep(seconds)
            log.append((name, step))
            progress((step + 1) / count, f"{name} step {step + 1}")
        return name
    return work


def test_a_fast_job_does_not_wait_behind_a_slow_one():
    lanes, log = jobs.Lanes(), []
    slow = threading.Thread(target=lanes.run, args=(_steps(40, 0.05, log, "slow"),),
                            kwargs=dict(session="a", fast=False))
    slow.start()
    while not log:
        time.sleep(0.01)
    started = time.perf_counter()
    assert lanes.run(_steps(1, 0.05, log, "fast"), session="b", fast=True) == "fast"
    assert time.perf_counter() - started < 0.5  # the slow job has 2 s left
    slow.join()
    fast_at = log.index(("fast", 0))
    assert fast_at < 5  # and the slow one paused for it


def test_one_visitor_cannot_fill_the_lanes():
    lanes = jobs.Lanes(per_session=2, waiting={jobs.FAST: 4, jobs.SLOW: 1})
    release = threading.Event()

    def blocked(progress):
        release.wait(5)
        return "done"

    first = threading.Thread(target=lanes.run, args=(blocked,), kwargs=dict(session="a", fast=False))
    first.start()
    while lanes.counts()["slow_running"] == 0:
        time.sleep(0.01)
    second = threading.Thread(target=lanes.run, args=(blocked,), kwargs=dict(session="a", fast=False))
    second.start()
    while lanes.counts()["slow_waiting"] == 0:
        time.sleep(0.01)
    with pytest.raises(jobs.Busy, match="You already have 2 jobs"):
        lanes.run(blocked, session="a", fast=True)
    with pytest.raises(jobs.Busy, match="1 slow jobs are waiting"):
        lanes.run(blocked, session="b", fast=False)
    assert lanes.run(lambda progress: "quick", session="b", fast=True) == "quick"  # the fast lane still serves
    release.set()
    first.join()
    second.join()


def test_a_job_stops_when_its_client_leaves_or_its_time_is_up():
    lanes, log = jobs.Lanes(time_limit=0.5), []
    gone = threading.Event()
    threading.Timer(0.3, gone.set).start()
    started = time.perf_counter()
    with pytest.raises(Cancelled, match="left"):
        lanes.run(_steps(100, 0.05, log, "left"), session="a", fast=False, client_gone=gone.is_set)
    assert time.perf_counter() - started < 0.6
    with pytest.raises(Cancelled, match="limit"):
        lanes.run(_steps(100, 0.05, log, "long"), session="a", fast=False)
    assert len([entry for entry in log if entry[0] == "long"]) < 15


# --- through the real server ----------------------------------------------------------------------------

SLOW_IG = {"steps": 256}  # 257 passes on Lite0: about 12 s here, well within the 30 s budget


def test_a_grad_cam_does_not_wait_behind_a_slow_method_and_a_left_job_stops(served_demo, server):
    lanes = jobs.lanes()
    cat = {"path": str(ASSETS / "chelsea_cat.jpg")}
    slow = _explain_data(cat, "integrated_gradients", options=SLOW_IG)
    with open_job(server, fn_index(served_demo, "explain"), slow):
        assert wait_for(lambda: lanes.counts()["slow_running"] == 1, 30)
        client = Client(server, verbose=False)
        started = time.perf_counter()
        result = client.predict(handle_file(str(ASSETS / "coffee.jpg")), "efficientnet_lite0", None, "gradcam",
                                "auto", "viridis", 0.5, True, "positive", api_name="/explain")
        waited = time.perf_counter() - started
        client.close()
        assert "Grad-CAM" in result[3]
        assert waited < 3.0, f"Grad-CAM took {waited:.1f} s behind Integrated Gradients"
        assert lanes.counts()["slow_running"] == 1  # Integrated Gradients was still running all along
    left = time.perf_counter()  # the page closed: the job must stop at its next step
    assert wait_for(lambda: lanes.counts()["slow_running"] == 0, 5), "the abandoned job kept running"
    assert time.perf_counter() - left < 5


@pytest.mark.server
@pytest.mark.slow
def test_ctrl_c_stops_the_server_during_a_long_job(tmp_path):
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_for(lambda: is_serving(url), 120), "the app did not start"
        index = load_fn_index(url, "explain")
        cat = {"path": str(ASSETS / "chelsea_cat.jpg")}
        long_job = _explain_data(cat, "integrated_gradients", "efficientnet_lite0", {"steps": 512})
        with open_job(url, index, long_job) as messages:
            assert wait_for(lambda: any(m.get("msg") == "progress" for m in messages), 60), messages
            started = time.perf_counter()
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        assert time.perf_counter() - started < 10
    finally:
        if process.poll() is None:
            process.kill()


def test_a_download_asked_for_at_once_waits_for_its_file(server, monkeypatch):
    """The download PNGs are encoded after the result is sent; an API client that fetches them at once gets them."""
    from PIL import Image

    from camdemo.app import downloads as ui_downloads
    write = ui_downloads._write_image

    def slow_write(path, image, options=None):
        if path.suffix == ".png":
            time.sleep(1.0)  # much slower than the client
        write(path, image, options)

    monkeypatch.setattr(ui_downloads, "_write_image", slow_write)
    client = Client(server, verbose=False, download_files=False)
    *_, overlay_png, npy, heatmap_png, _ = client.predict(
        handle_file(str(ASSETS / "chelsea_cat.jpg")), "efficientnet_lite0", None, "gradcam", "auto", "viridis", 0.5,
        True, "positive", api_name="/explain")
    client.close()
    started = time.perf_counter()
    for download, mode in ((overlay_png, "RGB"), (heatmap_png, "L")):
        response = httpx.get(download["url"], timeout=30)  # at once, as an API client would
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).mode == mode
    assert time.perf_counter() - started > 0.5  # it really was still being written


def test_raw_calls_with_odd_values_get_sentences(server):
    """Found by trying as an attacker: each used to answer with Python's own error text."""
    cat = {"path": str(ASSETS / "chelsea_cat.jpg")}
    odd = {
        "a class of '²'": (_explain_data(cat)[:4] + ["²"] + _explain_data(cat)[5:], "No class of"),
        "a class of 5,000 digits": (_explain_data(cat)[:4] + ["9" * 5000] + _explain_data(cat)[5:],
                                    "there is no class"),
        "a layer that is a dict": (_explain_data(cat)[:2] + [{"a": 1}] + _explain_data(cat)[3:], "must be chosen"),
        "a bare path instead of an upload": (["/etc/passwd"] + _explain_data(cat)[1:], "did not arrive as an upload"),
        "a number instead of an upload": ([7] + _explain_data(cat)[1:], "did not arrive as an upload"),
        "text for the opacity slider": (_explain_data(cat)[:6] + ["abc"] + _explain_data(cat)[7:],
                                        "'Heatmap opacity' must be a number from 0 to 1"),
        "text for a method setting": (_explain_data(cat, method="smoothgrad", options={"samples": "abc"}),
                                      "'SmoothGrad: noisy samples' must be a number from 1 to 500"),
    }
    for what, (data, expected) in odd.items():
        event, answer = call(server, "explain", data)
        assert event == "error" and expected in answer, (what, answer[:300])
        assert "Traceback" not in answer and "int()" not in answer and "unhashable" not in answer
        assert "validation error" not in answer and "Could not preprocess" not in answer, (what, answer[:300])
    event, answer = call(server, "layer_sweep", [cat, "efficientnet_lite0", "gradcam", "auto", float("nan"), "viridis"])
    assert event == "error" and "whole number" in answer
    event, answer = call(server, "explain", _explain_data(cat))
    assert event == "complete"  # and the server keeps serving


def test_compare_counts_faithfulness_and_each_method_once():
    assert method_list(["gradcam"] * 100, "compare") == ["gradcam"]
    plain = total_cost("efficientnet_lite1", ["gradcam", "scorecam"])
    faithfulness = faithfulness_cost(backbone="efficientnet_lite1")
    with_faithfulness = total_cost("efficientnet_lite1", ["gradcam", "scorecam"], extra=faithfulness)
    assert with_faithfulness.passes == plain.passes + 2 * faithfulness.passes


@pytest.mark.slow
def test_the_estimate_does_not_learn_from_jobs(cat_image):
    """A visitor could push a learned speed either way: jobs that stop early, or run while paused."""
    from camdemo.cost import estimate_cost
    before = estimate_cost(backbone="efficientnet_lite0", method="integrated_gradients")
    for _ in range(2):
        run_explain(str(ASSETS / "chelsea_cat.jpg"), "efficientnet_lite0", None, "integrated_gradients", "auto",
                       "viridis", 0.5, True, "positive", 8)
    assert estimate_cost(backbone="efficientnet_lite0", method="integrated_gradients") == before


def test_one_visitor_re_drawing_in_a_loop_keeps_everyone_elses_files(monkeypatch):
    """Found by trying: 33 re-draws by one visitor deleted another visitor's pictures and downloads."""
    from camdemo.app import downloads as ui_downloads
    monkeypatch.setattr(ui_downloads, "KEEP_FOLDERS", 40)
    result = camdemo.explain(ASSETS / "chelsea_cat.jpg")
    key = recent_results.put(result, "chelsea_cat.jpg")
    other = type("Request", (), {"session_hash": "another visitor"})()
    pair, heatmap, *downloads = restyle(key, "viridis", 0.5, True, "positive", other)
    spammer = type("Request", (), {"session_hash": "a visitor in a loop"})()
    for round_ in range(30):
        restyle(key, ("jet", "viridis")[round_ % 2], 0.5, True, "positive", spammer)
    for path in (*pair, heatmap, *downloads):
        assert Path(ui_downloads.written(path)).is_file()
    mine = [folder for session, folder in ui_downloads._recent if session == "a visitor in a loop"]
    assert len(mine) == ui_downloads.PER_SESSION
