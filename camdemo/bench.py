"""Benchmarks that print tables: ``python -m camdemo.bench speed``.

Times, on one model, input and class, in one process: a bare forward pass without gradients (the
floor), then each camdemo method's ``compute`` (hooks, forward, gradients, weighting), then the
whole ``camdemo.explain`` call on a 1-megapixel photo (decode, resize, method, upsample, blend).
Median of repeated runs after warm-up; the thread count is set explicitly.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Callable

import cv2
import numpy as np
import torch

import camdemo
from camdemo.assets import asset
from camdemo.engine import available_cpus, forward_cache
from camdemo.explainers import METHODS, Target
from camdemo.models import get_spec, load_model
from camdemo.target_layers import default_layer


def median_ms(run: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def speed(backbone: str, repeats: int, threads: int, device: str) -> list[tuple[str, float]]:
    torch.set_num_threads(threads)
    spec = get_spec(backbone)
    model = load_model(backbone, device)
    photo = camdemo.load_image(asset("chelsea_cat.jpg"))
    inputs = spec.preprocess(photo, device)
    layer_name = default_layer(backbone)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def forward():
        with torch.no_grad():
            model(inputs)
        sync()

    rows = [("forward pass, no gradients (floor)", median_ms(forward, repeats))]
    for name, method in METHODS.items():
        if method.unavailable_reason(spec):
            continue
        layer = method.required_layer(spec) or (layer_name if method.uses_layer else None)
        target = Target(model, inputs, 285, model.get_submodule(layer) if layer else None, layer, spec.cam_head)

        def run(method=method, target=target):
            method.compute(target)
            sync()

        rows.append((f"{method.title}" + (f" at {layer}" if layer else ""), median_ms(run, repeats)))

    megapixel = cv2.resize(photo, (1224, 816), interpolation=cv2.INTER_CUBIC)  # ~1 MP
    for name in ("cam", "gradcam"):
        if METHODS[name].unavailable_reason(spec):
            continue

        def end_to_end(name=name):
            forward_cache.clear()
            camdemo.explain(megapixel, backbone, name, device=device)

        rows.append((f"explain() end to end, {METHODS[name].title}, 1 MP image", median_ms(end_to_end, repeats)))
    forward_cache.clear()
    camdemo.explain(megapixel, backbone, "cam", class_index=285, device=device)
    rows.append(("explain() CAM, another class of the same image (cached features)",
                 median_ms(lambda: camdemo.explain(megapixel, backbone, "cam", class_index=967, device=device),
                           repeats)))
    result = camdemo.explain(megapixel, backbone, "gradcam", device=device)
    rows.append(("restyle (colormap/opacity change, no network), 1 MP", median_ms(
        lambda: result.restyled("viridis", 0.7), repeats)))
    return rows


def print_table(title: str, rows: list[tuple[str, float]]) -> None:
    floor = rows[0][1]
    print(f"\n{title}\n")
    print("| what | median ms | × forward |")
    print("| --- | ---: | ---: |")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / floor:.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m camdemo.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("speed", help="time the forward pass, each method and explain()")
    run.add_argument("--backbone", default="efficientnet_lite0")
    run.add_argument("--repeats", type=int, default=30)
    run.add_argument("--threads", type=int, default=available_cpus())
    run.add_argument("--device", default=str(camdemo.default_device()))
    args = parser.parse_args(argv)
    rows = speed(args.backbone, args.repeats, args.threads, args.device)
    machine = torch.cuda.get_device_name() if args.device.startswith("cuda") else (
        f"{platform.processor() or platform.machine()}, {args.threads} threads")
    print_table(f"{get_spec(args.backbone).title}, input {get_spec(args.backbone).input_size}², batch 1, "
                f"{args.device} ({machine}), torch {torch.__version__}, median of {args.repeats}", rows)


if __name__ == "__main__":
    main()
