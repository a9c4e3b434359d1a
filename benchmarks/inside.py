"""``python -m benchmarks.inside [--threads N]``: how long looking inside the network takes here.

One run each, on EfficientNet-Lite0 (seed 0), with the settings the app and the command line use by default:

* activation maximization of ``blocks.10`` channel 102 (the channel the example photos excite most there, from
  the shipped gallery): 128 steps at 128×128;
* Deep Dream of ``assets/astronaut.jpg`` (512×512) at ``blocks.7``: 3 octaves (261², 366², 512²) × 10 steps;
* content reconstruction of ``assets/chelsea_cat.jpg`` at 128×128 from four layers, 200 steps each.

Prints a Markdown table: what ran, its settings, seconds, and the objective from its start to its end. The
machine's load average is printed too: on a shared machine the times are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import camdemo
from camdemo.assets import asset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inside", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: as camdemo sets)")
    parser.add_argument("--skip-reconstruction", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    camdemo.maximize_activation(layer="blocks.10", channel=102, steps=2, size=64)  # load the model, warm up
    rows = []
    started = time.perf_counter()
    synth = camdemo.maximize_activation(layer="blocks.10", channel=102, steps=128, size=128)
    rows.append(("activation maximization", "blocks.10 channel 102, 128 steps, 128²", time.perf_counter() - started,
                 f"mean activation {synth.start_value:.2f} → {synth.value:.2f}"))
    started = time.perf_counter()
    dream = camdemo.deep_dream(asset("astronaut.jpg"), layer="blocks.7", octaves=3, steps=10)
    height, width = dream.image.shape[:2]
    rows.append(("Deep Dream", f"blocks.7, 3 octaves × 10 steps, {width}×{height}", time.perf_counter() - started,
                 f"½·mean(A²) {dream.start_value:.2f} → {dream.value:.2f}"))
    if not args.skip_reconstruction:
        started = time.perf_counter()
        recon = camdemo.reconstruct(asset("chelsea_cat.jpg"), steps=200, size=128)
        losses = ", ".join(f"{layer.layer} {layer.loss:.3f} (pixels {layer.pixel_error:.3f})" for layer in recon.layers)
        rows.append(("content reconstruction", "4 layers × 200 steps, 128²", time.perf_counter() - started,
                     f"loss {losses}"))
    print(f"torch threads: {torch.get_num_threads()}, load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| what | settings | seconds | objective |")
    print("| --- | --- | ---: | --- |")
    for what, settings, seconds, objective in rows:
        print(f"| {what} | {settings} | {seconds:.1f} | {objective} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
