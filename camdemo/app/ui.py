"""The Gradio app: a thin layer over ``camdemo.explain`` and the catalogue functions.

No model logic lives here. The UI decodes the upload with ``camdemo.load_image`` (so every bad
file gets camdemo's own message), shrinks very large photos for display, calls ``explain`` and
shows the result. Changing the colormap or opacity re-blends a recent result without running
the network; changing the class for CAM reuses the engine's cached forward pass.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import cv2
import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder

import camdemo
from camdemo.teaching import scenes as shapes
from camdemo.assets import ASSETS_DIR, EXAMPLES, asset
from camdemo.cost import Cost, estimate_cost, pass_seconds
from camdemo.app.jobs import lanes
from camdemo.evaluation.boxes import iou
from camdemo.evaluation.compare import DEFAULT_COMPARE_METHODS
from camdemo.explainers.base import FORWARD_PASS
from camdemo.evaluation.faithfulness import DEFAULT_STEPS as DEFAULT_FAITHFULNESS_STEPS
from camdemo.evaluation.sanity import DEFAULT_SANITY_METHODS
from camdemo.models import get_spec, weights_status
from camdemo.drawing.overlay import COLORMAPS, COLOUR_BLIND_SAFE, DEFAULT_COLORMAP, DEFAULT_OPACITY, colorize, draw_boxes
from camdemo.drawing.overlay import with_colour_bar
from camdemo.app import compare as ui_compare
from camdemo.app import serving
from camdemo.app.classes import CLASS_BOX_ID, ENTER_SENDS_TEXT, resolve_class
from camdemo.app.downloads import pending_write, write_display, write_downloads, write_gallery
from camdemo.app.options import CONTROLS, build_controls, control_updates, describe_all, options_for, sign_for
from camdemo.app.share import WRITE_URL_JS, settings_from_query
from camdemo.app.steps import show_steps

log = logging.getLogger("camdemo.app")

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


NOT_AN_UPLOAD = "This image did not arrive as an upload to this page. Please upload it again."


def _uploaded_file(path: str) -> str | None:
    """``path`` resolved (symbolic links followed) if it is a file in Gradio's upload folder or a bundled
    example, else None. Nothing else on the server is ever opened on a visitor's behalf."""
    try:
        real = Path(os.path.realpath(path))
        roots = (Path(os.path.realpath(get_upload_folder())), Path(os.path.realpath(ASSETS_DIR)))
        if any(real.is_relative_to(root) for root in roots) and real.is_file():
            return str(real)
    except (OSError, ValueError, TypeError):  # a NUL byte, a name too long: refused like any other path
        pass
    return None


class ImageUpload(gr.Image):
    """``gr.Image`` that passes the uploaded file's path on unopened, and only a path it uploaded.

    Gradio's own ``gr.Image`` opens the file with PIL before our code runs, so a damaged or
    non-image upload would fail inside Gradio with a generic message. Here camdemo decodes it
    and says what is wrong. ``is_template`` makes Gradio reuse the normal Image frontend.

    A payload names a path. Gradio 6.31 checks that it lies in the upload folder only when the
    payload carries its ``meta`` marker, so a hand-made request could name any server file. Every
    path is checked here instead: inside the upload folder or the bundled examples after following
    links, else refused with one message that says nothing about the path (not even whether it exists).
    """

    is_template = True

    def preprocess(self, payload):  # type: ignore[override]
        if payload is None:
            return None
        checked = _uploaded_file(payload.path) if payload.path else None
        if checked is None:
            raise gr.Error(NOT_AN_UPLOAD, print_exception=False)
        return checked


