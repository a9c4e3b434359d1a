"""Benchmarks that print tables: ``python -m benchmarks.speed speed [--peers] [--memory]``.

Times, on one model, input and class, in one process: a bare forward pass without gradients (the
floor), each camdemo method's ``compute`` (hooks, forward, gradients, weighting), and with ``--peers``
the same method from pytorch-grad-cam, torchcam and captum where they have it. Then the whole
``camdemo.explain`` call on a 1-megapixel photo, a CAM class change (cached features) and a restyle.
Median of repeated runs after warm-up; the thread count is set explicitly. ``--memory`` adds each
row's peak memory above a plain forward pass, measured in a fresh process per row.

Each library is used as its users would use it. camdemo runs as it ships: parameters frozen and the
target layer's output made a leaf, so no autograd graph is built before the layer. The peers get
the same weights with trainable parameters, which they need: their hooks require activations that
carry gradients.
"""

from __future__ import annotations

import argparse
import copy
import functools
from dataclasses import replace
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable

import cv2
import torch
import torchvision

import camdemo
from camdemo.assets import asset
from camdemo import api as engine, devices
from camdemo.devices import available_cpus
from camdemo.explainers import METHODS, Target
from camdemo.models import GapLinearHead, get_spec, load_model
from camdemo.models.layers import default_layer

# Methods that run the network many times (per channel, step, sample or patch): timed only with --zoo,
# in their own table, because one run takes seconds on a CPU.
MULTI_PASS = ("scorecam", "smoothgrad", "integrated_gradients", "occlusion")
IMAGENET_CLASSES = (285, 967)  # 'Egyptian cat' (explained) and 'espresso' (the class changed to)


def bench_classes(model_name: str) -> tuple[int, int]:
    """The class to explain and the one to switch to: ImageNet's cat and espresso, else classes 0 and 1."""
    name = "resnet50" if model_name == "resnet50-random" else model_name
    return IMAGENET_CLASSES if len(get_spec(name).categories) > max(IMAGENET_CLASSES) else (0, 1)
Row = tuple[str, str, Callable[[], object]]  # (what, library, run once)


def interleaved_medians(runs: list[Callable[[], object]], repeats: int, warmup: int = 3) -> list[float]:
    """Median milliseconds of each run, timed round-robin: every repeat runs each once, in turn.

    On a shared 2-vCPU machine the speed drifts by ±20% over seconds; timing the rows in blocks
    would charge that drift to whichever method ran during a slow spell. Interleaving spreads it
    over all rows alike, so the ratios to the forward pass stay meaningful.
    """
    for _ in range(warmup):
        for run in runs:
            run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, row_times in zip(runs, times):
            started = time.perf_counter()
            run()
            row_times.append(time.perf_counter() - started)
    return [1000.0 * statistics.median(row_times) for row_times in times]


def _setup(model_name: str, device: str):
    """(model, input, layer name, CAM head, title) for a registered backbone or 'resnet50' (random weights)."""
    photo = camdemo.load_image(asset("chelsea_cat.jpg"))
    if model_name == "resnet50-random":
        torch.manual_seed(0)
        model = torchvision.models.resnet50(weights=None).eval().requires_grad_(False).to(device)
        spec = get_spec("resnet50")
        return model, spec.preprocess(photo, device), "layer4", GapLinearHead("layer4", "fc"), \
            "ResNet-50 (random weights)"
    spec = get_spec(model_name)
    return load_model(model_name, device), spec.preprocess(photo, device), default_layer(model_name), \
        spec.cam_head, spec.title


