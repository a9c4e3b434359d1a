"""The Compare and Sanity check tabs: galleries and tables built from ``camdemo.compare_methods``,
``camdemo.layer_sweep`` and ``camdemo.cascading_randomization``. Those compute maps; the pictures are drawn
here, in the tab's colormap."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

import camdemo
from camdemo import Cell, SanityStep, cascading_randomization, compare_methods, layer_sweep, most_faithful
from camdemo.drawing.overlay import blend, check_style, draw_boxes
from camdemo.app.views import Backbone

MAP_BOX = (255, 0, 255)
TITLES = {info.name: info.title for info in camdemo.methods()}
COMPARE_HELP = """Every map explains **the same class** and is drawn with the same colormap on the same 0–1 scale
(each map divided by its own maximum: methods measure different things, so only the pattern is comparable).
The magenta box surrounds the map's largest region above 20% of its maximum.

**Faithfulness** asks whether the map points at what the *model* uses. *Deletion*: blacken pixels in the map's
order, most important first, and watch the class probability; a faithful map makes it fall fast (**low** area
under the curve). *Insertion*: start from a blurred image and restore pixels in the map's order; it should rise
fast (**high** area). *Average drop*: the probability lost when the model sees only the highlighted regions
(image × map; lower is better); *increase* marks maps whose highlighted regions alone raise it."""

SANITY_HELP = """**Sanity check** (Adebayo et al., NeurIPS 2018). If a map explains the *model*, destroying the model
must change the map. Each row re-initializes more layers with random weights, from the classifier down to the
first layer, and shows every method's map again. The number is the Spearman rank correlation with the trained
model's map (1 = same ranking of regions, 0 = unrelated). A method that keeps a high correlation after the
classifier is random is showing the image's edges, not what the network learned: Guided Backpropagation is the
known case. The trained model that serves the app is never touched; the check runs on a copy."""


def _tile(cell_rgb: np.ndarray, side: int = 320) -> np.ndarray:
    scale = side / max(cell_rgb.shape[:2])
    if scale < 1:
        cell_rgb = cv2.resize(cell_rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cell_rgb


def cell_picture(cell: Cell, colormap: str) -> np.ndarray:
    """The cell's map drawn over the image in the grid's ``colormap``, with its map box, shrunk for the grid."""
    overlay = cell.explanation.restyled(colormap=colormap).overlay  # the network does not run again
    return _tile(draw_boxes(overlay, [(cell.box, "", MAP_BOX)]))


def cell_caption(cell: Cell) -> str:
    text = f"{cell.title} · {cell.seconds * 1000:.0f} ms"
    if cell.faithfulness is not None:
        f = cell.faithfulness
        text += f" · deletion {f.deletion_auc:.3f} ↓ · insertion {f.insertion_auc:.3f} ↑"
    return text


def compare_table(cells: list[Cell]) -> str:
    """Markdown: each method's time and faithfulness, with the best values in bold."""
    if not cells:
        return ""
    explanation = cells[0].explanation
    head = (f"Class **{explanation.class_label}** ({explanation.class_index}), p = {explanation.class_probability:.3f}."
            "\n\n")
    rows = ["| method | time | deletion AUC ↓ | insertion AUC ↑ | average drop ↓ | increase | box (x0, y0, x1, y1) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    best = most_faithful(cells)
    for cell in cells:
        f = cell.faithfulness
        if f is None:
            metrics = "| – | – | – | –"
        else:
            deletion = f"{f.deletion_auc:.3f}"
            insertion = f"{f.insertion_auc:.3f}"
            if best and cell is best[0]:
                deletion = f"**{deletion}**"
            if best and cell is best[1]:
                insertion = f"**{insertion}**"
            metrics = f"| {deletion} | {insertion} | {f.average_drop:.1%} | {'yes' if f.confidence_increase else 'no'}"
        rows.append(f"| {cell.title} | {cell.seconds * 1000:.0f} ms {metrics} | {cell.box} |")
    text = head + "\n".join(rows)
    if best:
        text += (f"\n\nMost faithful here: **{best[0].title}** by deletion, **{best[1].title}** by insertion. "
                 "One image is an anecdote: the ranking changes from image to image.")
    return text


def curve_frames(cells: list[Cell]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-format tables for the deletion and insertion plots: fraction, probability, method."""
    frames: dict[str, list[pd.DataFrame]] = {"deletion": [], "insertion": []}
    for cell in cells:
        if cell.faithfulness is None:
            continue
        curves = cell.faithfulness.curves
        for name in frames:
            frames[name].append(pd.DataFrame({"fraction of pixels": curves.fractions,
                                              "class probability": getattr(curves, name), "method": cell.title}))
    empty = pd.DataFrame({"fraction of pixels": [], "class probability": [], "method": []})
    return tuple(pd.concat(parts, ignore_index=True) if parts else empty for parts in frames.values())


def compare(rgb: np.ndarray, backbone: Backbone, layer: str | None, class_index: int | None, method_names: list[str],
            with_faithfulness: bool, colormap: str, progress=None):
    check_style(colormap)  # a bad colormap fails before the maps are computed, not after
    cells = compare_methods(rgb, backbone=backbone, methods=method_names, layer=layer, class_index=class_index,
                            with_faithfulness=with_faithfulness, progress=progress)
    deletion, insertion = curve_frames(cells)
    return [(cell_picture(c, colormap), cell_caption(c)) for c in cells], compare_table(cells), deletion, insertion


def sweep(rgb: np.ndarray, backbone: Backbone, method: str, class_index: int | None, count: int, colormap: str,
          progress=None):
    check_style(colormap)
    cells = layer_sweep(rgb, backbone=backbone, method=method, class_index=class_index, count=int(count),
                        progress=progress)
    shapes = ", ".join(f"`{c.explanation.layer}` {c.explanation.raw_map.shape[0]}×{c.explanation.raw_map.shape[1]}"
                       for c in cells)
    text = (f"From early to late layers: {shapes}. Early layers see small patches (edges, textures): fine but "
            "not class-specific maps. Late layers see whole objects: coarse but semantic maps.")
    return [(cell_picture(c, colormap), cell_caption(c)) for c in cells], text


def sanity_table(steps: list[SanityStep]) -> str:
    names = list(steps[0].explanations)
    titles = [TITLES[name] for name in names]
    rows = ["| randomized layers | " + " | ".join(titles) + " |", "| --- |" + " --- |" * len(names)]
    for step in steps:
        cells = []
        for name in names:
            value = step.spearman[name]
            cells.append(f"**{value:.2f}** ⚠️" if step.randomized and value > 0.5 else f"{value:.2f}")
        rows.append(f"| {step.label} | " + " | ".join(cells) + " |")
    return ("\n".join(rows) + "\n\n⚠️ marks a map that still ranks regions much like the trained model's "
            "(Spearman > 0.5) although those layers are random.")


def sanity(rgb: np.ndarray, backbone: Backbone, class_index: int | None, method_names: list[str], randomizations: int,
           colormap: str, progress=None):
    results = cascading_randomization(rgb, backbone=backbone, methods=method_names, class_index=class_index,
                                      randomizations=int(randomizations), progress=progress)
    items = []
    for step in results:
        for name, explanation in step.explanations.items():
            picture = _tile(blend(explanation.image, explanation.heatmap, colormap, 0.6), 240)
            caption = f"{step.label} · {TITLES[name]} · ρ = {step.spearman[name]:.2f}"
            items.append((picture, caption))
    return items, sanity_table(results)
