"""What the page offers and says, as plain values: choice lists, markdown texts and the top-5 label dict.

Nothing here imports Gradio, so a notebook or a test can call these as they are. Every rule (which methods
apply to a backbone, CAM's fixed layer, the default layer, the state of the weights) is read from the public
catalog: ``camdemo.backbones()``, ``camdemo.layers()``, ``camdemo.methods()``.
"""

from __future__ import annotations

import camdemo
from camdemo import BackboneInfo
from camdemo.drawing.overlay import COLORMAPS, COLOR_BLIND_SAFE

Backbone = str | camdemo.BackboneSpec  # a backbone's name, or a visitor's own model (camdemo.app.own_models)
AUTO_CLASS = "auto"  # the class list's "Top-1 prediction (automatic)" entry
NO_CONTRAST = "none"  # the "rather than" list's "no contrast" entry
DIRECTIONS = [("What raises the score (evidence for)", "up"), ("What lowers the score (evidence against)", "down")]

_WEIGHTS_LABEL = {"ready": "offline", "missing": "downloads weights", "damaged": "weights damaged"}


# --- the catalog, looked up by name -------------------------------------------------------------------


def backbone_info(backbone: Backbone) -> BackboneInfo:
    """The catalog's entry for ``backbone``: title, input size and the state of its weights (a visitor's own model,
    a spec, is here and ready)."""
    if isinstance(backbone, camdemo.BackboneSpec):
        return BackboneInfo(backbone.name, backbone.title, backbone.input_size, True, backbone.note,
                            len(backbone.categories), weights_state="ready")
    infos = {info.name: info for info in camdemo.backbones()}
    if backbone not in infos:
        raise camdemo.CamdemoError(f"Unknown backbone '{backbone}'. Choose one of: {', '.join(infos)}.")
    return infos[backbone]


def method_info(backbone: Backbone, method: str) -> camdemo.MethodInfo:
    """The catalog's entry for ``method`` on ``backbone`` (``KeyError`` for a name that is no method)."""
    return {info.name: info for info in camdemo.methods(backbone)}[method]


def usable_method(backbone: Backbone, method: str | None) -> str:
    """``method`` if it applies to ``backbone``, else the default method (which applies to every backbone)."""
    available = {info.name for info in camdemo.methods(backbone) if info.available}
    return method if method in available else camdemo.DEFAULT_METHOD


def usable_layer(backbone: Backbone, layer: str | None) -> str | None:
    """``layer`` if it is one of ``backbone``'s listed layers, else None (the engine's default)."""
    return layer if layer in {info.name for info in camdemo.layers(backbone)} else None


def default_layer(backbone: Backbone, method: str) -> str:
    """The layer a method starts at: its fixed layer (CAM), else the backbone's default (listed first)."""
    return method_info(backbone, method).fixed_layer or camdemo.layers(backbone)[0].name


def layer_is_choosable(info: camdemo.MethodInfo) -> bool:
    """Whether a person may pick the layer: the method uses one and it is not fixed (CAM's is)."""
    return info.uses_layer and not info.fixed_layer


# --- choice lists --------------------------------------------------------------------------------------


def backbone_choices() -> list[tuple[str, str]]:
    """(label, name) of every backbone of photos, the label saying whether it works offline (models of matrices
    and signals are in their own tab)."""
    return [(f"{info.title} ({_WEIGHTS_LABEL[info.weights_state]})", info.name) for info in camdemo.backbones()
            if info.data_shape is None]


def layer_choices(backbone: Backbone) -> list[tuple[str, str]]:
    return [(info.label, info.name) for info in camdemo.layers(backbone)]


def contrast_choices(backbone: Backbone) -> list[tuple[str, str]]:
    """The "rather than" list: no contrast, then every class of ``backbone`` (empty for binary and regression
    outputs, where a contrast of two classes means nothing)."""
    if isinstance(backbone, camdemo.BackboneSpec) and backbone.output_kind in ("binary", "regression"):
        return [("No contrast (not for this kind of output)", NO_CONTRAST)]
    return [("No contrast: the class alone", NO_CONTRAST)] + class_choices(backbone)[1:]


def class_choices(backbone: Backbone) -> list[tuple[str, str]]:
    """"Top-1 (automatic)", then every class of ``backbone`` by index: searchable by name or number.

    The list changes only with the backbone; the top-5 of each result are in the predictions panel,
    where clicking one explains it.
    """
    labels = camdemo.class_names(backbone)
    return [("Top-1 prediction (automatic)", AUTO_CLASS)] + [(f"{label} · {index}", str(index))
                                                              for index, label in enumerate(labels)]


