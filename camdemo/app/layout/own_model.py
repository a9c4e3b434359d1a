"""The 'Your model' panel of the Explain tab: an ONNX file, an optional labels file and the preprocessing.

Pressing 'Use this model' converts the file for this page only (``camdemo.app.handlers.own_model``); the backbone
list then holds it, and every control of the tab (layers with shapes, classes, methods) follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from camdemo.app.handlers.own_model import MAX_ONNX_BYTES
from camdemo.app.uploads import FileUpload

PANEL_HELP = (
    f"Upload an image classifier exported to **ONNX** (at most {MAX_ONNX_BYTES // 2**20} MB; from PyTorch: "
    "`torch.onnx.export(model, example, 'model.onnx', dynamo=False, opset_version=17)`). It is converted to PyTorch "
    "on this server in a separate, time- and memory-limited process and kept **for this page only**: no other "
    "visitor can see or use it, and the server forgets it when it needs the room. Pickle files (.pt, .pth) are not "
    "accepted: loading them can run code. Leave a field empty to use what the model declares."
)
OUTPUT_KIND_CHOICES = [("Automatic (several outputs: exclusive classes)", "auto"),
                       ("Exclusive classes (softmax)", "softmax"), ("Independent labels (multi-label)", "multilabel"),
                       ("Binary (one logit)", "binary"), ("Regression (values)", "regression")]


@dataclass(frozen=True)
class OwnModelPanel:
    """What a visitor gives about their model, and what the page says back (the pre-flight findings)."""

    model_file: FileUpload
    labels_file: FileUpload
    input_size: gr.Number
    channels: gr.Radio
    mean: gr.Textbox
    std: gr.Textbox
    output_kind: gr.Radio
    load_button: gr.Button
    model_report: gr.Markdown  # fed by camdemo.app.own_models.model_report (the pre-flight findings among it)


def build_own_model_panel() -> OwnModelPanel:
    """The closed 'Your model' accordion, inside the current column."""
    with gr.Accordion("Your model (upload an ONNX file)", open=False):
        gr.Markdown(PANEL_HELP)
        with gr.Row():
            model_file = FileUpload(label="Model (.onnx)", file_types=[".onnx"], file_count="single", type="filepath")
            labels_file = FileUpload(label="Labels (optional: one per line, or JSON)", file_types=[".txt", ".json"],
                                     file_count="single", type="filepath")
        with gr.Row():
            input_size = gr.Number(value=0, precision=0, minimum=0, maximum=1024,
                                   label="Input size in pixels (0: the model's own, else 224)")
            channels = gr.Radio([("From the model", "auto"), ("RGB (3)", "3"), ("Gray (1)", "1")], value="auto",
                                label="Input channels")
        with gr.Row():
            mean = gr.Textbox(label="Mean per channel (empty: ImageNet's for RGB)", placeholder="0.485, 0.456, 0.406")
            std = gr.Textbox(label="Std per channel (empty: ImageNet's for RGB)", placeholder="0.229, 0.224, 0.225")
        output_kind = gr.Radio(OUTPUT_KIND_CHOICES, value="auto", label="What the outputs are")
        load_button = gr.Button("Use this model")
        model_report = gr.Markdown()
    return OwnModelPanel(model_file, labels_file, input_size, channels, mean, std, output_kind, load_button,
                         model_report)
