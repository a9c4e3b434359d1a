"""How well does each method localize? ``python -m camdemo.evaluation.localization`` on held-out cluttered shapes.

For N test images (default 1,000) with known boxes, and for every method plus a center-prior
baseline (a Gaussian at the image center, which knows nothing about the image), it reports:

* pointing game: is the map's maximum inside the true box;
* mean IoU between the true box and the box around the largest connected region above 20% of the
  map's maximum value (the CAM paper's rule, on the map in its own units), and the fraction with
  IoU ≥ 0.5;
* on two-shape images: does the map for each class peak inside that class's box.

Maps are for the true class. Prints a Markdown table; ``--markdown FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import camdemo
from camdemo.teaching import scenes as shapes
from camdemo.evaluation.boxes import box_from_map, iou, peak_in_box

BACKBONE = "shapes_gapnet"
CENTER_PRIOR = "center prior (baseline)"


def center_prior(size: int = shapes.IMAGE_SIZE) -> np.ndarray:
    """A Gaussian bump at the image center (σ = size/4): where objects are on average, ignoring the image."""
    ys, xs = np.mgrid[0:size, 0:size]
    center = (size - 1) / 2
    return np.exp(-((xs - center) ** 2 + (ys - center) ** 2) / (2 * (size / 4) ** 2)).astype(np.float32)


@dataclass
class Scores:
    """Running localization scores of one method."""

    pointing: list[bool]
    ious: list[float]
    pair_hits: list[bool]
    seconds: float = 0.0

    def row(self, name: str) -> str:
        pairs = f"{np.mean(self.pair_hits):.1%}" if self.pair_hits else "—"
        ious = np.array(self.ious)
        return (f"| {name} | {np.mean(self.pointing):.1%} | {ious.mean():.3f} | {(ious >= 0.5).mean():.1%} | "
                f"{pairs} | {1000 * self.seconds / max(1, len(self.pointing) + len(self.pair_hits)):.1f} |")


def map_for(method: str, image: np.ndarray, class_index: int) -> np.ndarray:
    """The method's map over the image in its own units (what the 20% rule needs), or the center prior."""
    if method == CENTER_PRIOR:
        return center_prior(image.shape[0])
    return camdemo.explain(image, backbone=BACKBONE, method=method, class_index=class_index).map_values()


def evaluate(count: int = 1000, pairs: int | None = None, methods: list[str] | None = None,
             start: int = 0) -> dict[str, Scores]:
    """Scores of each method on ``count`` single-shape and ``pairs`` two-shape held-out test images."""
    pairs = count // 5 if pairs is None else pairs
    names = methods or [m.name for m in camdemo.methods(BACKBONE) if m.available]
    names = names + [CENTER_PRIOR]
    results = {name: Scores([], [], []) for name in names}
    singles = [shapes.make_scene(shapes.TEST_SEED, start + i) for i in range(count)]
    doubles = [shapes.make_pair_scene(shapes.PAIR_SEED, start + i) for i in range(pairs)]
    for name in names:
        started = time.perf_counter()
        scores = results[name]
        for scene in singles:
            values = map_for(name, scene.image, scene.label)
            scores.pointing.append(peak_in_box(values, scene.box))
            scores.ious.append(iou(box_from_map(values), scene.box))
        for scene in doubles:
            for shape in scene.objects:
                scores.pair_hits.append(peak_in_box(map_for(name, scene.image, shape.label), shape.box))
        scores.seconds = time.perf_counter() - started
    return results


def table(results: dict[str, Scores], count: int, pairs: int) -> str:
    lines = [
        f"Localization on {count} held-out cluttered-shapes images (test seed {shapes.TEST_SEED}) and {pairs} "
        f"two-shape images, {BACKBONE}, maps for the true class:",
        "",
        "| method | pointing game | mean IoU (20% box) | IoU ≥ 0.5 | two shapes: peak on the right one | ms / map |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    titles = {m.name: m.title for m in camdemo.methods(BACKBONE)}
    lines += [scores.row(titles.get(name, name)) for name, scores in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m camdemo.evaluation.localization", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--count", type=int, default=1000, help="single-shape test images")
    parser.add_argument("--pairs", type=int, default=None, help="two-shape images (default count/5)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    pairs = args.count // 5 if args.pairs is None else args.pairs
    text = table(evaluate(args.count, pairs), args.count, pairs)
    print(text)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
