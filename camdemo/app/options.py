"""The per-method settings in the app (Integrated Gradients' steps, SmoothGrad's samples, …).

The controls are generated from each method's settings, declared once by the method and published by the
catalog (``camdemo.methods()[i].options``): a slider for a number, with the declared bounds, a dropdown
for a choice, a checkbox for a switch, the declared label and help. Only the chosen method's controls
are shown, and they are turned into that method's ``options`` dict for ``camdemo.explain``.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import gradio as gr

import camdemo
from camdemo.app.inputs import NumberSlider
from camdemo.drawing.overlay import DEFAULT_SIGN, SIGNS

SIGN_HELP = ("Signed maps (CAM, Grad-CAM, XGrad-CAM, HiResCAM, Integrated Gradients, Input × Gradient, occlusion, "
             "and SmoothGrad over a signed method) separate evidence *for* the class from evidence *against* it. "
             "'negative' is Grad-CAM's counterfactual explanation: what would make the network more sure if it were "
             "removed. 'both' uses a diverging map: red for, blue against, white neutral.")
UNSIGNED_HELP = "This method's map has no sign: it shows how much each region matters, not in which direction."

# The /explain endpoint takes the method settings as its last parameters, in this order (API users rely on it):
# these eight come first; any other setting the app shows follows, in the order of the method registry.
API_ORDER = (("integrated_gradients", "steps"), ("integrated_gradients", "baseline"), ("smoothgrad", "base"),
             ("smoothgrad", "samples"), ("smoothgrad", "noise"), ("occlusion", "patch"), ("occlusion", "stride"),
             ("scorecam", "channels"))


class AppControl(NamedTuple):
    """One control of the *Method settings* accordion: the method it belongs to and the declared setting."""

    method: str
    option: str
    declaration: camdemo.Option


# The methods' titles, settings and sign rules: the same for every backbone (camdemo.methods()).
CATALOG: dict[str, camdemo.MethodInfo] = {info.name: info for info in camdemo.methods()}


def app_controls() -> list[AppControl]:
    """Every setting the app shows (``Option.in_app``), in the /explain endpoint's order (``API_ORDER`` first)."""
    shown = {(name, option.name): option for name, info in CATALOG.items() for option in info.options
             if option.in_app}
    order = [key for key in API_ORDER if key in shown] + [key for key in shown if key not in API_ORDER]
    return [AppControl(method, option, shown[(method, option)]) for method, option in order]


CONTROLS: list[AppControl] = app_controls()


def control_for(control: AppControl) -> gr.components.Component:
    """The Gradio control of one declared setting (hidden until its method is chosen)."""
    option = control.declaration
    label = f"{CATALOG[control.method].title}: {option.label}"
    if option.kind == "bool":
        return gr.Checkbox(value=option.default, label=label, info=option.help, visible=False)
    if option.kind == "choice":
        return gr.Dropdown(list(option.choices), value=option.default, label=label, info=option.help, visible=False)
    assert option.low is not None and option.high is not None  # a setting the app shows has both (Option)
    return NumberSlider(option.low, option.high, value=option.default, step=option.slider_step, label=label,
                     info=option.help, visible=False)


def build_controls() -> tuple[gr.Radio, list[gr.components.Component]]:
    """The sign selector and one control per shown method setting. Inside a ``gr.Blocks``: settings that decide
    the sign (SmoothGrad's base) update the sign selector when they change."""
    sign = gr.Radio(list(SIGNS), value=DEFAULT_SIGN, label="Which evidence to show", info=SIGN_HELP)
    controls = [control_for(control) for control in CONTROLS]
    for name, info in CATALOG.items():
        mine = [box for control, box in zip(CONTROLS, controls) if control.method == name]
        deciding = [box for control, box in zip(CONTROLS, controls)
                    if control.method == name and control.option in info.sign_options]
        for box in deciding:
            on_input = box.input  # type: ignore[attr-defined]  # Gradio adds its event methods at run time
            on_input(lambda sign_value, *values, name=name: sign_update(name, sign_value, values_of(name, values)),
                     inputs=[sign, *mine], outputs=[sign], api_visibility="private", queue=False)
    return sign, controls


def values_of(method: str, values: Sequence[Any]) -> dict[str, Any]:
    """One method's options from the values of its own controls (in ``CONTROLS`` order)."""
    names = [control.option for control in CONTROLS if control.method == method]
    return {name: value for name, value in zip(names, values) if value is not None}


def options_for(method: str, values: list[Any]) -> dict[str, Any]:
    """The chosen method's options from the values of all controls (the others are ignored)."""
    return {control.option: value for control, value in zip(CONTROLS, values)
            if control.method == method and value is not None}


def is_signed(method: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether ``method``'s map has a sign with these options (defaults where they are not valid)."""
    try:
        return camdemo.is_signed(method, options)
    except camdemo.CamdemoError:  # a setting explain will refuse: say what the defaults give
        return camdemo.is_signed(method)


def sign_for(method: str, sign: str | None, options: Mapping[str, Any] | None = None) -> str:
    """A map without a sign (with these options) can only show its positive part. (An unknown method is left
    to ``explain``.)"""
    return (sign or DEFAULT_SIGN) if method not in CATALOG or is_signed(method, options) else DEFAULT_SIGN


def sign_update(method: str, sign: str | None, options: dict[str, Any] | None = None) -> dict:
    """The sign selector for ``method`` with ``options``: usable for a signed map, else fixed at positive."""
    signed = method in CATALOG and is_signed(method, options)
    return gr.update(value=(sign or DEFAULT_SIGN) if signed else DEFAULT_SIGN,
                     interactive=signed, info=SIGN_HELP if signed else UNSIGNED_HELP)


def control_updates(method: str, sign: str | None, values: Sequence[Any] = ()) -> list:
    """Show the chosen method's controls; the sign selector follows the method and its settings' ``values``
    (all controls' values, in ``CONTROLS`` order; none: the defaults)."""
    updates = [sign_update(method, sign, options_for(method, list(values)))]
    updates += [gr.update(visible=control.method == method) for control in CONTROLS]
    return updates


def describe_all(backbone: str) -> str:
    """A table of every method, by group: what it needs and whether it applies to ``backbone``; then what
    each group shows."""
    rows = ["| method | group | family | layer | sign | cost | available |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    order = list(camdemo.METHOD_GROUPS)
    for info in sorted(camdemo.methods(backbone), key=lambda info: order.index(info.group)):
        layer = "fixed" if info.fixed_layer else ("any" if info.uses_layer else "input")
        sign = "as wrapped" if info.sign_options else ("yes" if info.signed else "no")
        rows.append(f"| {info.title} | {info.group} | {info.family} | {layer} | {sign} | {info.cost} | "
                    f"{'✅' if info.available else '— ' + (info.reason or '')[:80]} |")
    rows.append("")
    rows += [f"- **{group}**: {sentence}" for group, sentence in camdemo.METHOD_GROUPS.items()]
    return "\n".join(rows)
