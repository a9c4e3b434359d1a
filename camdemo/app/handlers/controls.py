"""Controls that follow each other: a backbone brings its layers, classes and methods; a method its layer and
settings; a new image perhaps its backbone; a shared link its settings. No model runs here."""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr

import camdemo
from camdemo.app.examples import SHAPES, backbone_for_image
from camdemo.app.handlers.outputs import Update, unchanged
from camdemo.app.options import control_updates
from camdemo.app.own_models import model_for
from camdemo.app.share import settings_from_query
from camdemo.app.views import (AUTO_CLASS, NO_CONTRAST, backbone_status, class_choices, contrast_choices,
                               default_layer, layer_choices, layer_is_choosable, method_checkboxes, method_help,
                               method_info, still_available, sweep_choices, usable_layer, usable_method)
from camdemo.app.work import session_of


class BackboneChange(NamedTuple):
    """The Explain tab's controls for a newly chosen backbone."""

    layer: Update  # its layers, one chosen
    class_choice: Update  # its classes, the top-1 chosen
    method: str  # the chosen method if it applies, else the default (a plain value: see explain_and_show)
    method_help: str
    backbone_status: str
    versus: Update  # the classes to contrast with, none chosen


class ImageChange(NamedTuple):
    """A new image's backbone (if it calls for another one) and what follows from it."""

    backbone: str | Update
    layer: Update
    class_choice: Update
    method: str | Update
    method_help: str | Update
    backbone_status: str | Update
    versus: Update
    backbone_by_example: bool | Update  # whether an example, not the person, chose this backbone


class MethodChange(NamedTuple):
    """The layer box and the help for a newly chosen method (its sign and option controls follow them)."""

    layer: Update
    method_help: str


class RestoredSettings(NamedTuple):
    """A shared link's settings (its sign and option controls follow them)."""

    backbone: str | Update
    layer: Update
    method: str | Update
    class_choice: Update
    colormap: str | Update
    opacity: float | Update
    method_help: str | Update
    backbone_status: str | Update
    pending_class: str | None  # the link's class, for the first automatic run
    image: str | Update  # the link's bundled example, loaded last


class TabMethods(NamedTuple):
    """The Compare and Sanity tabs' method lists for a newly chosen backbone."""

    compare_methods: Update
    sanity_methods: Update
    sweep_method: Update


def on_backbone_change(backbone: str, method: str, layer: str | None = None,
                       request: gr.Request | None = None) -> BackboneChange:
    """Controls follow the backbone: its layers (keeping a valid choice), classes, methods and notes (the backbone
    ``your_model``: the page's own model, or a sentence saying why it is not there)."""
    try:
        chosen = model_for(backbone, session_of(request))
    except camdemo.CamdemoError as error:
        return BackboneChange(gr.skip(), gr.skip(), method, gr.skip(), f"⚠️ {error}", gr.skip())
    return _follow(chosen, method, layer)


def _follow(backbone: camdemo.BackboneSpec | str, method: str, layer: str | None) -> BackboneChange:
    method = usable_method(backbone, method)
    info = method_info(backbone, method)
    layer = info.fixed_layer or usable_layer(backbone, layer) or default_layer(backbone, method)
    return BackboneChange(gr.update(choices=layer_choices(backbone), value=layer, interactive=layer_is_choosable(info)),
                          gr.update(choices=class_choices(backbone), value=AUTO_CLASS),
                          method, method_help(backbone, method), backbone_status(backbone),
                          gr.update(choices=contrast_choices(backbone), value=NO_CONTRAST))


def on_method_change(backbone: str | camdemo.BackboneSpec, method: str, layer: str | None, sign: str | None = None,
                     *option_values: Any) -> tuple[Any, ...]:
    """The method's layer (its fixed one, or the current one) and help, then its sign and option controls (the
    sign follows the settings' ``option_values`` too: SmoothGrad's base decides whether its map has one)."""
    info = method_info(backbone, method)
    layer = layer if isinstance(layer, str) else None  # a raw call may send anything; the page sends a name
    # The layer list depends only on the backbone (on_backbone_change sends it): here only value and state.
    chosen = MethodChange(gr.update(value=info.fixed_layer or layer or default_layer(backbone, method),
                                    interactive=layer_is_choosable(info)),
                          method_help(backbone, method))
    return (*chosen, *control_updates(method, sign, option_values))


def on_page_method_change(request: gr.Request, backbone: str, method: str, layer: str | None, sign: str | None = None,
                          *option_values: Any) -> tuple[Any, ...]:
    """``on_method_change`` for the page that sent ``request`` (its own model, if it chose it)."""
    try:
        chosen = model_for(backbone, session_of(request))
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None
    return on_method_change(chosen, method, layer, sign, *option_values)


def on_image_change(image_path: str | None, backbone: str, method: str, layer: str | None,
                    chosen_by_example: bool = False, request: gr.Request | None = None) -> ImageChange:
    """Before a new image is explained: switch backbone if the image calls for it, and update the controls."""
    switch = backbone_for_image(image_path, backbone, bool(chosen_by_example))
    if switch is None:
        return unchanged(ImageChange)
    return ImageChange(switch, *on_backbone_change(switch, method, layer, request), switch == SHAPES)  # plain values


def restore_from_url(request: gr.Request) -> tuple[Any, ...] | Update:
    """Page load: apply the settings in the URL (a shared link); the example image, if any, loads last.

    Returns ``RestoredSettings``, then the sign and option controls (``camdemo.app.options.control_updates``).
    """
    settings = settings_from_query(dict(request.query_params) if request else {})
    if not settings:
        return gr.skip()  # every output as it is
    backbone = settings.get("backbone", camdemo.DEFAULT_BACKBONE)
    follows = on_backbone_change(backbone, settings.get("method", camdemo.DEFAULT_METHOD), settings.get("layer"))
    restored = RestoredSettings(backbone, follows.layer, follows.method,
                                gr.update(choices=class_choices(backbone), value=settings.get("class", AUTO_CLASS)),
                                settings.get("colormap", gr.skip()), settings.get("opacity", gr.skip()),
                                follows.method_help, follows.backbone_status, settings.get("class"),
                                settings.get("example", gr.skip()))
    return (*restored, *control_updates(follows.method, settings.get("sign")))


def on_backbone_tabs(backbone: str, compared: list[str] | None, checked: list[str] | None,
                     request: gr.Request | None = None) -> TabMethods:
    """The Compare and Sanity tabs offer only the methods that apply to the chosen backbone."""
    try:
        backbone = model_for(backbone, session_of(request))  # type: ignore[assignment]
    except camdemo.CamdemoError:
        return unchanged(TabMethods)
    choices = method_checkboxes(backbone)
    return TabMethods(gr.update(choices=choices, value=still_available(backbone, compared)),
                      gr.update(choices=choices, value=still_available(backbone, checked)),
                      gr.update(choices=sweep_choices(backbone), value=camdemo.DEFAULT_METHOD))


def backbone_chosen_by_person() -> bool:
    """The person picked a backbone: it was not switched by an example (see ``backbone_for_image``)."""
    return False
