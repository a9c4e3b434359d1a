"""Checking what a visitor sent. The page sends names from its lists, but a raw API call can send anything:
every value that is not what the page would send gets a sentence, never Python's own error text."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator

import gradio as gr

import camdemo
from camdemo.app.classes import resolve_class
from camdemo.app.views import AUTO_CLASS, backbone_info

NO_IMAGE = "Upload an image (or click an example) first."
NO_IMAGE_FOR_TAB = "Upload an image (or click an example) on the Explain tab first."


def message(error: camdemo.CamdemoError) -> gr.Error:
    """camdemo's message for people, as Gradio shows it (without a traceback in the log)."""
    return gr.Error(str(error), print_exception=False)


@contextmanager
def explained_safely(what: str) -> Iterator[None]:
    """Inside the block, camdemo's refusals become their messages, Gradio's messages pass, and anything else is
    logged and becomes a sentence about ``what`` ("this image", "this file"): the app keeps serving."""
    try:
        yield
    except camdemo.CamdemoError as error:
        raise message(error) from None
    except gr.Error:
        raise
    except Exception:  # keep serving; the log has the details
        logging.getLogger("camdemo.app").exception("explaining %s failed", what)
        raise gr.Error(f"Something went wrong while explaining {what}. Please try again or choose other "
                       "settings.") from None


def checked_name(value: Any, what: str) -> str | None:
    """A layer or class name from a visitor: a string (or nothing), else a message (a raw call can send anything)."""
    if value is None or isinstance(value, str):
        return value
    raise gr.Error(f"The {what} must be chosen from the list.", print_exception=False)


def whole_number(value: Any, low: int, high: int, what: str) -> int:
    """A count from a slider, checked: a raw call may send NaN or a string where the page sends a number."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not low <= number <= high:
        raise gr.Error(f"The number of {what} must be a whole number from {low} to {high}.", print_exception=False)
    return number


def method_list(method_names: Any, what: str) -> list[str]:
    """The ticked methods, each once; a message when there are none (or a raw call sent something else)."""
    if not method_names or not isinstance(method_names, (list, tuple)) \
            or not all(isinstance(name, str) for name in method_names):
        raise gr.Error(f"Tick at least one method to {what}.", print_exception=False)
    return list(dict.fromkeys(method_names))


def class_of(class_choice: str | None, backbone: str | camdemo.BackboneSpec) -> int | None:
    """The class box's value as a class index of ``backbone``; None for the automatic top-1.

    A class index, a list entry or a typed name (best match: ``camdemo.app.classes``) are all understood.
    """
    if class_choice in (None, "", AUTO_CLASS):
        return None
    try:
        return resolve_class(class_choice, camdemo.class_names(backbone), backbone_info(backbone).title)
    except camdemo.CamdemoError as error:
        raise message(error) from None


class NumberSlider(gr.Slider):
    """``gr.Slider`` that answers a value that is no number (a raw API call may send text) with a sentence,
    not Gradio's "Could not preprocess input component" report. ``is_template``: Gradio's slider frontend."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        if payload is not None and (isinstance(payload, bool) or not isinstance(payload, (int, float))):
            raise gr.Error(f"'{self.label}' must be a number from {self.minimum:g} to {self.maximum:g}.",
                           print_exception=False)
        return None if payload is None else super().preprocess(payload)


class LayerCheckboxes(gr.CheckboxGroup):
    """``gr.CheckboxGroup`` of layer names that passes any names on: the page's choices are the first backbone's,
    a raw API call may name another backbone's layers, and camdemo itself says which names are wrong."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return list(payload) if isinstance(payload, (list, tuple)) else payload