def build_rows(model_name: str, device: str, peers: bool, multi_pass: bool = False,
               precision: str = "float32") -> tuple[str, list[Row]]:
    """The floor, then each single-pass method (or, with ``multi_pass``, each multi-pass one), then peers;
    with a reduced ``precision`` ("half", "float16", "bfloat16"), last the floor and each method that
    honors it again, under autocast."""
    model, inputs, layer_name, head, title = _setup(model_name, device)
    class_index, _ = bench_classes(model_name)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def forward():
        with torch.no_grad():
            model(inputs)
        sync()

    rows: list[Row] = [("forward pass, no gradients (floor)", "torch", forward)]
    dtype = None if multi_pass else devices.autocast_dtype(precision, torch.device(device))
    suffix = f", {str(dtype).removeprefix('torch.')}"
    reduced: list[Row] = []  # with a reduced precision: the floor and each layer method again, last

    def reduced_forward():
        with torch.autocast(torch.device(device).type, dtype=dtype):
            forward()

    if dtype is not None:
        reduced.append(("forward pass, no gradients" + suffix, "torch", reduced_forward))
    spec = get_spec("resnet50" if model_name == "resnet50-random" else model_name)
    for method in METHODS.values():
        if (method.name in MULTI_PASS) != multi_pass or method.unavailable_reason(spec) or (
                method.name == "cam" and head is None):
            continue
        layer = (head.layer if method.name == "cam" else layer_name) if method.uses_layer else None
        target = Target(model, inputs, class_index, model.get_submodule(layer) if layer else None, layer, head,
                        options=method.check_options(None),
                        constant_input=lambda level: spec.constant_input(level, device))

        def run(method=method, target=target):
            method.compute(target)
            sync()

        rows.append((method.title + (f" at {layer}" if layer else "") + _settings(method), "camdemo", run))
        if dtype is not None and method.half_precision_ok:
            reduced.append((rows[-1][0] + suffix, "camdemo",
                            functools.partial(run, method, replace(target, autocast_dtype=dtype))))
    if multi_pass:  # the same settings as the peers' rows, for a like-for-like comparison
        for name, options, label in (("scorecam", {"channels": 0}, f"Score-CAM at {layer_name}, all channels"),
                                     ("integrated_gradients", {"tolerance": 1.0},
                                      "Integrated Gradients, 128 steps, no doubling")):
            method = METHODS[name]
            target = Target(model, inputs, class_index, model.get_submodule(layer_name) if method.uses_layer else None,
                            layer_name if method.uses_layer else None, head, options=method.check_options(options),
                            constant_input=lambda level: spec.constant_input(level, device))
            rows.append((label, "camdemo", lambda method=method, target=target: (method.compute(target), sync())))
    if peers:
        rows += _peer_rows(model, inputs, layer_name, head, sync, class_index, multi_pass)
    return title, rows + reduced


def _settings(method) -> str:
    """What a multi-pass method's row ran with, so rows of different libraries compare like with like."""
    defaults = method.option_defaults
    return {"scorecam": f", {defaults.get('channels')} channels",
            "integrated_gradients": (f", {defaults.get('steps')} steps"
                                     f"{' (+ doubling)' if defaults.get('adaptive') else ''}"),
            "smoothgrad": f" ({defaults.get('base')}), {defaults.get('samples')} samples",
            "occlusion": f", patch {defaults.get('patch')}, stride {defaults.get('stride')}"}.get(method.name, "")


