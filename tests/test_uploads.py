"""Uploads are bounded, refused and interrupted ones leave no file, and the server cleans up after itself.

The app is launched with ``ui.launch_options()`` as ``app.py`` does, with two changes that keep these
tests small and private: uploads are limited to 1 MB instead of 50 MB, and Gradio's cache is a folder
of this test module's own (``GRADIO_TEMP_DIR``), so that "no file left" is not disturbed by others.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file

from tests.helpers import ASSETS
from tests.helpers.server import launched_demo, wait_for

pytestmark = pytest.mark.server  # the module's own app (its `app` fixture)

LIMIT = 2**20  # the test app's max_file_size, "1mb"
BOUNDARY = b"camdemo-test-boundary"
DISK_FULL = "The server's disk is full; please try again later."
HOUR = 3600


def _aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _result_folder(owner: str | None, age: float = 0) -> Path:
    """A ``camdemo-downloads-*`` folder in the real temp folder, as an earlier camdemo run leaves it."""
    folder = Path(tempfile.mkdtemp(prefix="camdemo-downloads-"))
    (folder / "abc123").mkdir()
    (folder / "abc123" / "overlay.png").write_bytes(b"png")
    if owner is not None:
        (folder / "owner").write_text(owner)
    return _aged(folder, age)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The launched app, its private cache folder, and the folders laid out before it started."""
    from camdemo.app import ui

    cache = tmp_path_factory.mktemp("gradio-cache")
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = socket.gethostname()
    before = {
        "result of a finished run": _result_folder(f"{host} {gone.pid}"),
        "result of a running process": _result_folder(f"{host} {os.getpid()}"),
        "result without owner, two days old": _result_folder(None, age=48 * HOUR),
        "result without owner, new": _result_folder(None),
        "result of another host, two days old": _result_folder(f"elsewhere {os.getpid()}", age=48 * HOUR),
        "result of another host, new": _result_folder(f"elsewhere {gone.pid}"),
        "empty cache folder": cache / "e3b0c442",
        "empty cache folder just made": cache / "5feceb66",
        "cache folder with a file": cache / "6b86b273",
    }
    for name in ("empty cache folder", "empty cache folder just made", "cache folder with a file"):
        before[name].mkdir()
    (before["cache folder with a file"] / "cat.jpg").write_bytes(b"jpg")
    _aged(before["empty cache folder"], HOUR)
    _aged(before["cache folder with a file"], HOUR)
    with pytest.MonkeyPatch.context() as patch:  # Gradio reads GRADIO_TEMP_DIR on every upload check too
        patch.setenv("GRADIO_TEMP_DIR", str(cache))
        patch.setattr(ui, "MAX_FILE_SIZE", "1mb")
        try:
            with launched_demo() as demo:
                yield demo.local_url.rstrip("/"), cache, before
        finally:
            for path in before.values():
                if path.name.startswith("camdemo-downloads-"):
                    shutil.rmtree(path, ignore_errors=True)


def _files_in(cache: Path) -> list[Path]:
    return [path for path in cache.rglob("*") if path.is_file()]


def _multipart(*parts: tuple[str | None, bytes]) -> bytes:
    """A multipart body of "files" parts: (file name or None for a plain field, content)."""
    body = b""
    for name, content in parts:
        filename = f"; filename=\"{name}\"" if name is not None else ""
        body += (b"--" + BOUNDARY + b"\r\n" + f'Content-Disposition: form-data; name="files"{filename}\r\n'.encode()
                 + b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n")
    return body + b"--" + BOUNDARY + b"--\r\n"


def _post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url + "/gradio_api/upload", content=body, timeout=30,
                      headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}"})


def _open_upload(url: str, headers: dict[str, str], timeout: float) -> socket.socket:
    """A bare connection that has sent the request line and headers of a POST to the upload route."""
    address = urlsplit(url)
    sock = socket.create_connection((address.hostname, address.port), timeout=timeout)
    head = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
    sock.sendall(f"POST /gradio_api/upload HTTP/1.1\r\nHost: {address.netloc}\r\n{head}\r\n".encode())
    return sock


