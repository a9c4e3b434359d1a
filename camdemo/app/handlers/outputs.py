"""Named outputs: a handler returns a ``NamedTuple`` whose fields are named like the components they fill."""

from __future__ import annotations

from typing import Any, TypeVar

import gradio as gr

Update = dict[str, Any]  # gr.skip() or gr.update(...): leaves a component as it is, or changes its properties
Outputs = TypeVar("Outputs", bound=tuple)  # a NamedTuple class


def unchanged(outputs: type[Outputs]) -> Outputs:
    """Every output of ``outputs`` left as it is on the page."""
    fields: tuple[str, ...] = outputs._fields  # type: ignore[attr-defined]  # every NamedTuple has them
    return outputs(*(gr.skip() for _ in fields))
