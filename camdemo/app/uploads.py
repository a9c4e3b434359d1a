"""The image and data inputs: only a file uploaded to this page (or a bundled example) is ever opened.

Gradio's own ``gr.Image`` opens the file with PIL before our code runs, so a damaged or non-image upload
would fail inside Gradio with a generic message; ``ImageUpload`` passes the path on unopened and camdemo
decodes it and says what is wrong.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar
from pathlib import Path

import gradio as gr
import pydantic
from gradio.data_classes import FileData, ImageData
from gradio.utils import get_upload_folder

from camdemo.assets import ASSETS_DIR

NOT_AN_UPLOAD = "This image did not arrive as an upload to this page. Please upload it again."
FILE_NOT_AN_UPLOAD = "This file did not arrive as an upload to this page. Please upload it again."
NOT_A_DATA_UPLOAD = FILE_NOT_AN_UPLOAD
MAX_DATA_MB = 40  # a .npy or .csv of camdemo.data.MAX_CELLS values (4,194,304 as CSV text: about 40 MB at most)


def uploaded_file(path: str) -> str | None:
    """``path`` resolved (symbolic links followed) if it is a file in Gradio's upload folder or a bundled
    example, else None. Nothing else on the server is ever opened on a visitor's behalf."""
    try:
        real = Path(os.path.realpath(path))
        roots = (Path(os.path.realpath(get_upload_folder())), Path(os.path.realpath(ASSETS_DIR)))
        if any(real.is_relative_to(root) for root in roots) and real.is_file():
            return str(real)
    except (OSError, ValueError, TypeError):  # a NUL byte, a name too long: refused like any other path
        pass
    return None


class _RefusedWithASentence:
    """A Gradio payload model that refuses anything else (a bare path string, a number) with its ``refusal``
    instead of pydantic's validation report."""

    refusal: ClassVar[str]

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate(obj, *args, **kwargs)  # type: ignore[misc]  # the pydantic model's
        except pydantic.ValidationError:
            raise gr.Error(cls.refusal, print_exception=False) from None


def checked_upload(payload: Any, refusal: str) -> str:
    """The path a payload names, if ``uploaded_file`` allows it; else ``refusal``, which says nothing about it."""
    checked = uploaded_file(payload.path) if getattr(payload, "path", None) else None
    if checked is None:
        raise gr.Error(refusal, print_exception=False)
    return checked


class UploadPayload(_RefusedWithASentence, ImageData):
    """Gradio's image payload, anything else refused with ``NOT_AN_UPLOAD``."""

    refusal: ClassVar[str] = NOT_AN_UPLOAD


class ImageUpload(gr.Image):
    """``gr.Image`` that passes the uploaded file's path on unopened, and only a path it uploaded.

    ``is_template`` makes Gradio reuse the normal Image frontend. A payload names a path. Gradio 6.31
    checks that it lies in the upload folder only when the payload carries its ``meta`` marker, so a
    hand-made request could name any server file. Every path is checked here instead: inside the upload
    folder or the bundled examples after following links, else refused with one message that says nothing
    about the path (not even whether it exists).
    """

    is_template = True
    data_model = UploadPayload

    def preprocess(self, payload):
        return None if payload is None else checked_upload(payload, NOT_AN_UPLOAD)


class FilePayload(_RefusedWithASentence, FileData):
    """Gradio's file payload, anything else refused with ``FILE_NOT_AN_UPLOAD``."""

    refusal: ClassVar[str] = FILE_NOT_AN_UPLOAD


class FileUpload(gr.File):
    """``gr.File`` (make it with ``file_count="single"``, ``type="filepath"``) that passes on only a file uploaded to
    this page (or a bundled example), like ``ImageUpload``, and only one of at most ``max_mb`` when that is set.

    ``file_types`` guides the browser's file picker only: what the file holds is checked by the code that reads it
    (an ONNX model's bytes by ``camdemo.load_onnx``, which refuses a pickle whatever its name; a matrix by
    ``camdemo.load_array``)."""

    is_template = True
    max_mb: float | None = None
    too_large = "This file is {size:.0f} MB; the app reads files of up to {limit} MB here."

    @property
    def data_model(self) -> type[FilePayload]:
        return FilePayload

    @data_model.setter
    def data_model(self, _value: Any) -> None:
        """``gr.File`` sets ``FileData`` (or ``ListFiles``): ignored, this upload is one file, checked as above."""

    def preprocess(self, payload):
        if payload is None:
            return None
        checked = checked_upload(payload, FILE_NOT_AN_UPLOAD)
        size = os.path.getsize(checked)
        if self.max_mb is not None and size > self.max_mb * 2**20:
            raise gr.Error(self.too_large.format(size=size / 2**20, limit=self.max_mb), print_exception=False)
        return checked


class DataUpload(FileUpload):
    """``FileUpload`` for one matrix or signal (.npy or .csv) of at most ``MAX_DATA_MB``, passed on unopened:
    ``camdemo.load_array`` reads and checks it, with its sentences."""

    max_mb = MAX_DATA_MB
    too_large = ("This file is {size:.0f} MB; the app reads matrices and signals of up to {limit} MB. Crop or "
                 "downsample it first, or use the command line.")

    def get_block_name(self) -> str:
        """The page draws it as a ``gr.File`` (Gradio names a template by its direct parent, here ``FileUpload``)."""
        return "file"