def _peer_rows(model, inputs, layer_name, head, sync, class_index: int, multi_pass: bool = False) -> list[Row]:
    """The same methods from pytorch-grad-cam, torchcam and captum.

    Each extractor gets its own copy of the model with trainable parameters: pytorch-grad-cam and
    torchcam register their hooks when constructed, and one library's hooks must not slow another's.
    """
    def trainable() -> torch.nn.Module:
        return copy.deepcopy(model).requires_grad_(True).eval()

    rows: list[Row] = []
    if multi_pass:
        return _multi_pass_peer_rows(trainable, inputs, layer_name, sync, class_index)
    try:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        targets = [ClassifierOutputTarget(class_index)]
        for ours, theirs in (("Grad-CAM", "GradCAM"), ("Grad-CAM++", "GradCAMPlusPlus"), ("XGrad-CAM", "XGradCAM"),
                             ("LayerCAM", "LayerCAM"), ("HiResCAM", "HiResCAM"), ("Eigen-CAM", "EigenCAM")):
            pgc_model = trainable()
            pgc = getattr(pytorch_grad_cam, theirs)(model=pgc_model,
                                                    target_layers=[pgc_model.get_submodule(layer_name)])
            rows.append((f"{ours} at {layer_name}", "pytorch-grad-cam",
                         lambda pgc=pgc: (pgc(input_tensor=inputs, targets=targets), sync())))
    except ImportError:
        pass
    try:
        from torchcam.methods import CAM as TCCAM, GradCAM as TCGradCAM

        def torchcam_run(extractor_class, **options):
            own = trainable()
            extractor = extractor_class(own, **options)

            def run():
                extractor(class_index, own(inputs))
                sync()
            return run

        if head is not None:
            rows.append((f"CAM at {head.layer}", "torchcam",
                         torchcam_run(TCCAM, target_layer=head.layer, fc_layer=head.classifier)))
        rows.append((f"Grad-CAM at {layer_name}", "torchcam", torchcam_run(TCGradCAM, target_layer=layer_name)))
    except ImportError:
        pass
    try:
        from captum.attr import LayerGradCam, Saliency

        captum_model = trainable()
        captum_gradcam = LayerGradCam(captum_model, captum_model.get_submodule(layer_name))
        captum_saliency = Saliency(captum_model)
        rows.append((f"Grad-CAM at {layer_name}", "captum", lambda: (captum_gradcam.attribute(
            inputs, target=class_index, relu_attributions=True), sync())))
        rows.append(("Saliency", "captum", lambda: (captum_saliency.attribute(
            inputs, target=class_index, abs=True).amax(dim=1), sync())))
        from captum.attr import GuidedBackprop, GuidedGradCam, InputXGradient

        captum_ixg, captum_gbp = InputXGradient(captum_model), GuidedBackprop(captum_model)
        captum_ggc = GuidedGradCam(captum_model, captum_model.get_submodule(layer_name))
        rows.append(("Input × Gradient", "captum", lambda: (captum_ixg.attribute(inputs, target=class_index), sync())))
        rows.append(("Guided Backprop", "captum", lambda: (captum_gbp.attribute(inputs, target=class_index), sync())))
        rows.append((f"Guided Grad-CAM at {layer_name}", "captum", lambda: (captum_ggc.attribute(
            inputs, target=class_index, interpolate_mode="bilinear"), sync())))
    except ImportError:
        pass
    return rows


def _multi_pass_peer_rows(trainable, inputs, layer_name, sync, class_index: int) -> list[Row]:
    """Score-CAM (pytorch-grad-cam, all channels) and captum's IG, NoiseTunnel and Occlusion, same settings."""
    rows: list[Row] = []
    try:
        from pytorch_grad_cam import ScoreCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        own = trainable()
        scorecam = ScoreCAM(own, [own.get_submodule(layer_name)])
        scorecam.batch_size = 8
        rows.append((f"Score-CAM at {layer_name}, all channels", "pytorch-grad-cam",
                     lambda: (scorecam(input_tensor=inputs, targets=[ClassifierOutputTarget(class_index)]), sync())))
    except ImportError:
        pass
    try:
        from captum.attr import IntegratedGradients, NoiseTunnel, Occlusion, Saliency

        own = trainable()
        ig, tunnel, occlusion = IntegratedGradients(own), NoiseTunnel(Saliency(own)), Occlusion(own)
        sigma = 0.15 * float(inputs.max() - inputs.min())
        rows.append(("Integrated Gradients, 128 steps", "captum", lambda: (ig.attribute(
            inputs, baselines=0.0, target=class_index, n_steps=128, internal_batch_size=8), sync())))
        rows.append(("SmoothGrad (saliency), 25 samples", "captum", lambda: (tunnel.attribute(
            inputs, nt_type="smoothgrad", nt_samples=25, nt_samples_batch_size=8, stdevs=sigma, target=class_index),
            sync())))
        rows.append(("Occlusion, patch 32, stride 16", "captum", lambda: (occlusion.attribute(
            inputs, sliding_window_shapes=(3, 32, 32), strides=(3, 16, 16), target=class_index, baselines=0.0,
            perturbations_per_eval=8), sync())))
    except ImportError:
        pass
    return rows