class _RecentResults:
    """The most recent explanations, by key, so a colormap or opacity change can re-blend without the network.

    Bounded by the bytes of their arrays (a 1280-pixel photo's result holds about 11 MB), not by a
    count, so a classroom of small images keeps many and a few huge ones cannot fill the memory.
    """

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[camdemo.Explanation, int, str]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def size_of(explanation: camdemo.Explanation) -> int:
        return sum(value.nbytes for value in vars(explanation).values() if isinstance(value, np.ndarray))

    def put(self, explanation: camdemo.Explanation, file_name: str = "image") -> str:
        """Keep ``explanation`` (of the uploaded file ``file_name``, which names its downloads); returns its key."""
        key, size = uuid.uuid4().hex, self.size_of(explanation)
        with self._lock:
            self._items[key] = (explanation, size, file_name)
            self._bytes += size
            while len(self._items) > 1 and self._bytes > self.max_bytes:
                _, (_, dropped, _) = self._items.popitem(last=False)
                self._bytes -= dropped
        return key

    def get(self, key: str | None) -> camdemo.Explanation | None:
        with self._lock:
            item = self._items.get(key) if key else None
            if item is not None:
                self._items.move_to_end(key)  # a result someone is still restyling stays
            return item[0] if item else None

    def file_name(self, key: str | None) -> str:
        """The name of the file a kept result explains ("image" if unknown)."""
        with self._lock:
            item = self._items.get(key) if key else None
            return item[2] if item else "image"

    def __len__(self) -> int:
        return len(self._items)

    @property
    def total_bytes(self) -> int:
        return self._bytes


recent_results = _RecentResults()

# One request may take at most this long by its estimate (camdemo.cost), else it is refused before it
# starts; a running job is stopped at twice that (camdemo.app.jobs). On 2 CPU cores the slowest settings this
# allows took 22–31 s on EfficientNet-Lite2, measured (README, "Serving a classroom or a Space").
BUDGET_SECONDS = 30.0


def _client_gone(request: gr.Request | None) -> Callable[[], bool]:
    """A check that is True once the page that sent ``request`` has gone (Gradio marks its jobs not alive)."""
    try:
        gradio_queue = request.app.get_blocks()._queue  # type: ignore[union-attr]
        session = request.session_hash  # type: ignore[union-attr]
    except (AttributeError, TypeError):  # called directly (tests, notebooks): no client to lose
        return lambda: False

    def gone() -> bool:
        return any(job.session_hash == session and not job.alive
                   for jobs in list(gradio_queue.active_jobs) for job in list(jobs or ()))
    return gone


def _session(request: gr.Request | None) -> str:
    """The visitor's page session (``"local"`` when called directly, from Python or a test)."""
    return getattr(request, "session_hash", None) or "local"


def on_model(function, *args, request: gr.Request | None = None, fast: bool = False,
             progress: gr.Progress | None = None, **kwargs):
    """Run model work in its lane (``camdemo.app.jobs``) for the visitor of ``request`` and wait for the result.

    ``function`` gets a ``progress(fraction, text)`` callback where it stops if its page has gone, if it runs
    past the time limit or if the server shuts down. ``CamdemoError`` (also a refusal) becomes a message.
    """
    try:
        return lanes().run(function, *args, session=_session(request), fast=fast,
                           client_gone=_client_gone(request), progress=_reporter(progress), **kwargs)
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None


def checked_name(value, what: str) -> str | None:
    """A layer or class name from a visitor: a string (or nothing), else a message (a raw call can send anything)."""
    if value is None or isinstance(value, str):
        return value
    raise gr.Error(f"The {what} must be chosen from the list.", print_exception=False)


