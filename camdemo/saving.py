"""One writer for a result's files, used by the command line and by the app's downloads.

For a result saved as ``NAME`` in a folder:

* ``NAME_overlay.png``: the overlay (RGB);
* ``NAME_heatmap.npy``: the heatmap, float32 in [0, 1], the size of the image;
* ``NAME_heatmap.png``: the same heatmap as grayscale levels 0–255;
* ``NAME.json``: the predictions and the settings (the command line writes it; the app offers the other three).

For a matrix or a signal (a result with ``data``, from a model with ``data_shape``) instead:

* ``NAME_panel.png``: the data in its own colors beside its signed map and the row/column profiles (``data_panel``);
* ``NAME_map.npy``: the raw map at the data's resolution, float32 and signed (L for a signal, H×W otherwise);
* ``NAME_profiles.csv``: the map summed per row and per column (``axis,index,sum,rank``; a signal's ``sample``s),
  rank 1 to 5 for the top ones;
* ``NAME.json``: as above, plus the data's shape and the top rows and columns (a signal: samples).

Pictures are encoded in memory and then written, so a full disk raises its ``OSError`` (``cv2.imwrite``
just returns False, or leaves a truncated file).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Callable, NamedTuple

import cv2
import numpy as np

from .drawing.matrix import data_panel
from .explainers import METHODS
from .explanation import Explanation

# Lossless at any level; 1 encodes fastest (a 1-megapixel PNG: 15–50 ms, most of a result's cost after the network).
PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1]

PictureWriter = Callable[[Path, np.ndarray, list[int]], None]  # (path, RGB or grayscale image, encoder options)


class ResultFiles(NamedTuple):
    """The paths of one saved result's files; ``record`` is None when no JSON record was written."""

    overlay: Path
    heatmap_npy: Path
    heatmap_png: Path
    record: Path | None


class DataFiles(NamedTuple):
    """The paths of one saved matrix or signal result's files; ``record`` is None when no JSON record was written."""

    panel: Path
    map_npy: Path
    profiles: Path
    record: Path | None


def write_image(path: Path, image: np.ndarray, options: list[int] | None = None) -> None:
    """Write an RGB or grayscale image in the format of ``path``'s suffix, with OpenCV encoder ``options``."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(path.suffix, bgr, options or [])
    if not ok:
        raise OSError(f"could not encode {path.name}")
    path.write_bytes(encoded.tobytes())


def heatmap_levels(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] heatmap as grayscale levels: uint8, round(255 · value)."""
    return np.rint(heatmap * 255).astype(np.uint8)


def result_record(result: Explanation, source: str | Path | None = None) -> dict[str, Any]:
    """What the JSON record holds: the image's name, the predictions and the settings of ``result`` (a probability
    that does not exist, a regression's, is null); for a matrix or signal, its shape and top rows and columns."""
    record = {
        "image": str(source),
        "backbone": result.backbone, "method": result.method, "layer": result.layer,
        "class_index": result.class_index, "class_label": result.class_label,
        "class_probability": _number(result.class_probability),
        "predictions": [{key: _number(value) for key, value in p._asdict().items()} for p in result.predictions],
        "colormap": result.colormap, "opacity": result.opacity, "device": result.device,
        "precision": result.precision, "seconds": round(result.seconds, 4), "note": result.note,
        "direction": result.direction, "versus": result.versus, "output_kind": result.output_kind,
    }
    if result.data is not None:
        found = result.profiles()
        record["data_shape"] = list(result.data.shape)
        record |= {"top_samples": list(found.top_columns)} if result.data.ndim == 1 else \
            {"top_rows": list(found.top_rows), "top_columns": list(found.top_columns)}
    return record


def _number(value: Any) -> Any:
    """NaN (no probability) as None, so the record is strict JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


def data_map(result: Explanation) -> np.ndarray:
    """A matrix or signal result's raw map at the data's resolution, float32, signed: (L,) for a signal, H×W
    for a matrix or a stack."""
    assert result.data is not None
    values = result.map_values().astype(np.float32)
    return values.reshape(-1) if result.data.ndim == 1 else values


def data_picture(result: Explanation, scale: float | None = None) -> np.ndarray:
    """The data beside its map and the row/column profiles (``drawing.matrix.data_panel``); ``scale``: the
    map's color scale runs from −scale to +scale (one scale shared by two maps), default its own largest |value|."""
    assert result.data is not None
    explainer = METHODS[result.method]
    meaning = "red for, blue against" if explainer.is_signed(result.options) else "how much each cell matters"
    return data_panel(result.data, result.map_values(), scale=scale,
                      caption=f"{explainer.title} of '{result.class_label}': {meaning}")


def profiles_csv(result: Explanation, top: int = 5) -> str:
    """The map summed per row and per column as CSV, ``axis,index,sum,rank`` (rank 1 = the largest sum, for the
    ``top`` ones); a signal's sums are per ``sample``."""
    found = result.profiles(top)
    signal = result.data is not None and result.data.ndim == 1
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["axis", "index", "sum", "rank"])
    axes = [("sample", found.columns, found.top_columns)] if signal else \
        [("row", found.rows, found.top_rows), ("column", found.columns, found.top_columns)]
    for axis, sums, best in axes:
        for index, value in enumerate(sums):
            writer.writerow([axis, index, f"{float(value):.6g}", best.index(index) + 1 if index in best else ""])
    return text.getvalue()


def write_result(result: Explanation, folder: Path, name: str, *, source: str | Path | None = None,
                 overlay: np.ndarray | None = None, with_record: bool = True,
                 write_picture: PictureWriter = write_image, scale: float | None = None) -> ResultFiles | DataFiles:
    """Save ``result`` as ``name`` in ``folder`` (the files listed in the module docstring); returns their paths:
    ``ResultFiles`` for an image, ``DataFiles`` for a matrix or a signal.

    ``overlay`` replaces the result's own (the app saves the picture it shows, with its boxes); ``scale`` is the
    data panel's shared color scale (``data_picture``). The .npy, the CSV and the JSON record are written at
    once; the PNGs by ``write_picture(path, image, options)``, which the app gives to a background thread.
    """
    if result.data is not None:
        return _write_data_result(result, folder, name, source, with_record, write_picture, scale)
    files = ResultFiles(folder / f"{name}_overlay.png", folder / f"{name}_heatmap.npy",
                        folder / f"{name}_heatmap.png", folder / f"{name}.json" if with_record else None)
    np.save(files.heatmap_npy, result.heatmap)
    write_picture(files.overlay, result.overlay if overlay is None else overlay, PNG_OPTIONS)
    write_picture(files.heatmap_png, heatmap_levels(result.heatmap), PNG_OPTIONS)
    if files.record is not None:
        files.record.write_text(json.dumps(result_record(result, source), indent=2) + "\n")
    return files


def _write_data_result(result: Explanation, folder: Path, name: str, source: str | Path | None, with_record: bool,
                       write_picture: PictureWriter, scale: float | None) -> DataFiles:
    files = DataFiles(folder / f"{name}_panel.png", folder / f"{name}_map.npy", folder / f"{name}_profiles.csv",
                      folder / f"{name}.json" if with_record else None)
    np.save(files.map_npy, data_map(result))
    files.profiles.write_text(profiles_csv(result))
    if files.record is not None:
        files.record.write_text(json.dumps(result_record(result, source), indent=2) + "\n")
    write_picture(files.panel, data_picture(result, scale), PNG_OPTIONS)
    return files