def end_to_end_rows(backbone: str, device: str) -> list[Row]:
    spec = get_spec(backbone)
    photo = camdemo.load_image(asset("chelsea_cat.jpg"))
    megapixel = cv2.resize(photo, (1224, 816), interpolation=cv2.INTER_CUBIC)  # ~1 MP
    small = cv2.resize(photo, (spec.input_size, spec.input_size), interpolation=cv2.INTER_AREA)
    _, other_class = bench_classes(backbone)
    rows: list[Row] = []
    for name in ("cam", "gradcam"):
        if METHODS[name].unavailable_reason(spec):
            continue

        def end_to_end(name=name):
            if name != "cam":
                _ = camdemo.explain(megapixel, backbone=backbone, method=name, device=device).overlay  # drawn, as shown
                return
            saved = engine.forward_cache  # CAM's first request for an image: an empty cache, not a hit
            engine.forward_cache = engine._ForwardCache()
            try:
                _ = camdemo.explain(megapixel, backbone=backbone, method=name, device=device).overlay
            finally:
                engine.forward_cache = saved

        rows.append((f"explain() end to end, {METHODS[name].title}, 1 MP image", "camdemo", end_to_end))
    if spec.cam_head is not None:
        camdemo.explain(megapixel, backbone=backbone, method="cam", device=device)  # cache this image's features
        rows.append(("explain() CAM, another class of the same 1 MP image (cached features)", "camdemo",
                     lambda: camdemo.explain(megapixel, backbone=backbone, method="cam", class_index=other_class,
                                             device=device).overlay))
        camdemo.explain(small, backbone=backbone, method="cam", device=device)
        rows.append((f"explain() CAM, another class, {spec.input_size}² image (cached features)", "camdemo",
                     lambda: camdemo.explain(small, backbone=backbone, method="cam", class_index=other_class,
                                             device=device).overlay))
    result = camdemo.explain(megapixel, backbone=backbone, method="gradcam", device=device)
    _ = result.overlay  # shown once, as the app shows every result before a visitor restyles it
    rows.append(("restyle (colormap/opacity change, no network), 1 MP", "camdemo",
                 lambda: result.restyled("viridis", 0.7).overlay))
    return rows


def peak_memory_mb(model_name: str, row_index: int, device: str, peers: bool, threads: int,
                   precision: str = "float32") -> float:
    """Peak resident memory of one row above that of a plain forward pass, in a fresh process (Linux)."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.speed", "_memory", model_name, str(row_index), device,
                           str(int(peers)), str(threads), precision], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return float(done.stdout.strip().splitlines()[-1])


def _status_kb(field_name: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(field_name)


def _peak_during(run: Callable[[], object]) -> float:
    """Peak resident memory (MB) while ``run`` runs: the kernel's high-water mark, reset just before."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current resident size (Linux ≥ 4.0)
    run()
    return _status_kb("VmHWM") / 1024.0


def _memory_child(model_name: str, row_index: int, device: str, peers: bool, threads: int, precision: str) -> None:
    torch.set_num_threads(threads)
    _, rows = build_rows(model_name, device, peers, precision=precision)
    for _ in range(2):  # warm both, so allocator caches are in place before measuring
        rows[0][2]()
        rows[row_index][2]()
    floor = max(_peak_during(rows[0][2]) for _ in range(3))
    peak = max(_peak_during(rows[row_index][2]) for _ in range(3))
    print(peak - floor)


def print_table(title: str, results: list[tuple[str, str, float, float | None]]) -> None:
    floor = results[0][2]
    memory = any(r[3] is not None for r in results)
    print(f"\n{title}\n")
    print("| what | library | median ms | × forward |" + (" peak MB above forward |" if memory else ""))
    print("| --- | --- | ---: | ---: |" + (" ---: |" if memory else ""))
    for name, library, ms, mb in results:
        extra = (f" {max(mb, 0.0):.0f} |" if mb is not None else " — |") if memory else ""
        print(f"| {name} | {library} | {ms:.1f} | {ms / floor:.2f} |{extra}")


