"""The page's layout, one module per tab. Each tab is built by its own function, which returns a small
container of its components; ``camdemo.app.wiring`` connects them to the handlers."""

from __future__ import annotations

from typing import Iterable

from gradio.components import Component


def by_name(names: Iterable[str], *parts: object) -> list[Component]:
    """The components called ``names`` (a handler's named outputs, in order), found in the containers ``parts``."""
    found = []
    for name in names:
        owner = next((part for part in parts if hasattr(part, name)), None)
        if owner is None:
            raise AttributeError(f"No component called '{name}' in {', '.join(type(p).__name__ for p in parts)}.")
        found.append(getattr(owner, name))
    return found
