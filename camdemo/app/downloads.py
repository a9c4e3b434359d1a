"""Files the app hands to Gradio: the pictures it shows and the downloads (overlay PNG, heatmap .npy/PNG).

They are written to one folder per process inside Gradio's cache, a sub-folder per result, and only
the most recent results are kept, so disk use stays bounded however many people use the app. Inside
its cache, Gradio serves a file as it is; a file elsewhere it first reads whole to hash it and copies
(measured: about 10 ms for a 1-megapixel result's six files).

Why the displayed pictures are files too: Gradio 6.31 saves image *arrays* into its cache with a
plain write to a path named by the content hash, so two identical results (a class clicking the same
example) can truncate a picture while another client is downloading it ("received 0 bytes"). Files
go through Gradio's atomic copy instead. JPEG is also much faster to encode than Gradio's WebP.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from gradio.utils import get_upload_folder

import camdemo
from camdemo import saving
from camdemo.app.serving import RESULT_FOLDER_PREFIX, claim_folder, disk_guard
from camdemo.saving import write_image as _write_image  # one encoder for every picture the app writes

log = logging.getLogger("camdemo.app")
# Result folders kept: the newest PER_SESSION of each page, and KEEP_FOLDERS in all (about 2.5 MB each, most
# of it the .npy). Per page, so that one visitor re-drawing in a loop evicts its own files, not everyone's.
KEEP_FOLDERS = 256
PER_SESSION = 8
_roots: dict[str, Path] = {}  # Gradio's cache folder → this process's result folder in it
_recent: deque[tuple[str, Path]] = deque()  # (session, folder), oldest first
_lock = threading.Lock()


def _root() -> Path:
    """This process's result folder inside Gradio's cache as it is now (``GRADIO_TEMP_DIR`` may be set late)."""
    cache = get_upload_folder()
    if cache not in _roots:
        Path(cache).mkdir(parents=True, exist_ok=True)
        _roots[cache] = Path(tempfile.mkdtemp(prefix=RESULT_FOLDER_PREFIX, dir=cache))
        claim_folder(_roots[cache])  # a later run removes it once this process is gone (camdemo.app.serving)
    return _roots[cache]


def _new_folder(session: str) -> Path:
    """A new result folder for the page ``session``; drops that page's oldest beyond ``PER_SESSION``, then the
    oldest of all beyond ``KEEP_FOLDERS``."""
    with _lock:
        folder = Path(tempfile.mkdtemp(dir=_root()))
        _recent.append((session, folder))
        mine = [entry for entry in _recent if entry[0] == session]
        dropped = mine[:max(0, len(mine) - PER_SESSION)]
        for entry in dropped:
            _recent.remove(entry)
        while len(_recent) > KEEP_FOLDERS:
            dropped.append(_recent.popleft())
    for _, old in dropped:
        shutil.rmtree(old, ignore_errors=True)
    return folder


# Encoding is most of a result's cost after the network (a 1-megapixel PNG takes 15–50 ms); OpenCV releases
# the GIL while it encodes, so one result's pictures are encoded side by side on two threads.
_encoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="camdemo-encode")


def _lowest_priority() -> None:
    """Run this thread at the lowest CPU priority (Linux: a thread is a task with its own nice value), so that
    encoding one result's downloads never slows the next result's network pass."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: the same priority as the rest
        pass


# Downloads are encoded after the result is sent, on a thread of their own, so that they never hold up the
# pictures of the next result.
_download_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camdemo-downloads",
                                      initializer=_lowest_priority)


def _write_images(jobs: list[tuple[Path, np.ndarray, list[int]]]) -> None:
    """``_write_image`` for each (path, image, options), two at a time; the first error is raised."""
    for done in [_encoders.submit(_write_image, *job) for job in jobs]:
        done.result()


@disk_guard(_root)
def write_display(pair: tuple[np.ndarray, np.ndarray], heatmap: np.ndarray,
                  session: str = "local") -> tuple[tuple[str, str], str]:
    """The slider's (original, overlay) and the colored heatmap, as JPEG (20× faster to encode than PNG, and
    what a browser shows anyway); returns their paths. The downloads keep the lossless PNG."""
    folder = _new_folder(session)
    paths = [folder / name for name in ("original.jpg", "overlay.jpg", "heatmap.jpg")]
    _write_images([(path, rgb, [cv2.IMWRITE_JPEG_QUALITY, 92]) for path, rgb in zip(paths, (*pair, heatmap))])
    return (str(paths[0]), str(paths[1])), str(paths[2])


