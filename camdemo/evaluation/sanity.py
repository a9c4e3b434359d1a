"""The model-randomization sanity check (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

If a map explains the *model*, destroying the model's learned weights must change the map. The
cascading test re-initializes the network's layers from the top (the classifier) down, one more
group at each step, and compares each method's map with the map of the trained network by
Spearman rank correlation. A correlation that stays high means the method shows the image (its
edges), not what the network learned; Guided Backpropagation is the known case.

All of this happens on a deep copy of the model: the cached model that serves everyone else is
never modified (``tests/test_faithfulness.py`` checks its weights byte for byte).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from .. import catalog
from ..api import explain_on_model
from ..deprecation import keyword_settings
from ..devices import default_device
from ..explanation import Explanation
from ..images import ImageInput, load_image
from ..models import DEFAULT_BACKBONE, BackboneSpec, get_spec, load_model
from ..models.registry import model_device

DEFAULT_SANITY_METHODS = ("gradcam", "saliency", "guided_backprop", "guided_gradcam")
COMPARE_SIDE = 64  # maps are compared on a 64×64 grid: enough detail, cheap ranks


@dataclass(frozen=True)
class SanityStep:
    """One step of the cascade: which layers have random weights now, and each method's map and correlation."""

    label: str  # e.g. "trained", "classifier", "… down to blocks.12"
    randomized: tuple[str, ...]  # module names re-initialized so far
    explanations: dict[str, Explanation]  # by method name
    spearman: dict[str, float]  # by method name; 1.0 for the trained model


def parameter_groups(model: nn.Module) -> list[str]:
    """Names of the units to randomize, from the input to the output: top-level children that hold
    parameters, with sequential containers (stages of blocks) opened one level."""
    groups = []
    for name, child in model.named_children():
        if not any(True for _ in child.parameters()):
            continue
        if isinstance(child, nn.Sequential) and len(child) > 1 and all(
                any(True for _ in grandchild.parameters()) for grandchild in child):
            groups += [f"{name}.{sub}" for sub, _ in child.named_children()]
        else:
            groups.append(name)
    return groups


@keyword_settings(renamed={"steps": "randomizations"})
def cascade_plan(model: nn.Module, randomizations: int) -> list[list[str]]:
    """``randomizations`` cumulative sets of groups, top first: the first is the classifier alone, the last all
    groups (fewer when the model has fewer groups)."""
    top_down = parameter_groups(model)[::-1]
    if randomizations >= len(top_down):
        cuts = list(range(1, len(top_down) + 1))
    else:
        cuts = sorted(set(np.linspace(1, len(top_down), randomizations).round().astype(int).tolist()))
    return [top_down[:cut] for cut in cuts]


def reinitialize(module: nn.Module, seed: int) -> None:
    """Give every submodule with ``reset_parameters`` fresh random weights (its own default initialization)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (ties get their average rank); 0 if either is constant."""
    ra, rb = _ranks(a.ravel()), _ranks(b.ravel())
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def _small(heatmap: np.ndarray) -> np.ndarray:
    return cv2.resize(heatmap, (COMPARE_SIDE, COMPARE_SIDE), interpolation=cv2.INTER_AREA)


@keyword_settings("backbone", "method_names", "class_index", "steps", "seed", "layer", "device", "progress",
                  renamed={"method_names": "methods", "steps": "randomizations"})
def cascading_randomization(image: ImageInput, *, backbone: str | BackboneSpec = DEFAULT_BACKBONE,
                            methods: Sequence[str] = DEFAULT_SANITY_METHODS, layer: str | None = None,
                            class_index: int | None = None, randomizations: int = 5, seed: int = 0,
                            device: torch.device | str | None = None,
                            progress: Callable[[float, str], None] | None = None) -> list[SanityStep]:
    """Maps of the trained model, then of ``randomizations`` ever more randomized copies (top layers first).

    ``methods`` are method names; those that do not apply to ``backbone`` are skipped. Every step explains
    the trained model's class (top-1 unless ``class_index`` is given). ``seed`` seeds the new weights.
    Nothing is drawn: compare ``explanations[name].heatmap`` or draw its ``overlay``.
    """
    rgb = load_image(image)
    names = [info.name for info in catalog.applicable_methods(backbone, methods)]
    spec = get_spec(backbone)
    device = torch.device(device) if device is not None else (model_device(spec) or default_device())
    trained = load_model(spec, device)
    copy_ = copy.deepcopy(trained)  # never touch the shared, cached model
    plan = cascade_plan(copy_, randomizations)
    total = (len(plan) + 1) * len(names)
    done = 0

    def run(model: nn.Module, label: str, randomized: tuple[str, ...], reference: dict[str, np.ndarray] | None):
        nonlocal done, class_index
        explanations, correlations = {}, {}
        for name in names:
            within = None if progress is None else (  # a slow method reports (and can be stopped) as it goes
                lambda fraction, text: progress((done + fraction) / total,  # noqa: B023  # the count now, on purpose
                                                f"Sanity check: {label}, {text}"))
            explanation = explain_on_model(model, rgb, backbone=backbone, method=name,
                                           layer=layer if name != "cam" else None, class_index=class_index,
                                           device=device, progress=within)
            class_index = explanation.class_index
            explanations[name] = explanation
            small = _small(explanation.heatmap)
            correlations[name] = 1.0 if reference is None else spearman(reference[name], small)
            done += 1
            if progress is not None:
                progress(done / total, f"Sanity check: {label}, {explanation.method}")
        return SanityStep(label, randomized, explanations, correlations)

    first = run(copy_, "trained", (), None)
    reference = {name: _small(first.explanations[name].heatmap) for name in names}
    results = [first]
    randomized: list[str] = []
    for groups in plan:
        for group in groups[len(randomized):]:
            reinitialize(copy_.get_submodule(group), seed + len(randomized))
            randomized.append(group)
        label = randomized[0] if len(randomized) == 1 else f"{randomized[0]} … {randomized[-1]}"
        results.append(run(copy_, label, tuple(randomized), reference))
    return results