def whole_number(value, low: int, high: int, what: str) -> int:
    """A count from a slider, checked: a raw call may send NaN or a string where the page sends a number."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not low <= number <= high:
        raise gr.Error(f"The number of {what} must be a whole number from {low} to {high}.", print_exception=False)
    return number


def check_budget(cost: Cost) -> None:
    """Refuse, before any work, a request whose estimate is over ``BUDGET_SECONDS``."""
    if cost.seconds > BUDGET_SECONDS:
        raise gr.Error(f"These settings would take {cost.describe()}: more than this server allows for one request "
                       f"({BUDGET_SECONDS:.0f} s). Choose fewer steps or samples, a larger occlusion stride or fewer "
                       "Score-CAM channels.", print_exception=False)


# --- choices for the controls -----------------------------------------------------------------------


_WEIGHTS_LABEL = {"ready": "offline", "missing": "downloads weights", "damaged": "weights damaged"}


def backbone_choices() -> list[tuple[str, str]]:
    return [(f"{info.title} ({_WEIGHTS_LABEL[info.weights_state]})", info.name) for info in camdemo.backbones()]


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
        state = {"ready": "✅ ready", "missing": "⬇️ needs internet once"}.get(info.weights_state,
                                                                             f"❌ damaged: {info.repair}")
        rows.append(f"| {info.title} | {state} | {info.note} |")
    return "\n".join(rows) + ("\n\nTo prepare a machine before going offline, run `python -m camdemo "
                                "download-weights` while it is online.")


def backbone_status(backbone: str) -> str:
    spec = get_spec(backbone)
    unavailable = [f"{m.title} — {m.reason}" for m in camdemo.methods(backbone) if not m.available]
    weights = weights_status(spec)
    ready = {"ready": "ready offline",
             "missing": "weights not on this machine yet: they download on first use (needs internet)",
             }.get(weights.state, f"weights damaged: {weights.repair}")
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
    """What the page shows: (original, overlay) for the slider, the coloured heatmap with its colour scale
    underneath, a ground-truth note.

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
    heatmap = with_colour_bar(heatmap, explanation.colour_scale(heatmap.shape[1]))  # what the colours mean
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
    """A ``progress(fraction, text)`` callback for the engine that updates Gradio's progress bar.

    Call it in the handler's thread: Gradio finds the event a progress update belongs to through context
    variables, which the lanes' worker threads do not have, so the callback carries the handler's context.
    """
    if progress is None:
        return None
    context = contextvars.copy_context()
    return lambda fraction, text: context.run(progress, fraction, desc=text)


def run_explain(image_path: str | None, backbone: str, layer: str | None, method: str, class_choice: str | None,
                colormap: str, opacity: float, show_boxes: bool = True, sign: str = "positive",
                ig_steps=None, ig_baseline=None, sg_base=None, sg_samples=None, sg_noise=None, occlusion_patch=None,
                occlusion_stride=None, scorecam_channels=None, ig_adaptive=None, request: gr.Request = None,
                progress=gr.Progress()):
    """The main event (API name ``explain``).

    After the image and the style come the sign to show and the method settings (used only by
    their method; see ``camdemo.app.options.CONTROLS``). Returns the (original, overlay) pair, the
    heatmap image, the top-5, a summary, the class list, the result's key (server-side), the three
    download files and the bundled example's name (or "").
    """
    if not image_path:
        raise gr.Error("Please upload an image first (or click one of the examples).")
    layer, class_choice = checked_name(layer, "layer"), checked_name(class_choice, "class")
    class_index = _class_of(class_choice, backbone)
    options = options_for(method, [ig_steps, ig_baseline, sg_base, sg_samples, sg_noise, occlusion_patch,
                                   occlusion_stride, scorecam_channels, ig_adaptive])
    started = time.perf_counter()
    try:
        cost = estimate_cost(backbone, method, layer or None, options)
        check_budget(cost)

        def work(progress):
            return camdemo.explain(_display_image(image_path), backbone=backbone, method=method, layer=layer or None,
                                   class_index=class_index, colormap=colormap or DEFAULT_COLORMAP,
                                   opacity=DEFAULT_OPACITY if opacity is None else float(opacity),
                                   options=options, sign=sign_for(method, sign, options), progress=progress)

        explanation = on_model(work, request=request, fast=cost.single_pass, progress=progress)
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None
    except gr.Error:
        raise
    except Exception:  # keep serving; the log has the details
        log.exception("explain failed")
        raise gr.Error("Something went wrong while explaining this image. Please try again or choose other "
                       "settings.") from None
    key = recent_results.put(explanation, Path(image_path).name)
    summary = f"{explanation.summary} Total {1000 * (time.perf_counter() - started):.0f} ms with decoding."
    if explanation.note:
        summary += f"\n\n⚠️ {explanation.note}"
    pair, heatmap, truth_note = render(explanation, show_boxes)
    if truth_note:
        summary += f"\n\n{truth_note}"
    if backbone == SHAPES and shapes.ground_truth(explanation.image) is None:
        summary += ("\n\n⚠️ ShapesGapNet learned only generated shapes on a plain background. This image is not one "
                    "of them, so its answer and its map mean little: choose an ImageNet backbone for photos.")
    # A plain value, not gr.Dropdown(...) or gr.update(...): Gradio 6.31 stores every property update as a
    # new component in the session, under a new id, for as long as the session lives. Once per result,
    # that grew the server by one 1,000-choice dropdown per request (measured under load).
    class_update = str(explanation.class_index)
    session = _session(request)
    downloads = write_downloads(explanation, pair[1], Path(image_path).name, session)
    return (*write_display(pair, heatmap, session), label_dict(explanation), summary, class_update, key, *downloads,
            bundled_example(image_path) or "")


