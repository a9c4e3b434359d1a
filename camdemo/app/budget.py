"""What one request may cost on this server: estimated before it runs (``camdemo.estimate_cost``), refused if
over the budget, and said on the page before anyone presses a button."""

from __future__ import annotations

from typing import Any, Sequence

import gradio as gr

import camdemo
from camdemo.app.options import options_for
from camdemo.app.own_models import Backbone, model_for, own_models
from camdemo.app.work import session_of
from camdemo import faithfulness_cost

# One request may take at most this long by its estimate (camdemo.cost), else it is refused before it
# starts; a running job is stopped at twice that (camdemo.app.jobs). On 2 CPU cores the slowest settings this
# allows took 22–31 s on EfficientNet-Lite2, measured (docs/serving.md, "What the server exposes").
BUDGET_SECONDS = 30.0


def check_budget(cost: camdemo.Cost) -> None:
    """Refuse, before any work, a request whose estimate is over ``BUDGET_SECONDS``."""
    if cost.seconds > BUDGET_SECONDS:
        raise gr.Error(f"These settings would take {cost.describe()}: more than this server allows for one request "
                       f"({BUDGET_SECONDS:.0f} s). Choose fewer steps or samples, a larger occlusion stride or fewer "
                       "Score-CAM channels.", print_exception=False)


def estimate(backbone: Backbone, method: str, layer: str | None = None,
             options: dict[str, Any] | None = None) -> camdemo.Cost:
    """``camdemo.estimate_cost``, with a visitor's own model timed when it was loaded (not the table's worst case)."""
    return _timed(camdemo.estimate_cost(backbone=backbone, method=method, layer=layer, options=options), backbone)


def _timed(cost: camdemo.Cost, backbone: Backbone) -> camdemo.Cost:
    model = own_models.find(backbone) if isinstance(backbone, camdemo.BackboneSpec) else None
    return cost if model is None else camdemo.Cost(cost.passes, cost.passes * model.pass_seconds)


def total_cost(backbone: Backbone, method_names: Sequence[str], times: int = 1,
               extra: camdemo.Cost | None = None) -> camdemo.Cost:
    """The cost of running each of ``method_names`` (default settings) ``times`` times, plus ``extra`` per
    method and time (e.g. measuring faithfulness); bad names raise later, in the computation itself."""
    passes = seconds = 0.0
    for name in method_names:
        try:
            cost = estimate(backbone, name)
        except camdemo.CamdemoError:
            continue  # the computation itself says what is wrong with it
        passes += cost.passes + (extra.passes if extra else 0.0)
        seconds += cost.seconds + (extra.seconds if extra else 0.0)
    return camdemo.Cost(passes * times, seconds * times)


def compare_cost(backbone: Backbone, method_names: Sequence[str], with_faithfulness: bool) -> camdemo.Cost:
    """The Compare tab's cost: each method once, and its faithfulness if asked for."""
    extra = _timed(faithfulness_cost(backbone=backbone), backbone) if with_faithfulness else None
    return total_cost(backbone, method_names, extra=extra)


def page_cost(request: gr.Request, backbone: str, method: str, layer: str | None, *option_values: Any) -> str:
    """``describe_cost`` for the page that sent ``request`` (its own model, if it chose it)."""
    try:
        chosen = model_for(backbone, session_of(request))
    except camdemo.CamdemoError as error:
        return f"⚠️ {error}"
    return describe_cost(chosen, method, layer, *option_values)


def describe_cost(backbone: Backbone, method: str, layer: str | None, *option_values: Any) -> str:
    """The cost line shown above the Explain button, before anything runs."""
    try:
        cost = estimate(backbone, method, layer or None, options_for(method, list(option_values)))
    except camdemo.CamdemoError as error:
        return f"⚠️ {error}"
    if cost.seconds > BUDGET_SECONDS:
        return (f"⚠️ **Cost:** {cost.describe()}: more than this server allows for one request "
                f"({BUDGET_SECONDS:.0f} s). Choose fewer steps or samples.")
    kind = "one pass of the network" if cost.single_pass else "a slow method: a progress bar follows it"
    return f"**Cost:** {cost.describe()} ({kind})."
