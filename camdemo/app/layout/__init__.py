"""The page's layout, one module per tab. Each tab is built by its own function, which returns a small
container of its components; ``camdemo.app.wiring`` connects them to the handlers."""

from __future__ import annotations

from typing import Iterable

import gradio as gr
from gradio.components import Component

from camdemo.app.views import method_checkboxes, still_available


def by_name(names: Iterable[str], *parts: object) -> list[Component]:
    """The components called ``names`` (a handler's named outputs, in order), found in the containers ``parts``."""
    found = []
    for name in names:
        owner = next((part for part in parts if hasattr(part, name)), None)
        if owner is None:
            raise AttributeError(f"No component called '{name}' in {', '.join(type(p).__name__ for p in parts)}.")
        found.append(getattr(owner, name))
    return found


def method_picker(backbone: str, defaults: Iterable[str], uses: str) -> gr.CheckboxGroup:
    """The Compare and Sanity tabs' choice of methods: those that apply to ``backbone``, ``defaults`` ticked;
    ``uses`` says which Explain-tab settings the tab takes along."""
    return gr.CheckboxGroup(method_checkboxes(backbone), value=still_available(backbone, list(defaults)),
                            label=f"Methods (uses the {uses} of the Explain tab)")