def run_explain_top1(image_path, backbone, layer, method, colormap, opacity, show_boxes=True, pending_class=None,
                     sign="positive", *option_values, request: gr.Request = None, progress=gr.Progress()):
    """A new image or backbone: explain the top-1 class (or the class a shared link asked for, once).

    This run is automatic, so settings left over from the previous backbone fall back to the new
    backbone's defaults instead of failing. Returns ``run_explain``'s outputs and a cleared pending class.
    """
    if not image_path:
        return None, None, None, "", AUTO_CLASS, None, None, None, None, "", None
    run = (getattr(request, "session_hash", None), image_path, backbone)
    if not _start_automatic_run(run):
        return (gr.skip(),) * 11
    try:
        return _explain_top1(image_path, backbone, layer, method, colormap, opacity, show_boxes, pending_class, sign,
                             *option_values, request=request, progress=progress)
    finally:
        _finish_automatic_run(run)


def _explain_top1(image_path, backbone, layer, method, colormap, opacity, show_boxes, pending_class, sign,
                  *option_values, request: gr.Request | None, progress):
    available = {m.name: m for m in camdemo.methods(backbone)}
    if method not in available or not available[method].available:
        method = camdemo.DEFAULT_METHOD
    if layer not in {info.name for info in camdemo.layers(backbone)}:
        layer = None
    try:
        return (*run_explain(image_path, backbone, layer, method, pending_class or AUTO_CLASS, colormap, opacity,
                             show_boxes, sign, *option_values, request=request, progress=progress), None)
    except gr.Error as error:
        if weights_status(get_spec(backbone)).state == "ready":
            raise
        # The backbone's weights are missing or damaged: say it once, where the result would be, and leave every
        # control as it is (an error would mark each output, the class list too, with an "Error" badge).
        return None, None, None, f"⚠️ {error.message}", gr.skip(), None, None, None, None, gr.skip(), None


# Gradio's image component sends its change event twice for one upload (measured: 12 uploads, 17 runs),
# both with the new file, about 0.1 s apart. An automatic run of the same page, image and backbone is
# skipped while an identical one is running or within this many seconds after it finished.
DUPLICATE_WINDOW_SECONDS = 0.5
_automatic_runs: OrderedDict[tuple, float | None] = OrderedDict()  # run → when it finished (None: running)
_automatic_runs_lock = threading.Lock()


def _start_automatic_run(run: tuple) -> bool:
    """Claim ``run`` (page, image, backbone); False if it is a duplicate change event's second run."""
    with _automatic_runs_lock:
        if run in _automatic_runs:
            finished = _automatic_runs[run]
            if finished is None or time.monotonic() - finished < DUPLICATE_WINDOW_SECONDS:
                return False
        _automatic_runs[run] = None
        _automatic_runs.move_to_end(run)
        while len(_automatic_runs) > 4096:
            _automatic_runs.popitem(last=False)
    return True


def _finish_automatic_run(run: tuple) -> None:
    with _automatic_runs_lock:
        _automatic_runs[run] = time.monotonic()


def _parse_class(choice: str, backbone: str) -> int:
    """A class index, a list entry or a typed name (best match: ``camdemo.app.classes``) as a class index."""
    try:
        return resolve_class(choice, camdemo.class_names(backbone), get_spec(backbone).title)
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None


def restyle(key: str | None, colormap: str, opacity: float, show_boxes: bool = True, sign: str | None = None,
            request: gr.Request = None):
    """Colormap, opacity, sign or box display changed: re-draw the last result from its raw map, no network."""
    explanation = recent_results.get(key)
    if explanation is None:
        if key:  # there was a result, but the server no longer keeps it (many results since)
            gr.Warning("This result is no longer kept on the server, so it cannot be re-drawn. "
                       "Press Explain to compute it again with the new style.")
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    try:
        styled = explanation.restyled(colormap, opacity, sign_for(explanation.method, sign, explanation.options))
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None
    pair, heatmap, _ = render(styled, show_boxes)
    session = _session(request)
    return (*write_display(pair, heatmap, session),
            *write_downloads(styled, pair[1], recent_results.file_name(key), session))


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


