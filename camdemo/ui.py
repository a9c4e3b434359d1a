"""The Gradio app: a thin layer over ``camdemo.explain`` and the catalogue functions.

No model logic lives here. The UI decodes the upload with ``camdemo.load_image`` (so every bad
file gets camdemo's own message), shrinks very large photos for display, calls ``explain`` and
shows the result. Changing the colormap or opacity re-blends a recent result without running
the network; changing the class for CAM reuses the engine's cached forward pass.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import gradio as gr
import numpy as np

import camdemo
from camdemo import shapes
from camdemo.assets import EXAMPLES, asset
from camdemo.boxes import iou
from camdemo.compare import DEFAULT_COMPARE_METHODS
from camdemo.sanity import DEFAULT_SANITY_METHODS
from camdemo.models import get_spec
from camdemo.overlay import COLORMAPS, COLOUR_BLIND_SAFE, DEFAULT_COLORMAP, DEFAULT_OPACITY, colorize, draw_boxes
from camdemo import ui_compare
from camdemo import serving
from camdemo.ui_downloads import write_display, write_downloads, write_gallery
from camdemo.ui_options import CONTROLS, build_controls, control_updates, describe_all, options_for, sign_for
from camdemo.ui_share import WRITE_URL_JS, settings_from_query
from camdemo.ui_steps import show_steps

log = logging.getLogger("camdemo.ui")

DISPLAY_MAX_SIDE = 1280  # larger uploads are shrunk for display; the model sees 224–260 px anyway
MAX_FILE_SIZE = "50mb"
# Gradio keeps a copy of the page's components per session (about 100 KB here, measured) for up to
# 10,000 sessions by default, i.e. ~1 GB on a public Space over time. A session dropped from this LRU
# (1,000 other visitors used the app since) forgets its last result: a colormap change then does nothing
# until the next Explain.
SESSION_CAPACITY = 1000
# Gradio copies every upload and every output file into its cache and, by default, never deletes them
# (nor forgets their names): every 10 minutes, files older than an hour go.
CACHE_CLEANUP = (600, 3600)
AUTO_CLASS = "auto"
LAYER_HELP = (
    "A layer is one stage of the network. Layers near the top of this list come late in the network: they "
    "respond to whole objects and give coarse maps. Layers further down come early: they respond to edges and "
    "textures and give finer, less class-specific maps. The numbers are channels × height × width."
)


class ImageUpload(gr.Image):
    """``gr.Image`` that passes the uploaded file's path on unopened.

    Gradio's own ``gr.Image`` opens the file with PIL before our code runs, so a damaged or
    non-image upload would fail inside Gradio with a generic message. Here camdemo decodes it
    and says what is wrong. ``is_template`` makes Gradio reuse the normal Image frontend.
    """

    is_template = True

    def preprocess(self, payload):  # type: ignore[override]
        if payload is None:
            return None
        if payload.path is None:
            raise gr.Error("The upload did not arrive as a file; please upload the image again.")
        return payload.path


class _RecentResults:
    """The most recent explanations, by key, so a colormap or opacity change can re-blend without the network.

    Bounded by the bytes of their arrays (a 1280-pixel photo's result holds about 11 MB), not by a
    count, so a classroom of small images keeps many and a few huge ones cannot fill the memory.
    """

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[camdemo.Explanation, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def size_of(explanation: camdemo.Explanation) -> int:
        return sum(value.nbytes for value in vars(explanation).values() if isinstance(value, np.ndarray))

    def put(self, explanation: camdemo.Explanation) -> str:
        key, size = uuid.uuid4().hex, self.size_of(explanation)
        with self._lock:
            self._items[key] = (explanation, size)
            self._bytes += size
            while len(self._items) > 1 and self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
        return key

    def get(self, key: str | None) -> camdemo.Explanation | None:
        with self._lock:
            item = self._items.get(key) if key else None
            if item is not None:
                self._items.move_to_end(key)  # a result someone is still restyling stays
            return item[0] if item else None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def total_bytes(self) -> int:
        return self._bytes


recent_results = _RecentResults()

# All model work runs on this one thread. The queue already lets one request at a time use the model
# (on 2 cores one request uses both); a single worker thread also means a single OpenMP team and one
# malloc arena for tensors, instead of one per Gradio worker thread, so memory stays flat under load.
_model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camdemo-model")


try:  # glibc keeps freed heap pages; give them back after each job so a long-running server stays flat
    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
    _malloc_trim = None


def _run_and_trim(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    finally:
        if _malloc_trim is not None:
            _malloc_trim(0)


def on_model_thread(function, *args, **kwargs):
    """Run ``function`` on the dedicated model thread and wait for it (errors propagate)."""
    return _model_thread.submit(_run_and_trim, function, *args, **kwargs).result()


# --- choices for the controls -----------------------------------------------------------------------


def backbone_choices() -> list[tuple[str, str]]:
    return [(f"{info.title} ({'offline' if info.ready_offline else 'downloads weights'})", info.name)
            for info in camdemo.backbones()]


def layer_choices(backbone: str) -> list[tuple[str, str]]:
    return [(info.label, info.name) for info in camdemo.layers(backbone)]


def class_choices(backbone: str) -> list[tuple[str, str]]:
    """"Top-1 (automatic)", then every class of ``backbone`` by index: searchable by name or number.

    The list changes only with the backbone; the top-5 of each result are in the predictions panel,
    where clicking one explains it (``on_prediction_click``).
    """
    labels = camdemo.class_names(backbone)
    return [("Top-1 prediction (automatic)", AUTO_CLASS)] + [(f"{label} · {index}", str(index))
                                                              for index, label in enumerate(labels)]


def on_prediction_click(event: gr.SelectData):
    """A click on one of the top-5 predictions ("tiger cat (282)") selects that class."""
    label = str(event.value.get("label", "") if isinstance(event.value, dict) else event.value)
    index = label.rsplit("(", 1)[-1].rstrip(")")
    return index if index.isdigit() else gr.skip()  # a plain value, not an update (see run_explain)


def method_help(backbone: str, method: str) -> str:
    info = {m.name: m for m in camdemo.methods(backbone)}[method]
    text = f"**{info.title}.** {info.summary}\n\n*Paper:* {info.paper}"
    if info.fixed_layer:
        text += f"\n\nFor {get_spec(backbone).title}, CAM is computed at layer `{info.fixed_layer}`."
    if not info.available:
        text = f"⚠️ **{info.title} is not available for {get_spec(backbone).title}.** {info.reason}\n\n" + text
    return text


def offline_table() -> str:
    """Markdown table of every backbone and whether it works without internet on this machine."""
    rows = ["| backbone | offline here? | weights |", "| --- | --- | --- |"]
    for info in camdemo.backbones():
        rows.append(f"| {info.title} | {'✅ ready' if info.ready_offline else '⬇️ needs internet once'} | {info.note} |")
    return "\n".join(rows) + ("\n\nTo prepare a machine before going offline, run `python -m camdemo "
                                "download-weights` while it is online.")


def backbone_status(backbone: str) -> str:
    spec = get_spec(backbone)
    unavailable = [f"{m.title} — {m.reason}" for m in camdemo.methods(backbone) if not m.available]
    ready = "ready offline" if spec.offline else (
        "weights not on this machine yet: they download on first use (needs internet)")
    text = f"**{spec.title}** · input {spec.input_size}×{spec.input_size} · {ready}."
    if unavailable:
        text += "\n\nNot available here: " + "; ".join(unavailable)
    return text


def label_dict(explanation: camdemo.Explanation) -> dict[str, float]:
    return {f"{p.label} ({p.index})": p.probability for p in explanation.predictions}


# --- event handlers -------------------------------------------------------------------------------


def _display_image(path: str) -> np.ndarray:
    rgb = camdemo.load_image(path)
    height, width = rgb.shape[:2]
    scale = DISPLAY_MAX_SIDE / max(height, width)
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    return rgb


TRUE_BOX = (255, 255, 255)
MAP_BOX = (255, 0, 255)
SMALL_DISPLAY = 384  # smaller results are enlarged (nearest neighbour) so boxes and labels stay crisp


def render(explanation: camdemo.Explanation, show_boxes: bool) -> tuple[tuple, np.ndarray, str]:
    """What the page shows: (original, overlay) for the slider, the coloured heatmap, a ground-truth note.

    Small images are enlarged by a whole factor. With ``show_boxes`` the box the map implies (magenta,
    the CAM paper's 20% rule) is drawn, and on a generated shapes example the true boxes (white) too,
    with their IoU.
    """
    side = max(explanation.image.shape[:2])
    scale = -(-SMALL_DISPLAY // side) if side < SMALL_DISPLAY else 1

    def enlarge(image: np.ndarray) -> np.ndarray:
        return image if scale == 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)

    original, overlay = enlarge(explanation.image), enlarge(explanation.overlay)
    heatmap = enlarge(colorize(explanation.heatmap, explanation.colormap))
    if not show_boxes:
        return (original, overlay), heatmap, ""
    predicted = explanation.map_box()
    truth = shapes.ground_truth(explanation.image) or []
    scaled = [(predicted, "map", MAP_BOX)] + [(shape.box, f"true {shape.name}", TRUE_BOX) for shape in truth]
    overlay = draw_boxes(overlay, [(tuple(v * scale for v in box), label, colour) for box, label, colour in scaled])
    if not truth:
        return (original, overlay), heatmap, ("Magenta box: the map's largest region above 20% of its maximum "
                                              "(the CAM paper's localization rule).")
    matching = [shape for shape in truth if shape.name == explanation.class_label]
    if matching:
        note = (f"Ground truth: the box around the map's largest region above 20% of its maximum (magenta) overlaps "
                f"the true {matching[0].name} box (white) with IoU {iou(predicted, matching[0].box):.2f}.")
    else:
        note = f"Ground truth: this image holds no {explanation.class_label}; white boxes show what it holds."
    return (original, overlay), heatmap, note


def _reporter(progress: gr.Progress | None):
    """A ``progress(fraction, text)`` callback for the engine that updates Gradio's progress bar."""
    if progress is None:
        return None
    return lambda fraction, text: progress(fraction, desc=text)


def run_explain(image_path: str | None, backbone: str, layer: str | None, method: str, class_choice: str | None,
                colormap: str, opacity: float, show_boxes: bool = True, sign: str = "positive",
                ig_steps=None, ig_baseline=None, sg_base=None, sg_samples=None, sg_noise=None, occlusion_patch=None,
                occlusion_stride=None, scorecam_channels=None, progress=gr.Progress()):
    """The main event (API name ``explain``).

    After the image and the style come the sign to show and the method settings (used only by
    their method; see ``camdemo.ui_options.CONTROLS``). Returns the (original, overlay) pair, the
    heatmap image, the top-5, a summary, the class list, the result's key (server-side), the three
    download files and the bundled example's name (or "").
    """
    if not image_path:
        raise gr.Error("Please upload an image first (or click one of the examples).")
    class_index = _class_of(class_choice)
    options = options_for(method, [ig_steps, ig_baseline, sg_base, sg_samples, sg_noise, occlusion_patch,
                                   occlusion_stride, scorecam_channels])
    started = time.perf_counter()
    try:
        rgb = _display_image(image_path)
        explanation = on_model_thread(camdemo.explain, rgb, backbone=backbone, method=method, layer=layer or None,
                                      class_index=class_index, colormap=colormap or DEFAULT_COLORMAP,
                                      opacity=DEFAULT_OPACITY if opacity is None else float(opacity),
                                      options=options, sign=sign_for(method, sign), progress=_reporter(progress))
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None
    except Exception:  # keep serving; the log has the details
        log.exception("explain failed")
        raise gr.Error("Something went wrong while explaining this image. Please try again or choose other "
                       "settings.") from None
    key = recent_results.put(explanation)
    summary = f"{explanation.summary} Total {1000 * (time.perf_counter() - started):.0f} ms with decoding."
    if explanation.note:
        summary += f"\n\n⚠️ {explanation.note}"
    pair, heatmap, truth_note = render(explanation, show_boxes)
    if truth_note:
        summary += f"\n\n{truth_note}"
    # A plain value, not gr.Dropdown(...) or gr.update(...): Gradio 6.31 stores every property update as a
    # new component in the session, under a new id, for as long as the session lives. Once per result,
    # that grew the server by one 1,000-choice dropdown per request (measured under load).
    class_update = str(explanation.class_index)
    downloads = write_downloads(explanation, pair[1], Path(image_path).name)
    return (*write_display(pair, heatmap), label_dict(explanation), summary, class_update, key, *downloads,
            bundled_example(image_path) or "")


def run_explain_top1(image_path, backbone, layer, method, colormap, opacity, show_boxes=True, pending_class=None,
                     sign="positive", *option_values):
    """A new image or backbone: explain the top-1 class (or the class a shared link asked for, once).

    This run is automatic, so settings left over from the previous backbone fall back to the new
    backbone's defaults instead of failing. Returns ``run_explain``'s outputs and a cleared pending class.
    """
    if not image_path:
        return None, None, None, "", AUTO_CLASS, None, None, None, None, "", None
    available = {m.name: m for m in camdemo.methods(backbone)}
    if method not in available or not available[method].available:
        method = camdemo.DEFAULT_METHOD
    if layer not in {info.name for info in camdemo.layers(backbone)}:
        layer = None
    return (*run_explain(image_path, backbone, layer, method, pending_class or AUTO_CLASS, colormap, opacity,
                         show_boxes, sign, *option_values, progress=None), None)


def _parse_class(choice: str) -> int:
    try:
        return int(str(choice).strip())
    except ValueError:
        raise gr.Error(f"'{choice}' is not a class index; pick a class from the list.") from None


def restyle(key: str | None, colormap: str, opacity: float, show_boxes: bool = True, sign: str | None = None):
    """Colormap, opacity, sign or box display changed: re-draw the last result from its raw map, no network."""
    explanation = recent_results.get(key)
    if explanation is None:
        if key:  # there was a result, but the server no longer keeps it (many results since)
            gr.Warning("This result is no longer kept on the server, so it cannot be re-drawn. "
                       "Press Explain to compute it again with the new style.")
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    try:
        styled = explanation.restyled(colormap, opacity, sign_for(explanation.method, sign))
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None
    pair, heatmap, _ = render(styled, show_boxes)
    return (*write_display(pair, heatmap), *write_downloads(styled, pair[1], "image"))


def on_backbone_change(backbone: str, method: str, layer: str | None = None):
    """Controls follow the backbone: its layers (keeping a valid choice), classes, methods and notes."""
    available = {m.name: m.available for m in camdemo.methods(backbone)}
    method = method if available.get(method) else camdemo.DEFAULT_METHOD
    fixed = {m.name: m.fixed_layer for m in camdemo.methods(backbone)}[method]
    layer = fixed or (layer if layer in {info.name for info in camdemo.layers(backbone)} else None) \
        or _layer_for(backbone, method)
    info = {m.name: m for m in camdemo.methods(backbone)}[method]
    return (gr.update(choices=layer_choices(backbone), value=layer, interactive=info.uses_layer and not info.fixed_layer),
            gr.update(choices=class_choices(backbone), value=AUTO_CLASS),
            method, method_help(backbone, method), backbone_status(backbone))  # a value alone: plain (run_explain)


def on_method_change(backbone: str, method: str, layer: str | None, sign: str | None = None):
    info = {m.name: m for m in camdemo.methods(backbone)}[method]
    # The layer list depends only on the backbone (on_backbone_change sends it): here only value and state.
    return (gr.update(value=info.fixed_layer or layer or _layer_for(backbone, method),
                      interactive=info.uses_layer and not info.fixed_layer),
            method_help(backbone, method), *control_updates(method, sign))


SHAPES = "shapes_gapnet"


def example_backbone(name: str) -> str:
    """Generated shape examples go with the teaching network; photos with the default ImageNet backbone."""
    return SHAPES if name.startswith("shapes_") else camdemo.DEFAULT_BACKBONE


def bundled_example(image_path: str | None) -> str | None:
    """The name of the bundled example this upload is (same name and same bytes), else None."""
    if not image_path:
        return None
    path = Path(image_path)
    original = asset(path.name)
    if path.name in EXAMPLES and original.is_file() and path.stat().st_size == original.stat().st_size \
            and path.read_bytes() == original.read_bytes():
        return path.name
    return None


def backbone_for_example(image_path: str | None, backbone: str):
    """A clicked shapes example selects ShapesGapNet; a photo example leaves it for the default backbone.

    A person's own upload never changes the backbone.
    """
    name = bundled_example(image_path)
    if name is None:
        return gr.skip()
    wanted = example_backbone(name)
    if wanted == SHAPES and backbone != SHAPES or wanted != SHAPES and backbone == SHAPES:
        return wanted  # a plain value, not an update (see run_explain)
    return gr.skip()


def on_image_change(image_path: str | None, backbone: str, method: str, layer: str | None):
    """Before a new image is explained: if an example asks for another backbone, switch and update controls."""
    switch = backbone_for_example(image_path, backbone)
    if not isinstance(switch, str):
        return (gr.skip(),) * 6
    return (switch, *on_backbone_change(switch, method, layer))


def restore_from_url(request: gr.Request):
    """Page load: apply the settings in the URL (a shared link); the example image, if any, loads last."""
    settings = settings_from_query(dict(request.query_params) if request else {})
    if not settings:
        return (gr.skip(),) * 10
    backbone = settings.get("backbone", camdemo.DEFAULT_BACKBONE)
    layer_update, class_update, method_update, method_text, status = on_backbone_change(
        backbone, settings.get("method", camdemo.DEFAULT_METHOD), settings.get("layer"))
    return (backbone, layer_update, method_update,
            gr.update(choices=class_choices(backbone), value=settings.get("class", AUTO_CLASS)),
            settings.get("colormap", gr.skip()), settings.get("opacity", gr.skip()), method_text, status,
            settings.get("class"), settings.get("example", gr.skip()))


def run_steps(image_path: str | None, backbone: str, layer: str | None, class_choice: str | None, colormap: str):
    """The step-by-step view of Grad-CAM for the current image, layer and class."""
    if not image_path:
        raise gr.Error("Upload an image (or click an example) first.")
    class_index = _class_of(class_choice)
    try:
        return on_model_thread(show_steps, _display_image(image_path), backbone, layer, class_index,
                               colormap or DEFAULT_COLORMAP)
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None


def _class_of(class_choice: str | None) -> int | None:
    """The class dropdown's value as a class index; None for the automatic top-1."""
    return None if class_choice in (None, "", AUTO_CLASS) else _parse_class(class_choice)


def _run_tab(function, image_path: str | None, *args, progress=None):
    """Run one of the Compare / Sanity tab computations on the model thread, with camdemo's messages."""
    if not image_path:
        raise gr.Error("Upload an image (or click an example) on the Explain tab first.")
    try:
        return on_model_thread(function, _display_image(image_path), *args, progress=_reporter(progress))
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None


def run_compare(image_path, backbone, layer, class_choice, method_names, with_faithfulness, colormap,
                progress=gr.Progress()):
    """Compare tab: the chosen methods side by side with times and faithfulness, for one class."""
    if not method_names:
        raise gr.Error("Tick at least one method to compare.")
    items, table, deletion, insertion = _run_tab(ui_compare.compare, image_path, backbone, layer or None,
                                                 _class_of(class_choice), list(method_names), bool(with_faithfulness),
                                                 colormap or DEFAULT_COLORMAP, progress=progress)
    return write_gallery(items), table, deletion, insertion


def run_sweep(image_path, backbone, method, class_choice, count, colormap, progress=gr.Progress()):
    """Compare tab: one method across layers, early to late."""
    items, text = _run_tab(ui_compare.sweep, image_path, backbone, method, _class_of(class_choice), int(count),
                           colormap or DEFAULT_COLORMAP, progress=progress)
    return write_gallery(items), text


def run_sanity(image_path, backbone, class_choice, method_names, steps, colormap, progress=gr.Progress()):
    """Sanity check tab: cascading randomisation of a copy of the model."""
    if not method_names:
        raise gr.Error("Tick at least one method to check.")
    items, table = _run_tab(ui_compare.sanity, image_path, backbone, _class_of(class_choice), list(method_names),
                            int(steps), colormap or DEFAULT_COLORMAP, progress=progress)
    return write_gallery(items), table


def method_checkboxes(backbone: str) -> list[tuple[str, str]]:
    """(title, name) of every method that applies to ``backbone``."""
    return [(m.title, m.name) for m in camdemo.methods(backbone) if m.available]


def sweep_choices(backbone: str) -> list[tuple[str, str]]:
    """The methods a layer sweep can use on ``backbone``: those that work at any layer."""
    return [(m.title, m.name) for m in camdemo.methods(backbone) if m.uses_layer and not m.fixed_layer and m.available]


def still_available(backbone: str, chosen: list[str] | None) -> list[str]:
    available = {name for _, name in method_checkboxes(backbone)}
    return [name for name in chosen or [] if name in available]


def on_backbone_tabs(backbone: str, compared: list[str] | None, checked: list[str] | None):
    """The Compare and Sanity tabs offer only the methods that apply to the chosen backbone."""
    choices = method_checkboxes(backbone)
    return (gr.update(choices=choices, value=still_available(backbone, compared)),
            gr.update(choices=choices, value=still_available(backbone, checked)),
            gr.update(choices=sweep_choices(backbone), value=camdemo.DEFAULT_METHOD))


def _layer_for(backbone: str, method: str) -> str:
    fixed = {m.name: m.fixed_layer for m in camdemo.methods(backbone)}[method]
    return fixed or camdemo.layers(backbone)[0].name


# --- layout ---------------------------------------------------------------------------------------------


INTRO = """# camdemo — why did the classifier say that?
Upload a photo, pick a network (backbone), a method and a class, and see **where in the image** the evidence
for that class lies. Warm colours mark the regions that raise the class score most. Try the cat-and-coffee
example with the class set to a cat, then to *espresso*: a good method moves its map to the other object.
"""


def build_demo() -> gr.Blocks:
    """Build the Blocks app; ``app.py`` launches it with ``launch_options()``."""
    backbone = camdemo.DEFAULT_BACKBONE
    method = camdemo.DEFAULT_METHOD
    with gr.Blocks(title="camdemo: explain image classifiers", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(INTRO)
        with gr.Tab("Explain"), gr.Row():
            with gr.Column(scale=2):
                image = ImageUpload(label="Your image", type="filepath", image_mode=None,
                                    sources=["upload", "clipboard"], height=320)
                with gr.Row():
                    gr.Examples([[str(asset(name))] for name in EXAMPLES if example_backbone(name) != SHAPES],
                                inputs=[image], label="Photos (ImageNet backbones)")
                    gr.Examples([[str(asset(name))] for name in EXAMPLES if example_backbone(name) == SHAPES],
                                inputs=[image], label="Generated shapes (ShapesGapNet, true boxes)")
                backbone_box = gr.Dropdown(backbone_choices(), value=backbone, label="Backbone (classifier)")
                backbone_md = gr.Markdown(backbone_status(backbone))
                method_box = gr.Radio([(m.title, m.name) for m in camdemo.methods(backbone)], value=method,
                                      label="Method")
                layer_box = gr.Dropdown(layer_choices(backbone), value=_layer_for(backbone, method),
                                        label="Target layer", info=LAYER_HELP, allow_custom_value=True)
                class_box = gr.Dropdown(class_choices(backbone), value=AUTO_CLASS, label="Class to explain",
                                        info="Type to search all classes, or click one of the top-5 predictions.",
                                        filterable=True, allow_custom_value=True)
                with gr.Row():
                    colormap_box = gr.Dropdown(
                        [(f"{name}{' (colour-blind safe)' if name in COLOUR_BLIND_SAFE else ''}", name)
                         for name in COLORMAPS], value=DEFAULT_COLORMAP, label="Colormap")
                    opacity_box = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05, label="Heatmap opacity")
                with gr.Accordion("Method settings", open=False):
                    sign_box, option_boxes = build_controls()
                boxes_box = gr.Checkbox(value=True, label="Show boxes",
                                        info="Magenta: the box around the map's largest region above 20% of its "
                                             "maximum (the CAM paper's rule). The generated shapes examples also "
                                             "show their objects' true boxes (white).")
                button = gr.Button("Explain", variant="primary")
            with gr.Column(scale=3):
                slider = gr.ImageSlider(label="Original ⟷ heatmap overlay (drag the handle)", type="filepath",
                                        slider_position=15)
                with gr.Row():
                    heatmap_img = gr.Image(label="Heatmap alone", type="filepath", interactive=False)
                    top5 = gr.Label(label="Top-5 predictions", num_top_classes=5)
                summary_md = gr.Markdown()
                with gr.Row():
                    download_overlay = gr.DownloadButton("Overlay (PNG)", size="sm")
                    download_npy = gr.DownloadButton("Heatmap (.npy, float)", size="sm")
                    download_png = gr.DownloadButton("Heatmap (PNG, gray)", size="sm")
                method_md = gr.Markdown(method_help(backbone, method))
                with gr.Accordion("Step by step: how Grad-CAM builds this map", open=False):
                    steps_button = gr.Button("Show the steps for this image, layer and class")
                    steps_md = gr.Markdown()
                    steps_gallery = gr.Gallery(label="Grad-CAM step by step", columns=4, height="auto",
                                               object_fit="contain", show_label=False)
                with gr.Accordion("All methods at a glance", open=False):
                    gr.Markdown(describe_all(backbone))
                with gr.Accordion("Which backbones work offline?", open=False):
                    gr.Markdown(offline_table())
        with gr.Tab("Compare"):
            gr.Markdown(ui_compare.COMPARE_HELP)
            with gr.Row():
                compare_methods_box = gr.CheckboxGroup(
                    method_checkboxes(backbone), value=still_available(backbone, list(DEFAULT_COMPARE_METHODS)),
                    label="Methods (uses the image, backbone, layer and class of the Explain tab)")
                with gr.Column(scale=0, min_width=220):
                    faith_box = gr.Checkbox(value=True, label="Measure faithfulness (about 1 s per method)")
                    compare_button = gr.Button("Compare methods", variant="primary")
            compare_gallery = gr.Gallery(label="Methods side by side", columns=4, height="auto", object_fit="contain")
            compare_md = gr.Markdown()
            with gr.Row():
                deletion_plot = gr.LinePlot(x="fraction of pixels", y="class probability", color="method",
                                            title="Deletion: most important pixels removed first (lower is better)",
                                            y_lim=[0, 1])
                insertion_plot = gr.LinePlot(x="fraction of pixels", y="class probability", color="method",
                                             title="Insertion: most important pixels restored first (higher is "
                                                   "better)", y_lim=[0, 1])
            gr.Markdown("### Layer sweep: one method from early to late layers")
            with gr.Row():
                sweep_method = gr.Dropdown(sweep_choices(backbone), value=method, label="Method")
                sweep_count = gr.Slider(2, 8, value=4, step=1, label="Layers")
                sweep_button = gr.Button("Sweep the layers")
            sweep_gallery = gr.Gallery(label="Early → late", columns=4, height="auto", object_fit="contain")
            sweep_md = gr.Markdown()
        with gr.Tab("Sanity check"):
            gr.Markdown(ui_compare.SANITY_HELP)
            with gr.Row():
                sanity_methods_box = gr.CheckboxGroup(
                    method_checkboxes(backbone), value=still_available(backbone, list(DEFAULT_SANITY_METHODS)),
                    label="Methods (uses the image, backbone and class of the Explain tab)")
                with gr.Column(scale=0, min_width=220):
                    sanity_steps = gr.Slider(2, 8, value=4, step=1, label="Randomisation steps")
                    sanity_button = gr.Button("Randomise the model and compare", variant="primary")
            sanity_md = gr.Markdown()
            sanity_gallery = gr.Gallery(label="Maps as more layers get random weights (rows: steps)",
                                        columns=len(DEFAULT_SANITY_METHODS), height="auto", object_fit="contain")
        result_key = gr.State(None)
        pending_class = gr.State(None)  # a class from a shared link, used once by the next automatic run
        example_name = gr.Textbox(visible="hidden", label="example")

        outputs = [slider, heatmap_img, top5, summary_md, class_box, result_key, download_overlay, download_npy,
                   download_png, example_name]
        settings = [backbone_box, layer_box, method_box]
        explain_inputs = [image, *settings, class_box, colormap_box, opacity_box, boxes_box, sign_box, *option_boxes]
        url_inputs = [backbone_box, layer_box, method_box, class_box, colormap_box, opacity_box, example_name]
        gr.on([button.click, layer_box.input, class_box.input], run_explain, inputs=explain_inputs, outputs=outputs,
              api_name="explain", concurrency_limit=1, concurrency_id="model").then(
            None, inputs=url_inputs, js=WRITE_URL_JS)
        top1_inputs = [image, *settings, colormap_box, opacity_box, boxes_box, pending_class, sign_box, *option_boxes]
        top1_outputs = [*outputs, pending_class]
        image.change(on_image_change, inputs=[image, backbone_box, method_box, layer_box],
                     outputs=[backbone_box, layer_box, class_box, method_box, method_md, backbone_md],
                     api_visibility="private", queue=False).then(
            run_explain_top1, inputs=top1_inputs, outputs=top1_outputs,
            api_visibility="private", concurrency_limit=1, concurrency_id="model").then(
            None, inputs=url_inputs, js=WRITE_URL_JS)
        backbone_box.input(on_backbone_change, inputs=[backbone_box, method_box, layer_box],
                           outputs=[layer_box, class_box, method_box, method_md, backbone_md],
                           api_visibility="private").then(
            run_explain_top1, inputs=top1_inputs, outputs=top1_outputs,
            api_visibility="private", concurrency_limit=1, concurrency_id="model").then(
            None, inputs=url_inputs, js=WRITE_URL_JS)
        method_box.input(on_method_change, inputs=[backbone_box, method_box, layer_box, sign_box],
                         outputs=[layer_box, method_md, sign_box, *option_boxes], api_visibility="private").then(
            run_explain, inputs=explain_inputs, outputs=outputs, api_visibility="private",
            concurrency_limit=1, concurrency_id="model").then(None, inputs=url_inputs, js=WRITE_URL_JS)
        gr.on([colormap_box.input, opacity_box.release, boxes_box.input, sign_box.input], restyle,
              inputs=[result_key, colormap_box, opacity_box, boxes_box, sign_box],
              outputs=[slider, heatmap_img, download_overlay, download_npy, download_png],
              api_visibility="private", concurrency_limit=4).then(None, inputs=url_inputs, js=WRITE_URL_JS)
        top5.select(on_prediction_click, inputs=None, outputs=[class_box], api_visibility="private", queue=False).then(
            run_explain, inputs=explain_inputs, outputs=outputs, api_visibility="private", concurrency_limit=1,
            concurrency_id="model").then(None, inputs=url_inputs, js=WRITE_URL_JS)
        steps_button.click(run_steps, inputs=[image, backbone_box, layer_box, class_box, colormap_box],
                           outputs=[steps_gallery, steps_md], api_visibility="private", concurrency_limit=1,
                           concurrency_id="model")
        compare_button.click(run_compare, inputs=[image, backbone_box, layer_box, class_box, compare_methods_box,
                                                  faith_box, colormap_box],
                             outputs=[compare_gallery, compare_md, deletion_plot, insertion_plot],
                             api_name="compare", concurrency_limit=1, concurrency_id="model")
        sweep_button.click(run_sweep, inputs=[image, backbone_box, sweep_method, class_box, sweep_count, colormap_box],
                           outputs=[sweep_gallery, sweep_md], api_name="layer_sweep", concurrency_limit=1,
                           concurrency_id="model")
        sanity_button.click(run_sanity, inputs=[image, backbone_box, class_box, sanity_methods_box, sanity_steps,
                                                colormap_box],
                            outputs=[sanity_gallery, sanity_md], api_name="sanity_check", concurrency_limit=1,
                            concurrency_id="model")
        backbone_box.change(on_backbone_tabs, inputs=[backbone_box, compare_methods_box, sanity_methods_box],
                            outputs=[compare_methods_box, sanity_methods_box, sweep_method], api_visibility="private",
                            queue=False)
        demo.load(restore_from_url, inputs=None,
                  outputs=[backbone_box, layer_box, method_box, class_box, colormap_box, opacity_box, method_md,
                           backbone_md, pending_class, image], api_visibility="private")
    return demo


# Clicking a searchable dropdown selects its text, so typing "espresso" replaces the current choice
# instead of being appended to it (Gradio's dropdown keeps the text on focus).
SELECT_ON_FOCUS = """<script>
document.addEventListener("focusin", (event) => {
  const field = event.target;
  if (field instanceof HTMLInputElement && field.getAttribute("role") === "combobox") {
    setTimeout(() => field.select(), 0);
  }
});
</script>"""


def launch_options() -> dict:
    """Safe defaults: bounded uploads, no server files exposed beyond Gradio's own cache, errors shown."""
    return dict(max_file_size=MAX_FILE_SIZE, show_error=True, allowed_paths=[], ssr_mode=False,
                head=SELECT_ON_FOCUS, state_session_capacity=SESSION_CAPACITY,
                run_history=False,  # no uploads kept in shared classroom browsers
                app_kwargs=serving.app_kwargs(MAX_FILE_SIZE))  # upload limits and clean-up: camdemo.serving
