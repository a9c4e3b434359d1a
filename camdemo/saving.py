"""One writer for a result's files, used by the command line and by the app's downloads.

For a result saved as ``NAME`` in a folder:

* ``NAME_overlay.png``: the overlay (RGB);
* ``NAME_heatmap.npy``: the heatmap, float32 in [0, 1], the size of the image;
* ``NAME_heatmap.png``: the same heatmap as grayscale levels 0–255;
* ``NAME.json``: the predictions and the settings (the command line writes it; the app offers the other three).

Pictures are encoded in memory and then written, so a full disk raises its ``OSError`` (``cv2.imwrite``
just returns False, or leaves a truncated file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, NamedTuple

import cv2
import numpy as np

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
    """What the JSON record holds: the image's name, the predictions and the settings of ``result``."""
    return {
        "image": str(source),
        "backbone": result.backbone, "method": result.method, "layer": result.layer,
        "class_index": result.class_index, "class_label": result.class_label,
        "class_probability": result.class_probability,
        "predictions": [p._asdict() for p in result.predictions],
        "colormap": result.colormap, "opacity": result.opacity, "device": result.device,
        "precision": result.precision, "seconds": round(result.seconds, 4), "note": result.note,
        "direction": result.direction, "versus": result.versus, "output_kind": result.output_kind,
    }


def write_result(result: Explanation, folder: Path, name: str, *, source: str | Path | None = None,
                 overlay: np.ndarray | None = None, with_record: bool = True,
                 write_picture: PictureWriter = write_image) -> ResultFiles:
    """Save ``result`` as ``name`` in ``folder`` (the files listed in the module docstring); returns their paths.

    ``overlay`` replaces the result's own (the app saves the picture it shows, with its boxes). The .npy and
    the JSON record are written at once; the two PNGs by ``write_picture(path, image, options)``, which
    the app gives to a background thread.
    """
    files = ResultFiles(folder / f"{name}_overlay.png", folder / f"{name}_heatmap.npy",
                        folder / f"{name}_heatmap.png", folder / f"{name}.json" if with_record else None)
    np.save(files.heatmap_npy, result.heatmap)
    write_picture(files.overlay, result.overlay if overlay is None else overlay, PNG_OPTIONS)
    write_picture(files.heatmap_png, heatmap_levels(result.heatmap), PNG_OPTIONS)
    if files.record is not None:
        files.record.write_text(json.dumps(result_record(result, source), indent=2) + "\n")
    return files