def describe_cost(backbone: str, method: str, layer: str | None, *option_values) -> str:
    """The cost line shown above the Explain button, before anything runs."""
    try:
        cost = estimate_cost(backbone, method, layer or None, options_for(method, list(option_values)))
    except camdemo.CamdemoError as error:
        return f"⚠️ {error}"
    if cost.seconds > BUDGET_SECONDS:
        return (f"⚠️ **Cost:** {cost.describe()}: more than this server allows for one request "
                f"({BUDGET_SECONDS:.0f} s). Choose fewer steps or samples.")
    kind = "one pass of the network" if cost.single_pass else "a slow method: a progress bar follows it"
    return f"**Cost:** {cost.describe()} ({kind})."


def on_method_change(backbone: str, method: str, layer: str | None, sign: str | None = None, *option_values):
    info = {m.name: m for m in camdemo.methods(backbone)}[method]
    layer = layer if isinstance(layer, str) else None  # a raw call may send anything; the page sends a name
    # The layer list depends only on the backbone (on_backbone_change sends it): here only value and state.
    return (gr.update(value=info.fixed_layer or layer or _layer_for(backbone, method),
                      interactive=info.uses_layer and not info.fixed_layer),
            method_help(backbone, method), *control_updates(method, sign, option_values))


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


def backbone_for_image(image_path: str | None, backbone: str, chosen_by_example: bool = False) -> str | None:
    """The backbone a new image should switch to, or None to keep the current one.

    A clicked shapes example selects ShapesGapNet; a photo example goes back to the default backbone. A
    person's own upload goes to the default ImageNet backbone when ShapesGapNet was chosen by an example,
    not by the person (who may want to see how the teaching network fares on a photo).
    """
    if not image_path:
        return None
    name = bundled_example(image_path)
    if name is None:
        return camdemo.DEFAULT_BACKBONE if backbone == SHAPES and chosen_by_example else None
    wanted = example_backbone(name)
    if wanted == SHAPES and backbone != SHAPES or wanted != SHAPES and backbone == SHAPES:
        return wanted
    return None


def on_image_change(image_path: str | None, backbone: str, method: str, layer: str | None,
                    chosen_by_example: bool = False):
    """Before a new image is explained: switch backbone if the image calls for it, and update the controls.

    The last output says whether the backbone now in use was chosen by an example (see ``backbone_for_image``).
    """
    switch = backbone_for_image(image_path, backbone, bool(chosen_by_example))
    if switch is None:
        return (gr.skip(),) * 7
    # plain values, not updates (see run_explain)
    return (switch, *on_backbone_change(switch, method, layer), switch == SHAPES)


def restore_from_url(request: gr.Request):
    """Page load: apply the settings in the URL (a shared link); the example image, if any, loads last."""
    settings = settings_from_query(dict(request.query_params) if request else {})
    if not settings:
        return (gr.skip(),) * (11 + len(CONTROLS))
    backbone = settings.get("backbone", camdemo.DEFAULT_BACKBONE)
    layer_update, class_update, method_update, method_text, status = on_backbone_change(
        backbone, settings.get("method", camdemo.DEFAULT_METHOD), settings.get("layer"))
    return (backbone, layer_update, method_update,
            gr.update(choices=class_choices(backbone), value=settings.get("class", AUTO_CLASS)),
            settings.get("colormap", gr.skip()), settings.get("opacity", gr.skip()), method_text, status,
            settings.get("class"), settings.get("example", gr.skip()),
            *control_updates(method_update, settings.get("sign")))


def run_steps(image_path: str | None, backbone: str, layer: str | None, class_choice: str | None, colormap: str,
              request: gr.Request = None):
    """The step-by-step view of Grad-CAM for the current image, layer and class."""
    if not image_path:
        raise gr.Error("Upload an image (or click an example) first.")
    layer, class_choice = checked_name(layer, "layer"), checked_name(class_choice, "class")
    class_index = _class_of(class_choice, backbone)
    return on_model(lambda progress: show_steps(_display_image(image_path), backbone, layer, class_index,
                                                colormap or DEFAULT_COLORMAP), request=request, fast=True)


