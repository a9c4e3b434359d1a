"""Visitors' own models on the server: each private to the page session that uploaded it, and bounded in number
and memory across sessions (least recently used first out, with a message to the visitor whose model went).

No Gradio here. The backbone list of the uploading page holds one extra entry, ``YOUR_MODEL``; ``model_for``
turns that name into the page's own ``camdemo.BackboneSpec`` and leaves every other name as it is, so the
handlers pass whichever it is to the public API.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
import camdemo

YOUR_MODEL = "your_model"  # the backbone list's value for the page's own model (never a built-in's name)
# At most this many visitors' models at a time and this many bytes of their weights in all (an ONNX file of
# the app's upload limit, 50 MB, becomes about 50 MB of weights, plus a transient copy while converting).
MAX_MODELS = 4
MAX_MODEL_BYTES = 400 * 2**20
MAX_LABELS = 100_000
NO_MODEL = ("No model of yours is loaded on this page. Upload an ONNX file under 'Your model' and press "
            "'Use this model' first.")
EVICTED = ("Your model was removed from this server to make room for other visitors' models (it keeps at most "
           f"{MAX_MODELS}). Upload it again under 'Your model' to go on.")

Backbone = str | camdemo.BackboneSpec  # a built-in backbone's name, or a visitor's own model


@dataclass(frozen=True)
class OwnModel:
    """One visitor's model: its spec, the bytes of its weights, and its measured seconds per pass."""

    spec: camdemo.BackboneSpec
    nbytes: int
    pass_seconds: float
    file_name: str


class OwnModels:
    """The models of the pages that uploaded one, by page session, least recently used first out."""

    def __init__(self, max_models: int = MAX_MODELS, max_bytes: int = MAX_MODEL_BYTES, remember: int = 4096):
        self.max_models, self.max_bytes, self.remember = max_models, max_bytes, remember
        self._models: OrderedDict[str, OwnModel] = OrderedDict()
        self._evicted: OrderedDict[str, None] = OrderedDict()  # sessions whose model went, to tell them why
        self._lock = threading.Lock()

    def put(self, session: str, model: OwnModel) -> list[str]:
        """Keep ``model`` as ``session``'s (replacing its earlier one); returns the sessions whose model was evicted
        to make room. ``CamdemoError`` if the model alone is over the memory bound."""
        if model.nbytes > self.max_bytes:
            raise camdemo.CamdemoError(f"This model's weights take {model.nbytes / 2**20:.0f} MB; this server keeps "
                                       f"at most {self.max_bytes / 2**20:.0f} MB of visitors' models.")
        evicted = []
        with self._lock:
            self._models.pop(session, None)
            self._evicted.pop(session, None)
            self._models[session] = model
            while len(self._models) > self.max_models or self.total_bytes > self.max_bytes:
                gone, _ = self._models.popitem(last=False)
                self._evicted[gone] = None
                evicted.append(gone)
            while len(self._evicted) > self.remember:
                self._evicted.popitem(last=False)
        return evicted

    def get(self, session: str) -> OwnModel:
        """``session``'s model (now the most recently used); ``CamdemoError`` saying it was evicted or never came."""
        with self._lock:
            model = self._models.get(session)
            if model is None:
                raise camdemo.CamdemoError(EVICTED if session in self._evicted else NO_MODEL)
            self._models.move_to_end(session)
            return model

    def find(self, spec: camdemo.BackboneSpec) -> OwnModel | None:
        """The kept model whose spec is ``spec`` (for its measured speed), if it is still kept."""
        with self._lock:
            return next((model for model in self._models.values() if model.spec is spec), None)

    def sessions(self) -> list[str]:
        with self._lock:
            return list(self._models)

    @property
    def total_bytes(self) -> int:
        return sum(model.nbytes for model in self._models.values())


own_models = OwnModels()


def model_for(backbone: str, session: str) -> Backbone:
    """What to pass to the public API for the backbone list's value: the page's own model for ``YOUR_MODEL``
    (``CamdemoError`` if it has none, or no longer), else the name as it is."""
    return own_models.get(session).spec if backbone == YOUR_MODEL else backbone