def _raw_request(url: str, headers: dict[str, str], body_parts=(), timeout: float = 10) -> tuple[int, str]:
    """Send the body parts, then read the answer until the server closes; return (status, text)."""
    sock = _open_upload(url, headers, timeout)
    try:
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    head, _, text = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), text.decode()


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _photo() -> bytes:
    return (ASSETS / "chelsea_cat.jpg").read_bytes()


def test_two_files_in_one_upload_are_refused_and_leave_no_file(app):
    url, cache, _ = app
    files_before = set(_files_in(cache))
    response = _post(url, _multipart(("a.jpg", _photo()), ("b.jpg", _photo())))
    assert response.status_code == 413
    assert response.text == "Please upload one image at a time (at most 1 file per upload)."
    assert set(_files_in(cache)) == files_before
    one = _post(url, _multipart(("a.jpg", _photo())))  # one image per upload still goes through
    assert one.status_code == 200 and Path(one.json()[0]).read_bytes() == _photo()


def test_a_declared_oversized_upload_is_refused_before_its_body_is_sent(app):
    """The answer comes at once, without waiting for (or storing) the 5 MB the client announced."""
    url, _, _ = app
    status, text = _raw_request(url, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}",
                                      "Content-Length": str(5 * LIMIT)}, timeout=5)
    assert (status, text) == (413, "This upload is too large: at most 1 MB per upload.")


def test_a_streamed_upload_is_refused_as_soon_as_it_passes_the_limit(app):
    """1.1 MB sent with no length announced, then the client waits: the server must answer without more.

    This body is one form field, not a file: Gradio's parser holds a field in memory whole and limits
    only files, each on its own (a too-large file gets its own 413 from Gradio).
    """
    url, cache, _ = app
    header = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="files"\r\n\r\n'
    chunks = [_chunked(header)] + [_chunked(bytes(64 * 2**10)) for _ in range(18)]  # 1.125 MB
    status, text = _raw_request(url, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}",
                                      "Transfer-Encoding": "chunked"}, chunks, timeout=5)
    assert (status, text) == (413, "This upload is too large: at most 1 MB per upload.")


def test_parts_and_file_names_are_read_whatever_the_chunks():
    """A delimiter or a part's headers may be split anywhere between two network reads."""
    from camdemo.app.serving import _PartScanner
    body = _multipart(("a.jpg", b"x" * 50), (None, b"--" + BOUNDARY[:-1]), ("../c.jpg", b"\r\n--"), ("", b""))
    for split in range(1, len(body)):
        scanner = _PartScanner(BOUNDARY)
        scanner.feed(body[:split])
        scanner.feed(body[split:])
        assert (scanner.parts, scanner.filenames) == (4, ["a.jpg", "../c.jpg", ""]), split
    scanner = _PartScanner(BOUNDARY)
    for byte in body:
        scanner.feed(bytes([byte]))
    assert (scanner.parts, scanner.filenames) == (4, ["a.jpg", "../c.jpg", ""])


def test_a_file_name_gradio_would_refuse_is_refused_before_the_file_is_written(app):
    """Gradio refuses ".." only after the file is in its cache, and leaves it there: 50 MB per request."""
    url, cache, _ = app
    files_before = set(_files_in(cache))
    response = _post(url, _multipart(("..", _photo())))
    assert set(_files_in(cache)) == files_before
    assert (response.status_code, response.text) == (
        400, "This file's name cannot be used; please rename the file and upload it again.")


def _partial_files(cache: Path) -> list[Path]:
    """Gradio's parser spools each file to ``tmp*`` at the top of its cache until the upload completes."""
    return [path for path in cache.glob("tmp*") if path.is_file()]


