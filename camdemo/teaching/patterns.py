"""Fit PatternNet/PatternAttribution patterns for a teaching network from its scene generator:
``python -m camdemo.teaching.patterns fit --backbone shapes_gapnet``.

Generates ``--images`` training scenes (nothing is downloaded), runs them through the loaded network with
BatchNorm merged, estimates each layer's patterns (``camdemo.explainers.patterns``) and writes
``assets/patterns/<backbone>.pt`` (float16, with a digest of the weights they belong to). 4000 images of
ShapesGapNet took 4 CPU-minutes (10 minutes on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from camdemo.explainers.patterns import PatternSet, fit_patterns, patterns_file, save_patterns, weights_digest
from camdemo.models import get_spec, load_model
from camdemo.teaching import scenes

GENERATORS = {"shapes_gapnet": scenes.make_batch}  # the teaching networks whose data can be generated here


def scene_batches(backbone: str, count: int, batch_size: int = 100) -> Iterator[torch.Tensor]:
    """Model inputs of ``count`` generated training scenes, ``batch_size`` at a time."""
    spec, generate = get_spec(backbone), GENERATORS[backbone]
    for start in range(0, count, batch_size):
        images, _ = generate(scenes.TRAIN_SEED, start, min(batch_size, count - start))
        yield torch.cat([spec.normalize(image) for image in images])


def fit(backbone: str, images: int, out: Path | None = None) -> PatternSet:
    """Fit and save the patterns of ``backbone`` from ``images`` generated scenes."""
    model = load_model(backbone, "cpu")
    patterns = fit_patterns(model, scene_batches(backbone, images))
    found = PatternSet(patterns, weights_digest(model), images,
                       f"fitted on {images} generated training scenes (seed {scenes.TRAIN_SEED})")
    save_patterns(out or patterns_file(backbone), found)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m camdemo.teaching.patterns", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fitting = commands.add_parser("fit", help="fit and save the patterns of a teaching network")
    fitting.add_argument("--backbone", choices=sorted(GENERATORS), default="shapes_gapnet")
    fitting.add_argument("--images", type=int, default=4000, help="generated scenes to fit on")
    fitting.add_argument("--out", type=Path, default=None, help="default: assets/patterns/<backbone>.pt")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    found = fit(args.backbone, args.images, args.out)
    print(f"fitted patterns of {len(found.patterns)} layers on {args.images} images "
          f"in {time.perf_counter() - started:.0f} s: {args.out or patterns_file(args.backbone)}")


if __name__ == "__main__":
    main()
