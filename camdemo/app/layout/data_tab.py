"""The *Matrices & signals* tab: a .npy or .csv upload and a model of data with its method, layer and class on the
left; the data panel (data, signed map, row and column profiles), the predictions and the top rows and columns
on the right (on a phone the columns stack). Nothing has a fixed width."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from camdemo.app.data_views import (BASELINE_CHOICES, DATA_HELP, data_backbone_choices, data_class_choices,
                                    data_layer, data_layer_choices, data_method, data_method_choices, data_status)
from camdemo.app.examples import data_examples, truth_picture
from camdemo.app.handlers.data import describe_data_cost
from camdemo.app.inputs import NumberSlider
from camdemo.app.options import CATALOG
from camdemo.app.uploads import MAX_DATA_MB, DataUpload
from camdemo.app.views import AUTO_CLASS, layer_is_choosable, method_info

SHARE_HELP = ("Draw this map and the previous one on one color scale (−m to +m, m the larger of their largest "
              "|values|), the previous one shown under it, so that their colors can be compared.")
WINDOW, STRIDE = 4, 2  # occlusion's default window and stride, in data cells (the photo defaults, 32 and 16, are
# larger than many matrices)


@dataclass(frozen=True)
class DataTab:
    data_file: DataUpload
    data_backbone: gr.Dropdown
    data_status: gr.Markdown
    data_method: gr.Dropdown
    data_layer: gr.Dropdown
    data_class: gr.Dropdown
    ig_steps: gr.Slider
    ig_baseline: gr.Dropdown
    occlusion_window: gr.Slider
    occlusion_stride: gr.Slider
    share_scale: gr.Checkbox
    data_cost: gr.Markdown
    data_button: gr.Button
    data_panel: gr.Image
    previous_panel: gr.Image
    data_summary: gr.Markdown
    data_predictions: gr.Markdown
    data_profiles: gr.Dataframe
    download_map: gr.DownloadButton
    download_profiles: gr.DownloadButton
    data_result: gr.State  # the last result's key in ``recent_results`` (the next one may share its scale)


def build_data_tab() -> DataTab:
    """The tab, set up for the first registered model of data (or saying that there is none)."""
    choices = data_backbone_choices()
    backbone = choices[0][1] if choices else None
    method = data_method(backbone, "gradcam")
    layer = data_layer(backbone, method, None)
    with gr.Tab("Matrices & signals"):
        gr.Markdown(DATA_HELP)
        with gr.Row():
            with gr.Column(scale=2):
                data_file = DataUpload(label=f"Your matrix or signal (.npy or .csv, up to {MAX_DATA_MB} MB)",
                                       file_types=[".npy", ".csv"], type="filepath", file_count="single",
                                       elem_id="camdemo-data-file")
                backbone_box = gr.Dropdown(choices, value=backbone, label="Model (reads matrices or signals)")
                _examples(data_file, backbone_box)
                status = gr.Markdown(data_status(backbone))
                method_box = gr.Dropdown(data_method_choices(backbone), value=method, label="Method")
                info = method_info(backbone, method) if backbone and method else None
                layer_box = gr.Dropdown(data_layer_choices(backbone), value=layer, label="Target layer",
                                        interactive=info is not None and layer_is_choosable(info))
                class_box = gr.Dropdown(data_class_choices(backbone), value=AUTO_CLASS,
                                        label="Class (or output) to explain", filterable=True)
                settings = _method_settings(method)
                share = gr.Checkbox(value=False, label="Share one color scale with the previous map", info=SHARE_HELP)
                cost = gr.Markdown(describe_data_cost(backbone, method, layer))
                button = gr.Button("Explain", variant="primary")
            with gr.Column(scale=3):
                panel = gr.Image(label="Data · signed map with row and column profiles", type="filepath",
                                 interactive=False)
                previous = gr.Image(label="The previous map, on the same scale", type="filepath",
                                    interactive=False, visible=False)  # shown while the scale is shared
                summary = gr.Markdown()
                predictions = gr.Markdown()
                profiles = gr.Dataframe(headers=["where", "index", "sum of the map"], label="Top rows and columns",
                                        interactive=False, wrap=True)
                with gr.Row():
                    download_map = gr.DownloadButton("Map at the data's resolution (.npy)", size="sm")
                    download_profiles = gr.DownloadButton("Row and column sums (.csv)", size="sm")
        result = gr.State(None)
    return DataTab(data_file, backbone_box, status, method_box, layer_box, class_box, *settings, share, cost, button,
                   panel, previous, summary, predictions, profiles, download_map, download_profiles, result)


def _method_settings(method: str | None) -> tuple[gr.Slider, gr.Dropdown, gr.Slider, gr.Slider]:
    """Integrated Gradients' steps and baseline (in data units), occlusion's window and stride (in data cells);
    each shown only with its method."""
    steps = next(option for option in CATALOG["integrated_gradients"].options if option.name == "steps")
    assert steps.low is not None and steps.high is not None
    ig = method == "integrated_gradients"
    return (NumberSlider(steps.low, steps.high, value=steps.default, step=1, label="Integrated Gradients: steps",
                         info=steps.help, visible=ig),
            gr.Dropdown(BASELINE_CHOICES, value="black", label="Integrated Gradients: baseline, in data units",
                        info="The constant the path starts from: every cell 0, 128/255 or 1.", visible=ig),
            NumberSlider(1, 256, value=WINDOW, step=1, label="Occlusion: window, in data cells",
                         info="The side of the square hidden (set to 128/255) at each position; a signal: the "
                              "samples hidden.", visible=method == "occlusion"),
            NumberSlider(1, 256, value=STRIDE, step=1, label="Occlusion: stride, in data cells",
                         info="How far the window moves (at most its size).", visible=method == "occlusion"))


def _examples(data_file: DataUpload, backbone_box: gr.Dropdown) -> None:
    """The bundled examples of registered models of data (``camdemo.app.examples.DATA_EXAMPLES``), if any, each
    with its ground truth drawn (the digit's true box, the beam's truly changed rows) shown when it is chosen."""
    examples = data_examples()
    if examples:
        truth = gr.Image(label="Ground truth of the example (the true box, or the rows that truly changed)",
                         interactive=False, height=240)
        gr.Examples([[path, backbone, truth_picture(path)] for path, backbone, _ in examples],
                    inputs=[data_file, backbone_box, truth],
                    example_labels=[caption for _, _, caption in examples], label="Examples")