def module_bytes(module: object) -> int:
    """The bytes of a module's parameters and buffers."""
    tensors = [*module.parameters(), *module.buffers()]  # type: ignore[attr-defined]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def parse_labels(text: str, outputs: int | None = None) -> list[str]:
    """Class labels from a labels file: one per line, or JSON (a list, or an object index → label). ``CamdemoError``
    for anything else, or when their number is not the model's ``outputs``."""
    stripped = text.strip()
    labels: list[str]
    if stripped.startswith(("[", "{")):
        try:
            loaded = json.loads(stripped)
        except ValueError as error:
            raise camdemo.CamdemoError(f"The labels file looks like JSON but is not valid JSON: {error}.") from None
        if isinstance(loaded, list):
            labels = [str(label) for label in loaded]
        else:
            try:
                by_index = {int(key): str(value) for key, value in loaded.items()}
            except (TypeError, ValueError, AttributeError):
                raise camdemo.CamdemoError("A JSON labels file maps class indices (0, 1, ...) to labels, e.g. "
                                           '{"0": "cat", "1": "dog"}.') from None
            if sorted(by_index) != list(range(len(by_index))):
                raise camdemo.CamdemoError("The labels file's indices must be 0, 1, 2, ... with none missing.")
            labels = [by_index[index] for index in range(len(by_index))]
    else:
        labels = [line.strip() for line in stripped.splitlines() if line.strip()]
    labels = [_plain(label) for label in labels]
    if not labels or len(labels) > MAX_LABELS:
        raise camdemo.CamdemoError(f"The labels file must hold 1 to {MAX_LABELS:,} labels, one per line or as JSON.")
    if outputs is not None and len(labels) != outputs:
        raise camdemo.CamdemoError(f"The labels file has {len(labels)} labels and the model has {outputs} outputs.")
    return labels


def _plain(label: str) -> str:
    """A label as one short line of plain text: no line breaks or table bars (they would break the page's tables),
    at most 80 characters."""
    return " ".join(label.replace("|", "/").split())[:80] or "?"


def parse_numbers(text: str | None, what: str, channels: int) -> tuple[float, ...] | None:
    """"0.5, 0.5, 0.5" as numbers, one per channel (one number is repeated); None for an empty field."""
    if not text or not text.strip():
        return None
    try:
        values = tuple(float(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise camdemo.CamdemoError(f"The {what} must be numbers separated by commas, e.g. 0.5, 0.5, 0.5.") from None
    if len(values) == 1:
        values *= channels
    if len(values) != channels or not all(math.isfinite(value) for value in values):
        raise camdemo.CamdemoError(f"The {what} needs {channels} finite number(s), one per input channel.")
    return values


def preflight_findings(spec: camdemo.BackboneSpec) -> list[str]:
    """The pre-flight check's findings for a visitor's model, one sentence each (Markdown): the check's own
    findings (each naming its module: the CAM head or why there is none, ReLUs called as functions, layers the
    scores do not reach, ...) and which methods do not apply and why (``camdemo.methods(spec)``)."""
    report = camdemo.check_model(spec)  # run once when the model was wrapped: ``spec.report``
    unavailable = [f"**{info.title}** is not available: {info.reason}" for info in camdemo.methods(spec)
                   if not info.available]
    return [finding.text for finding in report.findings] + unavailable


def model_report(model: OwnModel) -> str:
    """Markdown for the 'Your model' panel: what was loaded, its layers, its classes and the pre-flight findings."""
    spec = model.spec
    layers = camdemo.layers(spec)
    kinds = {"softmax": "exclusive classes (softmax)", "multilabel": "independent labels (a sigmoid each)",
             "binary": "one logit, positive or negative (a sigmoid)", "regression": "real values (a regression)"}
    lines = [f"✅ **{spec.title}** is loaded for this page only: input {spec.channels}×{spec.input_size}×"
             f"{spec.input_size}, {len(spec.categories)} output(s) read as {kinds[spec.output_kind]}, "
             f"{model.nbytes / 2**20:.1f} MB of weights, about {1000 * model.pass_seconds:.0f} ms per pass here.",
             f"**Layers worth explaining** ({len(layers)}; the default first): " +
             ", ".join(f"`{info.label}`" for info in layers[:6]) + (" …" if len(layers) > 6 else ""),
             f"**CAM head:** {_head(spec)}."]
    findings = preflight_findings(spec)
    check = "every method applies." if not findings else "\n" + "\n".join(f"- {finding}" for finding in findings)
    return "\n\n".join(lines) + f"\n\n**Pre-flight check:** {check}"


def _head(spec: camdemo.BackboneSpec) -> str:
    head = spec.cam_head
    return f"`{head.layer}` → `{head.classifier}`" if head else "none found (CAM does not apply; the others do)"
