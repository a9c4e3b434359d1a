"""Which event runs which handler, with which inputs and outputs.

The rules every event of a kind shares are written once, in ``Wiring``: model work is not limited by Gradio's
workers (``concurrency_limit=None``; the lanes of ``camdemo.app.jobs`` limit it), only the seven documented
endpoints are on the API page, and every result is followed by writing the settings into the page URL.
Outputs are listed by the names of the handler's ``NamedTuple`` (``camdemo.app.layout.by_name``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import gradio as gr
from gradio.components import Component

from camdemo.app.budget import page_cost
from camdemo.app.handlers.analysis import (CompareOutputs, SanityOutputs, StepsOutputs, SweepOutputs, run_compare,
                                           run_sanity, run_steps, run_sweep)
from camdemo.app.handlers.data import (DataMethodChange, DataModelChange, DataOutputs, describe_data_cost,
                                       on_data_method_change, on_data_model_change, on_share_change, run_data)
from camdemo.app.handlers.controls import (BackboneChange, ImageChange, MethodChange, RestoredSettings, TabMethods,
                                           backbone_chosen_by_person, on_backbone_change, on_backbone_tabs,
                                           on_image_change, on_page_method_change, restore_from_url)
from camdemo.app.handlers.explain import (AutomaticOutputs, ExplainOutputs, RestyleOutputs, on_prediction_click,
                                          restyle, run_explain, run_explain_top1)
from camdemo.app.handlers.inside import (DreamOutputs, GalleryOutputs, InsideLayers, MaximizeOutputs,
                                         ReconstructOutputs, run_dream, run_maximize, run_reconstruct, show_backbone,
                                         stop_inside)
from camdemo.app.handlers.own_model import ModelLoaded, load_own_model
from camdemo.app.layout import by_name
from camdemo.app.layout.page import Page
from camdemo.app.share import WRITE_URL_JS

Listener = Callable[..., Any]  # an event (``button.click``), ``gr.on`` with its triggers, or a ``.then``


def _visibility(api_name: str | None) -> dict[str, str]:
    return {"api_name": api_name} if api_name else {"api_visibility": "private"}


class Wiring:
    """Connects one page's components to the handlers."""

    def __init__(self, page: Page):
        self.page = page
        self.controls, self.results, self.state = page.explain.controls, page.explain.results, page.state
        c = self.controls
        self.url_inputs = [c.backbone, c.layer, c.method, c.class_choice, c.colormap, c.opacity,
                           self.state.example_name, c.sign]  # the arguments of WRITE_URL_JS
        self.explain_inputs = [c.image, c.backbone, c.layer, c.method, c.class_choice, c.colormap, c.opacity,
                               c.show_boxes, c.sign, *c.options, c.direction, c.versus]  # run_explain's parameters
        self.automatic_inputs = [c.image, c.backbone, c.layer, c.method, c.colormap, c.opacity, c.show_boxes,
                                 self.state.pending_class, c.sign, *c.options, c.direction,
                                 c.versus]  # run_explain_top1's parameters

    def outputs(self, names: Sequence[str]) -> list[Component]:
        """The Explain tab's components called ``names``."""
        return by_name(names, self.controls, self.results, self.state)

    def model_event(self, listener: Listener, handler: Callable[..., Any], inputs: list[Component],
                    outputs: list[Component], api_name: str | None = None, write_url: bool = True) -> Any:
        """``handler`` runs model work: unlimited here (its lane limits it); then the URL follows the settings."""
        event = listener(handler, inputs=inputs, outputs=outputs, concurrency_limit=None, **_visibility(api_name))
        return self.write_url(event) if write_url else event

    def control_event(self, listener: Listener, handler: Callable[..., Any], inputs: list[Component] | None,
                      outputs: list[Component], queue: bool = False) -> Any:
        """``handler`` only updates controls: private, and by default answered at once, outside the queue."""
        return listener(handler, inputs=inputs, outputs=outputs, api_visibility="private", queue=queue)

    def write_url(self, event: Any) -> Any:
        """After ``event``: mirror the settings into the page URL, in the browser (a shared link)."""
        return event.then(None, inputs=self.url_inputs, js=WRITE_URL_JS)