def _class_of(class_choice: str | None, backbone: str) -> int | None:
    """The class dropdown's value as a class index of ``backbone``; None for the automatic top-1."""
    return None if class_choice in (None, "", AUTO_CLASS) else _parse_class(class_choice, backbone)


def _run_tab(function, image_path: str | None, *args, request: gr.Request | None = None, progress=None):
    """Run one of the Compare / Sanity tab computations in the slow lane, with camdemo's messages."""
    if not image_path:
        raise gr.Error("Upload an image (or click an example) on the Explain tab first.")
    return on_model(lambda progress: function(_display_image(image_path), *args, progress=progress),
                    request=request, progress=progress)


def _total_cost(backbone: str, method_names: list[str], times: int = 1, extra_passes: float = 0.0) -> Cost:
    """The cost of running each of ``method_names`` (default settings) ``times`` times, plus ``extra_passes``
    per method and time; bad names raise later."""
    costs = []
    for name in method_names:
        try:
            costs.append(estimate_cost(backbone, name))
        except camdemo.CamdemoError:
            pass  # the computation itself says what is wrong with it
    return Cost(sum(c.passes + extra_passes for c in costs) * times,
                sum(c.seconds + extra_passes * pass_seconds(backbone) for c in costs) * times)


# Faithfulness of one map: the deletion and the insertion curve, DEFAULT_STEPS + 1 forward passes each.
FAITHFULNESS_PASSES = 2 * (DEFAULT_FAITHFULNESS_STEPS + 1) * FORWARD_PASS


def _method_list(method_names, what: str) -> list[str]:
    """The ticked methods, each once; a message when there are none (or a raw call sent something else)."""
    if not method_names or not isinstance(method_names, (list, tuple)) \
            or not all(isinstance(name, str) for name in method_names):
        raise gr.Error(f"Tick at least one method to {what}.", print_exception=False)
    return list(dict.fromkeys(method_names))


def run_compare(image_path, backbone, layer, class_choice, method_names, with_faithfulness, colormap,
                request: gr.Request = None, progress=gr.Progress()):
    """Compare tab: the chosen methods side by side with times and faithfulness, for one class."""
    method_names = _method_list(method_names, "compare")
    layer, class_choice = checked_name(layer, "layer"), checked_name(class_choice, "class")
    check_budget(_total_cost(backbone, method_names, extra_passes=FAITHFULNESS_PASSES if with_faithfulness else 0))
    items, table, deletion, insertion = _run_tab(ui_compare.compare, image_path, backbone, layer or None,
                                                 _class_of(class_choice, backbone), list(method_names),
                                                 bool(with_faithfulness), colormap or DEFAULT_COLORMAP,
                                                 request=request, progress=progress)
    return write_gallery(items, _session(request)), table, deletion, insertion


def run_sweep(image_path, backbone, method, class_choice, count, colormap, request: gr.Request = None,
              progress=gr.Progress()):
    """Compare tab: one method across layers, early to late."""
    count = whole_number(count, 2, 8, "layers")
    class_choice = checked_name(class_choice, "class")
    check_budget(_total_cost(backbone, [method], count))
    items, text = _run_tab(ui_compare.sweep, image_path, backbone, method, _class_of(class_choice, backbone),
                           int(count), colormap or DEFAULT_COLORMAP, request=request, progress=progress)
    return write_gallery(items, _session(request)), text