def by_group(infos: list[camdemo.MethodInfo]) -> list[camdemo.MethodInfo]:
    """``infos`` ordered by group (``camdemo.METHOD_GROUPS``' order), in catalog order within a group."""
    order = list(camdemo.METHOD_GROUPS)
    return sorted(infos, key=lambda info: order.index(info.group))


def method_choices(backbone: Backbone) -> list[tuple[str, str]]:
    """("Title · group", name) of every method, grouped, the ones that do not apply to ``backbone`` included
    (their help says why)."""
    return [(f"{info.title} · {info.group}", info.name) for info in by_group(camdemo.methods(backbone))]


def method_checkboxes(backbone: Backbone) -> list[tuple[str, str]]:
    """(title, name) of every method that applies to ``backbone``."""
    return [(info.title, info.name) for info in camdemo.methods(backbone) if info.available]


def sweep_choices(backbone: Backbone) -> list[tuple[str, str]]:
    """The methods a layer sweep can use on ``backbone``: those that work at any layer."""
    return [(info.title, info.name) for info in camdemo.methods(backbone)
            if info.available and layer_is_choosable(info)]


def still_available(backbone: Backbone, chosen: list[str] | None) -> list[str]:
    """The ticked methods that apply to ``backbone``, in their order."""
    available = {name for _, name in method_checkboxes(backbone)}
    return [name for name in chosen or [] if name in available]


def colormap_choices() -> list[tuple[str, str]]:
    return [(f"{name}{' (color-blind safe)' if name in COLOR_BLIND_SAFE else ''}", name) for name in COLORMAPS]


# --- texts ---------------------------------------------------------------------------------------------


def method_help(backbone: Backbone, method: str) -> str:
    """Markdown: the method's title, summary and paper, its fixed layer, and why it does not apply if it does not."""
    info, title = method_info(backbone, method), backbone_info(backbone).title
    text = (f"**{info.title}.** {info.summary}\n\n*Group:* {info.group}: {camdemo.METHOD_GROUPS[info.group]}"
            f"\n\n*Paper:* {info.paper}")
    if info.fixed_layer:
        text += f"\n\nFor {title}, CAM is computed at layer `{info.fixed_layer}`."
    if not info.available:
        text = f"⚠️ **{info.title} is not available for {title}.** {info.reason}\n\n" + text
    return text


def backbone_status(backbone: Backbone) -> str:
    """Markdown: the backbone's input size, the state of its weights and the methods that do not apply."""
    info = backbone_info(backbone)
    unavailable = [f"{m.title} — {m.reason}" for m in camdemo.methods(backbone) if not m.available]
    ready = {"ready": "ready offline",
             "missing": "weights not on this machine yet: they download on first use (needs internet)",
             }.get(info.weights_state, f"weights damaged: {info.repair}")
    text = f"**{info.title}** · input {info.input_size}×{info.input_size} · {ready}."
    if unavailable:
        text += "\n\nNot available here: " + "; ".join(unavailable)
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


def label_dict(explanation: camdemo.Explanation) -> dict[str, float] | None:
    """The top-5 as ``gr.Label`` shows them: "tiger cat (282)" → probability (softmax; for a multi-label or binary
    model a sigmoid each). None for a regression, which has values, not probabilities (see ``outputs_text``)."""
    if explanation.output_kind == "regression":
        return None
    return {f"{p.label} ({p.index})": p.probability for p in explanation.predictions}


def outputs_text(explanation: camdemo.Explanation) -> str:
    """Markdown: how to read the predictions of a model whose outputs are not exclusive classes ("" otherwise)."""
    kind = explanation.output_kind
    if kind == "multilabel":
        return "The predictions are independent probabilities (a sigmoid per label): they need not add up to 1."
    if kind == "binary":
        return "The predictions are the positive output's probability (a sigmoid of its logit) and its complement."
    if kind == "regression":
        rows = [f"| {p.label} ({p.index}) | {p.output:.4g} |" for p in explanation.predictions]
        return "\n".join(["The model's outputs (a regression: values, not probabilities):", "",
                          "| output | value |", "| --- | ---: |", *rows])
    return ""


def prediction_class(label: str) -> str | None:
    """The class index in a top-5 label ("tiger cat (282)" → "282"), or None if it holds none."""
    index = label.rsplit("(", 1)[-1].rstrip(")")
    return index if index.isdigit() else None