def wire(demo: gr.Blocks, page: Page) -> None:
    """Every event of ``page`` (built inside ``demo``)."""
    wiring = Wiring(page)
    _explain_events(wiring)
    _automatic_runs(wiring)
    _explain_again(wiring)
    _analysis_events(wiring)
    _inside_events(wiring)
    _controls_follow(wiring)
    _data_events(wiring)
    _own_model_events(wiring)
    demo.load(restore_from_url, inputs=None,
              outputs=[*wiring.outputs(RestoredSettings._fields), wiring.controls.sign, *wiring.controls.options],
              api_visibility="private")


def _explain_events(w: Wiring) -> None:
    """Explain (the ``/explain`` API), and re-drawing the result in a new style."""
    c, explained = w.controls, w.outputs(ExplainOutputs._fields)
    w.model_event(functools.partial(gr.on, [c.explain_button.click, c.layer.input, c.class_choice.input]),
                  run_explain, w.explain_inputs, explained, api_name="explain")
    restyling = gr.on([c.colormap.input, c.opacity.release, c.show_boxes.input, c.sign.input], restyle,
                      inputs=[w.state.result_key, c.colormap, c.opacity, c.show_boxes, c.sign],
                      outputs=w.outputs(RestyleOutputs._fields), api_visibility="private",
                      concurrency_limit=4)  # drawing only, in Gradio's workers
    w.write_url(restyling)


def _automatic_runs(w: Wiring) -> None:
    """A new image or a new backbone: the controls follow, then the top-1 is explained."""
    c, automatic = w.controls, w.outputs(AutomaticOutputs._fields)
    image_changed = w.control_event(c.image.change, on_image_change,
                                    [c.image, c.backbone, c.method, c.layer, w.state.backbone_by_example],
                                    w.outputs(ImageChange._fields))
    w.model_event(image_changed.then, run_explain_top1, w.automatic_inputs, automatic)
    w.control_event(c.backbone.input, backbone_chosen_by_person, None, [w.state.backbone_by_example])
    backbone_changed = w.control_event(c.backbone.input, on_backbone_change, [c.backbone, c.method, c.layer],
                                       w.outputs(BackboneChange._fields), queue=True)
    w.model_event(backbone_changed.then, run_explain_top1, w.automatic_inputs, automatic)


def _explain_again(w: Wiring) -> None:
    """A new method, or a click on one of the top-5: the controls follow, then the result."""
    c, explained = w.controls, w.outputs(ExplainOutputs._fields)
    method_changed = w.control_event(c.method.input, on_page_method_change,
                                     [c.backbone, c.method, c.layer, c.sign, *c.options],
                                     [*w.outputs(MethodChange._fields), c.sign, *c.options], queue=True)
    w.model_event(method_changed.then, run_explain, w.explain_inputs, explained)
    clicked = w.control_event(w.results.top5.select, on_prediction_click, None, [c.class_choice])
    w.model_event(clicked.then, run_explain, w.explain_inputs, explained)


def _analysis_events(w: Wiring) -> None:
    """The steps view, and the Compare and Sanity check tabs (three of them on the API page)."""
    c, r, compare, sanity = w.controls, w.results, w.page.compare, w.page.sanity
    w.model_event(r.steps_button.click, run_steps, [c.image, c.backbone, c.layer, c.class_choice, c.colormap],
                  by_name(StepsOutputs._fields, r), write_url=False)
    w.model_event(compare.compare_button.click, run_compare,
                  [c.image, c.backbone, c.layer, c.class_choice, compare.compare_methods, compare.with_faithfulness,
                   c.colormap], by_name(CompareOutputs._fields, compare), api_name="compare", write_url=False)
    w.model_event(compare.sweep_button.click, run_sweep,
                  [c.image, c.backbone, compare.sweep_method, c.class_choice, compare.sweep_count, c.colormap],
                  by_name(SweepOutputs._fields, compare), api_name="layer_sweep", write_url=False)
    w.model_event(sanity.sanity_button.click, run_sanity,
                  [c.image, c.backbone, c.class_choice, sanity.sanity_methods, sanity.sanity_steps, c.colormap],
                  by_name(SanityOutputs._fields, sanity), api_name="sanity_check", write_url=False)


