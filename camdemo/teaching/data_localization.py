"""Do the maps find the known truth? ``python -m camdemo.teaching.data_localization digits|beam``.

* digits: on held-out cluttered canvases (test digits never seen in training), the pointing game (is the
  map's maximum inside the digit's box) and the IoU between the digit's box and the box around the largest
  region above 20% of the map's maximum (the CAM paper's rule, ``camdemo.evaluation.boxes``); baselines: the
  center prior (a centered Gaussian, as in ``camdemo.evaluation.localization``) and a box of the mean digit
  size at the center.
* beam: on held-out damaged beams, the map's row profile (the map summed over time, in its own units) and
  whether its top row is one of the rows that truly changed; baselines: a random row (the share of changed
  rows) and the loudest row of the input (its largest row sum), which is where a map that only follows the
  energy would point.

Maps are for the true class, computed by calling the explainers directly on the N×1×H×W float input and
upsampled bicubically to the input's size (as ``Explanation.map_values`` does). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..drawing.overlay import upsample_values
from ..evaluation.boxes import Box, box_from_map, iou, peak_in_box
from ..evaluation.localization import center_prior
from ..explainers import Target, get_method
from ..models import GapLinearHead
from . import beam, digits
from .data_backbones import load_data_model

METHODS = ("cam", "gradcam", "saliency")  # registry names of the methods scored
HEAD = GapLinearHead("features", "classifier")


def maps_for(model: torch.nn.Module, inputs: np.ndarray, classes: list[int], method: str,
             layer_name: str = "features") -> np.ndarray:
    """The method's raw maps (N×H×W, in the method's units) for ``classes`` on N×1×H×W float inputs."""
    explainer = get_method(method)
    layer = model.get_submodule(layer_name) if explainer.uses_layer else None
    target = Target(model=model, inputs=torch.from_numpy(np.ascontiguousarray(inputs)), class_index=tuple(classes),
                    layer=layer, layer_name=layer_name if explainer.uses_layer else None, head=HEAD)
    size = inputs.shape[2:]
    return np.stack([upsample_values(raw.values.detach().cpu().numpy(), size)
                     for raw in explainer.compute_batch(target)])


def title(name: str) -> str:
    """A method's display title (``cam`` → CAM); a baseline's name as it is."""
    return get_method(name).title if name in METHODS else name


def row_profile(values: np.ndarray) -> np.ndarray:
    """The map summed over time (columns): one number per frequency row."""
    return values.sum(axis=1)


def center_box(size: int, width: float, height: float) -> Box:
    """A width×height box at the center of a size×size canvas."""
    x0, y0 = round((size - width) / 2), round((size - height) / 2)
    return (x0, y0, x0 + round(width), y0 + round(height))


@dataclass
class BoxScores:
    pointing: list[bool] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)

    def row(self, name: str) -> str:
        ious = np.array(self.ious)
        pointing = f"{np.mean(self.pointing):.1%}" if self.pointing else "—"
        return f"| {name} | {pointing} | {ious.mean():.3f} | {(ious >= 0.5).mean():.1%} |"


def evaluate_digits(count: int = 1000, start: int = 0, methods: tuple[str, ...] = METHODS,
                    model: torch.nn.Module | None = None) -> dict[str, BoxScores]:
    """Localization scores of each method and the two baselines on ``count`` held-out canvases."""
    model = model if model is not None else load_data_model("digits")
    items = [digits.make_canvas(digits.TEST, digits.TEST_SEED, start + i) for i in range(count)]
    results = {name: BoxScores() for name in (*methods, "center prior (baseline)", "center box (baseline)")}
    prior = center_prior(digits.CANVAS)
    widths = float(np.mean([item.box[2] - item.box[0] for item in items]))
    heights = float(np.mean([item.box[3] - item.box[1] for item in items]))
    middle = center_box(digits.CANVAS, widths, heights)
    for first in range(0, count, 100):
        chunk = items[first:first + 100]
        inputs = np.stack([item.canvas for item in chunk])[:, None]
        for method in methods:
            for item, values in zip(chunk, maps_for(model, inputs, [item.label for item in chunk], method)):
                results[method].pointing.append(peak_in_box(values, item.box))
                results[method].ious.append(iou(box_from_map(values), item.box))
    for item in items:
        results["center prior (baseline)"].pointing.append(peak_in_box(prior, item.box))
        results["center prior (baseline)"].ious.append(iou(box_from_map(prior), item.box))
        results["center box (baseline)"].ious.append(iou(middle, item.box))
    return results


LOUDEST = "loudest row of the input (baseline)"
RANDOM = "random row (baseline, expected)"


@dataclass
class RowScores:
    """Per method: did the top row of the map's row profile fall on a changed row; and a random row's chance."""

    hits: dict[str, list[bool]]
    shares: list[float]  # per sample, the share of rows that changed: the hit rate of a row drawn at random
    labels: list[int]

    @property
    def chance(self) -> float:
        return float(np.mean(self.shares))

    def rates(self, label: int | None = None) -> dict[str, float]:
        """Hit rate of each method and baseline, over every sample or over those of class ``label``."""
        chosen = np.array([label is None or value == label for value in self.labels])
        rates = {name: float(np.mean(np.array(hits)[chosen])) for name, hits in self.hits.items()}
        return {**rates, RANDOM: float(np.mean(np.array(self.shares)[chosen]))}


def evaluate_beam(count: int = 1000, start: int = 0, methods: tuple[str, ...] = METHODS,
                  model: torch.nn.Module | None = None) -> RowScores:
    """Top-row hit rates of each method and the baselines on ``count`` held-out damaged beams (both damage classes)."""
    model = model if model is not None else load_data_model("beam")
    items = [beam.make_sample(beam.TEST_SEED, start + i, label=1 + i % 2) for i in range(count)]
    hits: dict[str, list[bool]] = {name: [] for name in (*methods, LOUDEST)}
    for first in range(0, count, 100):
        chunk = items[first:first + 100]
        inputs = np.stack([item.matrix for item in chunk])[:, None]
        for method in methods:
            for item, values in zip(chunk, maps_for(model, inputs, [item.label for item in chunk], method)):
                hits[method].append(bool(item.changed_rows[int(np.argmax(row_profile(values)))]))
    for item in items:
        hits[LOUDEST].append(bool(item.changed_rows[int(np.argmax(row_profile(item.matrix)))]))
    return RowScores(hits, [float(item.changed_rows.mean()) for item in items], [item.label for item in items])


def beam_table(scores: RowScores, count: int) -> str:
    lines = [f"Top row of the map's row profile among the truly changed rows, on {count} held-out damaged beams "
             f"(test seed {beam.TEST_SEED}, half stiffness loss, half breathing crack), maps for the true class:", "",
             "| method | top row is a changed row | stiffness loss | breathing crack |", "| --- | ---: | ---: | ---: |"]
    loss, crack = scores.rates(beam.STIFFNESS_LOSS), scores.rates(beam.CRACK)
    lines += [f"| {title(name)} | {rate:.1%} | {loss[name]:.1%} | {crack[name]:.1%} |"
              for name, rate in scores.rates().items()]
    return "\n".join(lines)


def digits_table(results: dict[str, BoxScores], count: int) -> str:
    lines = [f"Localization on {count} held-out cluttered-digit canvases (test seed {digits.TEST_SEED}, digits never "
             "seen in training), maps for the true class:", "",
             "| method | pointing game | mean IoU (20% box) | IoU ≥ 0.5 |", "| --- | ---: | ---: | ---: |"]
    lines += [scores.row(title(name)) for name, scores in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m camdemo.teaching.data_localization", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=("digits", "beam"))
    parser.add_argument("-n", "--count", type=int, default=1000)
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    started = time.perf_counter()
    if args.task == "digits":
        text = digits_table(evaluate_digits(args.count), args.count)
    else:
        text = beam_table(evaluate_beam(args.count), args.count)
    print(text)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
