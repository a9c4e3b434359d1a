"""The bundled data examples and their ground truth: ``python -m camdemo.teaching.data_examples`` writes them.

For each held-out example, ``assets/`` holds ``<stem>.npy`` (the model's input matrix, H×W float32 in [0, 1])
and ``<stem>.json`` (class, and the truth: the digit's box, or the beam's changed rows and frequencies);
the digits also as ``<stem>.png`` (8-bit gray, for viewing: the ``.npy`` is the exact input).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..assets import ASSETS_DIR
from ..drawing.ground_truth import draw_row_bands, draw_true_box, render_matrix
from . import beam, digits

DIGIT_STEMS = tuple(stem for stem, _ in digits.EXAMPLES)
BEAM_STEMS = tuple(stem for stem, _, _ in beam.EXAMPLES)


def truth(stem: str) -> dict[str, Any]:
    """The ground truth of example ``stem``, as stored in its JSON file."""
    if stem in DIGIT_STEMS:
        canvas = digits.example_canvas(stem)
        return {"task": "digits", "class_index": canvas.label, "class": canvas.name, "box": list(canvas.box),
                "box_format": "x0, y0, x1, y1 in matrix cells, x1 and y1 exclusive",
                "source_digit": canvas.source, "input": "60×60 float32 in [0, 1], 0 = background, 1 = ink"}
    sample = beam.example_sample(stem)
    return {"task": "beam", "class_index": sample.label, "class": sample.name,
            "changed_rows": [int(row) for row in np.flatnonzero(sample.changed_rows)],
            "frequencies_hz": [round(float(f), 2) for f in sample.frequencies],
            "healthy_frequencies_hz": [round(float(f), 2) for f in sample.healthy_frequencies],
            "added_hz": [round(float(f), 2) for f in sample.added],
            "input": f"{beam.ROWS}×{beam.COLUMNS} float32 in [0, 1]: row k = {beam.BIN_HZ:g}·k Hz, column = "
                     f"{1000 * beam.HOP / beam.SAMPLE_RATE:g} ms frame, dB below the maximum mapped from "
                     "[−80, 0] to [0, 1]"}


def matrix(stem: str) -> np.ndarray:
    """The example's input matrix as the generator makes it."""
    return digits.example_canvas(stem).canvas if stem in DIGIT_STEMS else beam.example_sample(stem).matrix


def rendering_with_truth(stem: str, scale: int = 4) -> np.ndarray:
    """The example drawn (RGB) with its truth: the digit's box, or the beam's changed rows. Row 0 (0 Hz) is at the
    top, as in camdemo's data panel, so the truth lines up with the map shown beside it."""
    values = matrix(stem)
    facts = truth(stem)
    if facts["task"] == "digits":
        gray = render_matrix(values, scale)
        return draw_true_box(gray, tuple(facts["box"]), values.shape, label=facts["class"])
    rows = np.zeros(values.shape[0], bool)
    rows[facts["changed_rows"]] = True
    return draw_row_bands(render_matrix(values, scale), rows)


def write(folder: Path = ASSETS_DIR) -> list[Path]:
    """Write every example's ``.npy`` and ``.json`` (and the digits' ``.png``) to ``folder``, and its truth drawn
    (``<stem>_truth.png``: the app shows it beside the example)."""
    written = []
    for stem in (*DIGIT_STEMS, *BEAM_STEMS):
        values = matrix(stem)
        np.save(folder / f"{stem}.npy", values)
        (folder / f"{stem}.json").write_text(json.dumps(truth(stem), indent=2, ensure_ascii=False) + "\n")
        written += [folder / f"{stem}.npy", folder / f"{stem}.json", folder / f"{stem}_truth.png"]
        Image.fromarray(rendering_with_truth(stem)).save(folder / f"{stem}_truth.png")
        if stem in DIGIT_STEMS:
            Image.fromarray(np.round(values * 255).astype(np.uint8), mode="L").save(folder / f"{stem}.png")
            written.append(folder / f"{stem}.png")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m camdemo.teaching.data_examples", description=__doc__)
    parser.add_argument("--out", type=Path, default=ASSETS_DIR)
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(path)


if __name__ == "__main__":
    main()