def speed(model_name: str, repeats: int, threads: int, device: str, peers: bool, memory: bool,
          multi_pass: bool = False, precision: str = "float32") -> None:
    torch.set_num_threads(threads)
    if multi_pass:
        title, rows = build_rows(model_name, device, peers, multi_pass=True)
        milliseconds = interleaved_medians([run for _, _, run in rows], repeats, warmup=1)
        print_table(f"{title}, multi-pass methods with their default settings, {device}, median of {repeats}",
                    [(name, library, ms, None) for (name, library, _), ms in zip(rows, milliseconds)])
        return
    title, rows = build_rows(model_name, device, peers, precision=precision)
    if model_name in camdemo.models.backbone_names():
        rows += end_to_end_rows(model_name, device)
    milliseconds = interleaved_medians([run for _, _, run in rows], repeats)
    results = []
    for index, ((name, library, _), ms) in enumerate(zip(rows, milliseconds)):
        measurable = memory and not name.startswith(("explain()", "restyle"))
        mb = peak_memory_mb(model_name, index, device, peers, threads, precision) if measurable else None
        results.append((name, library, ms, mb))
    machine = torch.cuda.get_device_name() if device.startswith("cuda") else (
        f"{platform.processor() or platform.machine()}, {threads} threads")
    size = get_spec("resnet50" if model_name == "resnet50-random" else model_name).input_size
    print_table(f"{title}, input {size}², batch 1, class {bench_classes(model_name)[0]}, {device} ({machine}), "
                f"torch {torch.__version__}, median of {repeats}", results)


def pass_seconds_rows(repeats: int, threads: int, batch: int = 8) -> list[tuple[str, float, float]]:
    """(backbone, seconds per image for a forward+backward pass, for a forward pass alone), batches of ``batch``.

    The architecture with random weights (the time does not depend on the weights), so every backbone is
    measured, downloaded or not: the basis of ``camdemo.cost.PASS_SECONDS``.
    """
    from camdemo.models import architecture, backbone_names, get_spec

    torch.set_num_threads(threads)
    rows = []
    for name in backbone_names():
        spec = get_spec(name)
        model = architecture(name).eval()
        inputs = torch.randn(batch, 3, spec.input_size, spec.input_size)

        def gradient_pass(model=model, inputs=inputs):
            leaf = inputs.clone().requires_grad_(True)
            torch.autograd.grad(model(leaf)[:, 0].sum(), leaf)

        def forward_pass(model=model, inputs=inputs):
            with torch.no_grad():
                model(inputs)

        backward, forward = interleaved_medians([gradient_pass, forward_pass], repeats, warmup=1)
        rows.append((name, backward / 1000 / batch, forward / 1000 / batch))  # medians are in ms
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_memory":
        _memory_child(argv[1], int(argv[2]), argv[3], bool(int(argv[4])), int(argv[5]), argv[6])
        return
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("speed", help="time the forward pass, each method (and peers) and explain()")
    run.add_argument("--backbone", default="efficientnet_lite0",
                     help="a registered backbone with weights here, or resnet50-random")
    run.add_argument("--repeats", type=int, default=30)
    run.add_argument("--threads", type=int, default=available_cpus())
    run.add_argument("--device", default=str(camdemo.default_device()))
    run.add_argument("--peers", action="store_true", help="also time pytorch-grad-cam, torchcam and captum")
    run.add_argument("--memory", action="store_true", help="peak memory per row (a fresh process each)")
    run.add_argument("--multi-pass", action="store_true",
                     help=f"instead, time the methods that run the network many times ({', '.join(MULTI_PASS)}); "
                          "use a small --repeats")
    run.add_argument("--precision", default="float32", choices=list(camdemo.PRECISIONS),
                     help="also time the forward pass and the layer methods in this precision (half: float16 on "
                          "a GPU, bfloat16 on a CPU)")
    passes = sub.add_parser("passes", help="seconds per image for one pass of every backbone (camdemo.cost)")
    passes.add_argument("--repeats", type=int, default=5)
    passes.add_argument("--threads", type=int, default=available_cpus())
    args = parser.parse_args(argv)
    if args.command == "passes":
        print("| backbone | forward+backward (ms/image) | forward (ms/image) | ratio | in camdemo.cost |")
        print("| --- | ---: | ---: | ---: | ---: |")
        from camdemo.cost import PASS_SECONDS
        for name, backward, forward in pass_seconds_rows(args.repeats, args.threads):
            print(f"| {name} | {backward * 1000:.1f} | {forward * 1000:.1f} | {forward / backward:.2f} | "
                  f"{PASS_SECONDS.get(name, float('nan')) * 1000:.0f} |")
        return
    speed(args.backbone, args.repeats, args.threads, args.device, args.peers, args.memory, args.multi_pass,
          args.precision)


if __name__ == "__main__":
    main()