def run_sanity(image_path, backbone, class_choice, method_names, steps, colormap, request: gr.Request = None,
               progress=gr.Progress()):
    """Sanity check tab: cascading randomisation of a copy of the model."""
    method_names = _method_list(method_names, "check")
    steps = whole_number(steps, 2, 8, "randomisation steps")
    class_choice = checked_name(class_choice, "class")
    check_budget(_total_cost(backbone, method_names, steps + 1))
    items, table = _run_tab(ui_compare.sanity, image_path, backbone, _class_of(class_choice, backbone),
                            list(method_names), int(steps), colormap or DEFAULT_COLORMAP, request=request,
                            progress=progress)
    return write_gallery(items, _session(request)), table


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
for that class lies. Bright colours mark the regions that raise the class score most (the scale under the
heatmap gives the values). Try the cat-and-coffee example with the class set to a cat, then to *espresso*:
a good method moves its map to the other object.
"""


def build_demo() -> gr.Blocks:
    """Build the Blocks app; ``app.py`` launches it with ``launch_options()``."""
    backbone = camdemo.DEFAULT_BACKBONE
    method = camdemo.DEFAULT_METHOD
    with gr.Blocks(title="camdemo: explain image classifiers", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(INTRO)
        with gr.Tab("Explain"), gr.Row(elem_id="camdemo-explain"):
            with gr.Column(scale=2, elem_id="camdemo-controls"):
                image = ImageUpload(label="Your image", type="filepath", image_mode=None,
                                    sources=["upload", "clipboard"], height=320)
                with gr.Column(elem_id="camdemo-settings"):  # below the result on a phone (PHONE_CSS)
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
                                            info="Type a name and press Enter (whole names and words match first), "
                                                 "pick one from the list, or click one of the top-5 predictions.",
                                            filterable=True, allow_custom_value=True, elem_id=CLASS_BOX_ID)
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
                    cost_md = gr.Markdown(describe_cost(backbone, method, _layer_for(backbone, method)))
                    button = gr.Button("Explain", variant="primary")
            with gr.Column(scale=3, elem_id="camdemo-results"):
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
        backbone_by_example = gr.State(False)  # the backbone was switched by an example, not by the person
        example_name = gr.Textbox(visible="hidden", label="example")

        outputs = [slider, heatmap_img, top5, summary_md, class_box, result_key, download_overlay, download_npy,
                   download_png, example_name]
        settings = [backbone_box, layer_box, method_box]
        explain_inputs = [image, *settings, class_box, colormap_box, opacity_box, boxes_box, sign_box, *option_boxes]
        url_inputs = [backbone_box, layer_box, method_box, class_box, colormap_box, opacity_box, example_name, sign_box]
        gr.on([button.click, layer_box.input, class_box.input], run_explain, inputs=explain_inputs, outputs=outputs,
              api_name="explain", concurrency_limit=None).then(
            None, inputs=url_inputs, js=WRITE_URL_JS)
        top1_inputs = [image, *settings, colormap_box, opacity_box, boxes_box, pending_class, sign_box, *option_boxes]
        top1_outputs = [*outputs, pending_class]
        image.change(on_image_change, inputs=[image, backbone_box, method_box, layer_box, backbone_by_example],
                     outputs=[backbone_box, layer_box, class_box, method_box, method_md, backbone_md,
                              backbone_by_example],
                     api_visibility="private", queue=False).then(
            run_explain_top1, inputs=top1_inputs, outputs=top1_outputs,
            api_visibility="private", concurrency_limit=None).then(
            None, inputs=url_inputs, js=WRITE_URL_JS)
        backbone_box.input(lambda: False, inputs=None, outputs=[backbone_by_example], api_visibility="private",
                           queue=False)
        backbone_box.input(on_backbone_change, inputs=[backbone_box, method_box, layer_box],
                           outputs=[layer_box, class_box, method_box, method_md, backbone_md],
                           api_visibility="private").then(
            run_explain_top1, inputs=top1_inputs, outputs=top1_outputs,
            api_visibility="private", concurrency_limit=None).then(
            None, inputs=url_inputs, js=WRITE_URL_JS)
        method_box.input(on_method_change, inputs=[backbone_box, method_box, layer_box, sign_box, *option_boxes],
                         outputs=[layer_box, method_md, sign_box, *option_boxes], api_visibility="private").then(
            run_explain, inputs=explain_inputs, outputs=outputs, api_visibility="private",
            concurrency_limit=None).then(None, inputs=url_inputs, js=WRITE_URL_JS)
        gr.on([colormap_box.input, opacity_box.release, boxes_box.input, sign_box.input], restyle,
              inputs=[result_key, colormap_box, opacity_box, boxes_box, sign_box],
              outputs=[slider, heatmap_img, download_overlay, download_npy, download_png],
              api_visibility="private", concurrency_limit=4).then(None, inputs=url_inputs, js=WRITE_URL_JS)
        top5.select(on_prediction_click, inputs=None, outputs=[class_box], api_visibility="private", queue=False).then(
            run_explain, inputs=explain_inputs, outputs=outputs, api_visibility="private",
            concurrency_limit=None).then(None, inputs=url_inputs, js=WRITE_URL_JS)
        steps_button.click(run_steps, inputs=[image, backbone_box, layer_box, class_box, colormap_box],
                           outputs=[steps_gallery, steps_md], api_visibility="private", concurrency_limit=None)
        compare_button.click(run_compare, inputs=[image, backbone_box, layer_box, class_box, compare_methods_box,
                                                  faith_box, colormap_box],
                             outputs=[compare_gallery, compare_md, deletion_plot, insertion_plot],
                             api_name="compare", concurrency_limit=None)
        sweep_button.click(run_sweep, inputs=[image, backbone_box, sweep_method, class_box, sweep_count, colormap_box],
                           outputs=[sweep_gallery, sweep_md], api_name="layer_sweep", concurrency_limit=None)
        sanity_button.click(run_sanity, inputs=[image, backbone_box, class_box, sanity_methods_box, sanity_steps,
                                                colormap_box],
                            outputs=[sanity_gallery, sanity_md], api_name="sanity_check", concurrency_limit=None)
        backbone_box.change(on_backbone_tabs, inputs=[backbone_box, compare_methods_box, sanity_methods_box],
                            outputs=[compare_methods_box, sanity_methods_box, sweep_method], api_visibility="private",
                            queue=False)
        gr.on([backbone_box.change, method_box.change, layer_box.change, *[box.change for box in option_boxes]],
              describe_cost, inputs=[backbone_box, method_box, layer_box, *option_boxes], outputs=[cost_md],
              api_visibility="private", queue=False)
        demo.load(restore_from_url, inputs=None,
                  outputs=[backbone_box, layer_box, method_box, class_box, colormap_box, opacity_box, method_md,
                           backbone_md, pending_class, image, sign_box, *option_boxes], api_visibility="private")
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


QUEUE_SIZE = 64  # Gradio's queue: requests waiting for one of its worker threads (model work waits in camdemo.app.jobs)


def with_queue(demo: gr.Blocks, max_size: int = QUEUE_SIZE) -> gr.Blocks:
    """``demo.queue(max_size)``, with a message for people when the queue is full (Gradio's names its sizes)."""
    demo.queue(max_size=max_size)
    gradio_queue = demo._queue
    push = gradio_queue.push

    async def push_or_refuse(*args, **kwargs):
        accepted, detail, state = await push(*args, **kwargs)
        if state == "queue_full":
            detail = ("The server is very busy right now: too many requests are waiting. Please try again in a "
                      "minute.")
        return accepted, detail, state

    gradio_queue.push = push_or_refuse
    return demo


# On a phone the two columns stack; without this the result would come after every control. The controls
# column dissolves (display: contents) so the upload, the result and the settings can be ordered. Tables
# scroll sideways instead of wrapping one character per line.
PHONE_CSS = """
@media (max-width: 700px) {
  #camdemo-explain { flex-direction: column !important; }
  #camdemo-controls { display: contents !important; }
  #camdemo-results { order: 1; width: 100%; }
  #camdemo-settings { order: 2; width: 100%; }
}
.prose table { display: block; overflow-x: auto; max-width: 100%; }
.prose th, .prose td { white-space: nowrap; }
"""


def launch_options() -> dict:
    """Safe defaults: bounded uploads, no server files exposed beyond Gradio's own cache, errors shown."""
    return dict(max_file_size=MAX_FILE_SIZE, show_error=True, allowed_paths=[], ssr_mode=False,
                head=SELECT_ON_FOCUS + ENTER_SENDS_TEXT, css=PHONE_CSS, state_session_capacity=SESSION_CAPACITY,
                run_history=False,  # no uploads kept in shared classroom browsers
                app_kwargs=serving.app_kwargs(MAX_FILE_SIZE, pending=pending_write))  # camdemo.serving