_being_written: dict[str, Future] = {}  # download path → its write, until it is done


def pending_write(path: str) -> Future | None:
    """The write of download file ``path`` if it is still under way (``serving.FilesBeingWritten`` waits)."""
    return _being_written.get(str(Path(path)))


def written(path: str, timeout: float = 30.0) -> str:
    """``path`` once its write has finished (for a caller in this process that reads a download at once)."""
    writing = pending_write(path)
    if writing is not None:
        writing.result(timeout)
    return path


def _in_background(path: Path, image: np.ndarray, options: list[int]) -> None:
    writing = _download_writer.submit(_write_image, path, image, options)
    _being_written[str(path)] = writing

    def done(future: Future) -> None:
        _being_written.pop(str(path), None)
        if future.exception() is not None:
            log.error("could not write %s: %s", path.name, future.exception())
    writing.add_done_callback(done)


@disk_guard(_root)
def write_downloads(explanation: camdemo.Explanation, overlay: np.ndarray, name: str,
                    session: str = "local") -> tuple[str, str, str]:
    """Write (overlay PNG, heatmap .npy, heatmap grayscale PNG) for one result; returns their paths.

    The files are ``camdemo.saving``'s, with the ``overlay`` the page shows. The two PNGs are encoded after
    this returns, on a thread of their own: nobody has asked for them yet (a browser fetches a download
    only when it is clicked), and a request that comes early waits for its file (``pending_write``)."""
    stem = f"{Path(name).stem or 'image'}_{explanation.backbone}_{explanation.method}_class{explanation.class_index}"
    files = saving.write_result(explanation, _new_folder(session), stem, overlay=overlay, with_record=False,
                                write_picture=_in_background)
    assert isinstance(files, saving.ResultFiles)  # a photo's result (matrices: write_data_downloads)
    return str(files.overlay), str(files.heatmap_npy), str(files.heatmap_png)


@disk_guard(_root)
def write_gallery(items: list[tuple[np.ndarray, str]], session: str = "local") -> list[tuple[str, str]]:
    """Captioned pictures for a ``gr.Gallery``, written as JPEG files (see the module note on arrays)."""
    folder = _new_folder(session)
    written = []
    for index, (rgb, caption) in enumerate(items):
        path = folder / f"{index:03d}.jpg"
        _write_image(path, rgb, [cv2.IMWRITE_JPEG_QUALITY, 90])
        written.append((str(path), caption))
    return written


class DataFilesShown(NamedTuple):
    """A matrix or signal result's files: the panel shown (PNG), the previous result's panel on the shared
    scale (or None), and the downloads."""

    panel: str
    previous_panel: str | None
    map_npy: str
    profiles_csv: str


@disk_guard(_root)
def write_data_files(explanation: camdemo.Explanation, name: str, session: str = "local",
                     scale: float | None = None, previous: camdemo.Explanation | None = None) -> DataFilesShown:
    """The data panel (``camdemo.saving``'s, drawn on ``scale``), the raw map (.npy) and the profiles (.csv) of one
    result, and ``previous``'s panel on the same scale; all written before this returns (the panel is shown now)."""
    stem = f"{Path(name).stem or 'data'}_{explanation.backbone}_{explanation.method}_class{explanation.class_index}"
    folder = _new_folder(session)
    files = saving.write_result(explanation, folder, stem, with_record=False, scale=scale)
    assert isinstance(files, saving.DataFiles)  # a result with data
    previous_panel = None
    if previous is not None:
        previous_panel = folder / "previous_panel.png"
        _write_image(previous_panel, saving.data_picture(previous, scale), saving.PNG_OPTIONS)
    return DataFilesShown(str(files.panel), None if previous_panel is None else str(previous_panel),
                          str(files.map_npy), str(files.profiles))
@disk_guard(_root)
def write_file(rgb: np.ndarray, name: str, session: str = "local") -> str:
    """A lossless PNG download of ``rgb`` called ``name``, in a result folder of its own; returns its path."""
    path = _new_folder(session) / name
    _write_image(path, rgb, [])
    return str(path)