def _inside_events(w: Wiring) -> None:
    """The Inside the network tab: its gallery and layers follow the backbone; three runs (on the API page), each
    with a Stop button."""
    c, inside = w.controls, w.page.inside
    w.control_event(c.backbone.change, show_backbone, [c.backbone],
                    by_name([*GalleryOutputs._fields, *InsideLayers._fields], inside))
    w.model_event(inside.maximize_button.click, run_maximize,
                  [c.backbone, inside.maximize_layer, inside.maximize_channel, inside.maximize_neuron,
                   inside.maximize_steps], by_name(MaximizeOutputs._fields, inside), api_name="maximize",
                  write_url=False)
    w.model_event(inside.reconstruct_button.click, run_reconstruct,
                  [c.image, c.backbone, inside.reconstruct_layers, inside.reconstruct_steps],
                  by_name(ReconstructOutputs._fields, inside), api_name="reconstruct", write_url=False)
    w.model_event(inside.dream_button.click, run_dream,
                  [c.image, c.backbone, inside.dream_layer, inside.dream_octaves, inside.dream_steps],
                  by_name(DreamOutputs._fields, inside), api_name="dream", write_url=False)
    for stop in (inside.maximize_stop, inside.reconstruct_stop, inside.dream_stop):
        w.control_event(stop.click, stop_inside, None, [])


def _controls_follow(w: Wiring) -> None:
    """The other tabs' method lists follow the backbone; the cost line follows every setting it depends on."""
    c, compare, sanity = w.controls, w.page.compare, w.page.sanity
    w.control_event(c.backbone.change, on_backbone_tabs, [c.backbone, compare.compare_methods, sanity.sanity_methods],
                    by_name(TabMethods._fields, compare, sanity))
    w.control_event(functools.partial(gr.on, [c.backbone.change, c.method.change, c.layer.change,
                                              *[box.change for box in c.options]]),  # type: ignore[attr-defined]
                    page_cost, [c.backbone, c.method, c.layer, *c.options], [c.cost])


def _data_events(w: Wiring) -> None:
    """The Matrices & signals tab: explain (the ``/explain_data`` API); its controls follow the model and method."""
    d = w.page.data
    settings: list[Component] = [d.ig_steps, d.ig_baseline, d.occlusion_window, d.occlusion_stride]
    w.model_event(d.data_button.click, run_data,
                  [d.data_file, d.data_backbone, d.data_method, d.data_layer, d.data_class, *settings, d.share_scale,
                   d.data_result], by_name(DataOutputs._fields, d), api_name="explain_data", write_url=False)
    model_changed = w.control_event(d.data_backbone.change, on_data_model_change,
                                    [d.data_backbone, d.data_method, d.data_layer],
                                    by_name(DataModelChange._fields, d), queue=True)
    method_inputs = [d.data_backbone, d.data_method, d.data_layer, *settings]
    w.control_event(model_changed.then, on_data_method_change, method_inputs, by_name(DataMethodChange._fields, d))
    w.control_event(d.data_method.input, on_data_method_change, method_inputs, by_name(DataMethodChange._fields, d))
    w.control_event(d.share_scale.change, on_share_change, [d.share_scale], [d.previous_panel])
    w.control_event(functools.partial(gr.on, [d.data_layer.change,
                                              *[box.change for box in settings]]),  # type: ignore[attr-defined]
                    describe_data_cost, method_inputs, [d.data_cost])


def _own_model_events(w: Wiring) -> None:
    """'Your model': load the upload (the ``/load_model`` API), then the controls follow it and its top-1 is explained;
    a new direction or contrast class explains again."""
    c, panel = w.controls, w.controls.own_model
    loaded = w.model_event(panel.load_button.click, load_own_model,
                           [panel.model_file, panel.labels_file, panel.input_size, panel.channels, panel.mean,
                            panel.std, panel.output_kind], by_name(ModelLoaded._fields, c, panel),
                           api_name="load_model", write_url=False)
    followed = loaded.success(on_backbone_change, inputs=[c.backbone, c.method, c.layer],
                              outputs=w.outputs(BackboneChange._fields), api_visibility="private")
    w.model_event(followed.then, run_explain_top1, w.automatic_inputs, w.outputs(AutomaticOutputs._fields))
    w.model_event(functools.partial(gr.on, [c.direction.input, c.versus.input]), run_explain, w.explain_inputs,
                  w.outputs(ExplainOutputs._fields))