def test_an_interrupted_upload_leaves_no_partial_file(app):
    """The client hangs up halfway through a file that the server has begun to write."""
    url, cache, _ = app
    body = _multipart(("cat.jpg", bytes(900 * 2**10)))
    sock = _open_upload(url, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}",
                              "Content-Length": str(len(body))}, timeout=10)
    try:
        sock.sendall(body[:500 * 2**10])
        assert wait_for(lambda: _partial_files(cache)), "the server never began to write the file"
    finally:
        sock.close()
    assert wait_for(lambda: not _partial_files(cache)), _partial_files(cache)


def test_an_upload_is_refused_with_a_plain_message_when_the_disk_is_full(app, monkeypatch):
    url, cache, _ = app
    full = shutil.disk_usage(cache)._replace(free=10 * 2**20)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: full)
    response = _post(url, _multipart(("cat.jpg", _photo())))
    assert (response.status_code, response.text) == (507, DISK_FULL)
    assert not _partial_files(cache)


def test_an_upload_that_fills_the_disk_gets_the_plain_message(app, monkeypatch):
    """The disk fills between the free-space check and Gradio's write (another program, say).

    Gradio's parser deletes its partial file only on its own errors, so here (and only here) it stays.
    """
    from gradio.route_utils import GradioUploadFile
    url, cache, _ = app
    partial_before = set(_partial_files(cache))

    async def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/secret/path/tmpabc")

    monkeypatch.setattr(GradioUploadFile, "write", no_space)
    response = _post(url, _multipart(("cat.jpg", _photo())))
    assert (response.status_code, response.text) == (507, DISK_FULL)
    for path in set(_partial_files(cache)) - partial_before:
        path.unlink()


@pytest.mark.parametrize("how", ["a write fails", "almost no space left"])
def test_a_full_disk_while_writing_results_says_so_without_a_server_path(app, monkeypatch, how):
    url, _, _ = app

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/secret/path/heatmap.npy")

    if how == "a write fails":
        monkeypatch.setattr(np, "save", no_space)
    else:
        real = shutil.disk_usage  # the upload still has room; the results' folder has 10 MB left
        monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=10 * 2**20)
                            if "camdemo-downloads-" in str(path) else real(path))
    client = Client(url, verbose=False)
    with pytest.raises(Exception) as raised:
        client.predict(handle_file(str(ASSETS / "chelsea_cat.jpg")), "efficientnet_lite0", "head", "gradcam", "auto",
                       "jet", 0.5, True, api_name="/explain")
    assert DISK_FULL in str(raised.value)
    assert "/tmp" not in str(raised.value) and "secret" not in str(raised.value)
    monkeypatch.undo()
    *_, summary = client.predict(handle_file(str(ASSETS / "chelsea_cat.jpg")), "efficientnet_lite0", "head",
                                 "gradcam", "auto", "jet", 0.5, True, api_name="/explain")[:4]
    assert "Grad-CAM" in summary  # and once there is room again, results come back


def test_result_folders_of_finished_runs_are_removed_at_start_up(app):
    _, _, before = app
    from camdemo.app import downloads as ui_downloads
    assert ui_downloads._root().is_dir()  # this process's own
    kept = {name: path.is_dir() for name, path in before.items() if name.startswith("result")}
    assert kept == {"result of a finished run": False, "result of a running process": True,
                    "result without owner, two days old": False, "result without owner, new": True,
                    "result of another host, two days old": False, "result of another host, new": True}


def test_empty_cache_folders_are_removed(app, tmp_path):
    _, _, before = app
    assert not before["empty cache folder"].exists()
    assert before["empty cache folder just made"].is_dir()  # Gradio may be about to put a file in it
    assert (before["cache folder with a file"] / "cat.jpg").is_file()

    from camdemo.app.serving import remove_empty_folders
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "kept.png").write_bytes(b"png")
    assert remove_empty_folders(tmp_path, min_age=0) == 3
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == ["d", "d/e", "d/e/kept.png"]
