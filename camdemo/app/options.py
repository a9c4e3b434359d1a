"""The per-method settings in the app (Integrated Gradients' steps, SmoothGrad's samples, …).

Each control belongs to one method; only the chosen method's controls are shown, and they are
turned into that method's ``options`` dict for ``camdemo.explain``. Defaults come from the
methods themselves, so the app and the Python API agree.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

import camdemo
from camdemo.explainers import METHODS
from camdemo.explainers.input_gradients import BASELINES
from camdemo.drawing.overlay import DEFAULT_SIGN, SIGNS

SIGN_HELP = ("Signed maps (CAM, Grad-CAM, XGrad-CAM, HiResCAM, Integrated Gradients, Input × Gradient, occlusion) "
             "separate evidence *for* the class from evidence *against* it. 'negative' is Grad-CAM's counterfactual "
             "explanation: what would make the network more sure if it were removed. 'both' uses a diverging map: "
             "red for, blue against, white neutral.")

_DEFAULTS = {name: method.option_defaults for name, method in METHODS.items()}

# (method, option, label, kind, extra) in the order of the app's inputs
CONTROLS: list[tuple[str, str, str, str, Any]] = [
    ("integrated_gradients", "steps", "IG: integration steps (doubled while the sum is off by > 1%)", "slider", (8, 512, 8)),
    ("integrated_gradients", "baseline", "IG: baseline image", "dropdown", list(BASELINES)),
    ("smoothgrad", "base", "SmoothGrad: method to smooth", "dropdown",
     ["saliency", "input_x_gradient", "integrated_gradients", "guided_backprop"]),
    ("smoothgrad", "samples", "SmoothGrad: noisy samples", "slider", (1, 100, 1)),
    ("smoothgrad", "noise", "SmoothGrad: noise level (fraction of the input range)", "slider", (0.0, 0.5, 0.01)),
    ("occlusion", "patch", "Occlusion: patch size (model-input pixels)", "slider", (8, 112, 4)),
    ("occlusion", "stride", "Occlusion: stride", "slider", (4, 112, 4)),
    ("scorecam", "channels", "Score-CAM: channels used (0 = all, as in the paper; fewer = faster)", "slider",
     (0, 2048, 16)),
]


def build_controls() -> tuple[gr.Radio, list[gr.components.Component]]:
    """The sign selector and one control per method option (hidden until its method is chosen)."""
    sign = gr.Radio(list(SIGNS), value=DEFAULT_SIGN, label="Which evidence to show", info=SIGN_HELP)
    controls: list[gr.components.Component] = []
    for method, option, label, kind, extra in CONTROLS:
        value = _DEFAULTS[method][option]
        if kind == "slider":
            low, high, step = extra
            controls.append(gr.Slider(low, high, value=value, step=step, label=label, visible=False))
        else:
            controls.append(gr.Dropdown(extra, value=value, label=label, visible=False))
    return sign, controls


def options_for(method: str, values: list[Any]) -> dict[str, Any]:
    """The chosen method's options from the controls' values (the others are ignored)."""
    return {option: value for (owner, option, *_), value in zip(CONTROLS, values)
            if owner == method and value is not None}


def sign_for(method: str, sign: str | None) -> str:
    """A method without a sign can only show its (positive) map. (An unknown method is left to ``explain``.)"""
    method_info = METHODS.get(method)
    return (sign or DEFAULT_SIGN) if method_info is None or method_info.signed else DEFAULT_SIGN


def control_updates(method: str, sign: str | None) -> list:
    """Show the chosen method's controls; the sign selector only works for signed methods."""
    signed = METHODS[method].signed if method in METHODS else False
    updates = [gr.update(value=sign_for(method, sign) if method in METHODS else DEFAULT_SIGN, interactive=signed,
                         info=SIGN_HELP if signed else "This method's map has no sign: it shows how much each region "
                                                        "matters, not in which direction.")]
    updates += [gr.update(visible=owner == method) for owner, *_ in CONTROLS]
    return updates


def describe_all(backbone: str) -> str:
    """A table of every method, grouped by family: what it needs and whether it applies to ``backbone``."""
    rows = ["| method | family | layer | sign | cost | available |", "| --- | --- | --- | --- | --- | --- |"]
    costs = {"cam": "1 forward", "eigencam": "1 forward", "scorecam": "1 forward per channel",
             "occlusion": "1 forward per patch", "smoothgrad": "1 backward per sample",
             "integrated_gradients": "1 backward per step", "guided_gradcam": "2 backward"}
    for info in camdemo.methods(backbone):
        layer = "fixed" if info.fixed_layer else ("any" if info.uses_layer else "input")
        rows.append(f"| {info.title} | {info.family} | {layer} | {'yes' if info.signed else 'no'} | "
                    f"{costs.get(info.name, '1 forward + 1 backward')} | "
                    f"{'✅' if info.available else '— ' + (info.reason or '')[:80]} |")
    return "\n".join(rows)
