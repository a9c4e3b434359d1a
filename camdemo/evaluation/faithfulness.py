"""Is a map faithful to the model? Deletion and insertion curves, average drop and increase in confidence.

* Deletion (Petsiuk et al., RISE, BMVC 2018, arXiv:1806.07421): remove pixels, most important first
  (set them to black), and record the class probability. A faithful map makes it fall fast: a low
  area under the curve (AUC) is good.
* Insertion (same paper): start from a blurred image and put the original pixels back, most
  important first. A faithful map makes the probability rise fast: a high AUC is good.
* Average drop and increase in confidence (Chattopadhay et al., Grad-CAM++, WACV 2018): show the
  model only the explained regions, x ⊙ H with H the map in [0, 1]; drop = max(0, p − p′)/p (lower
  is better), increase = whether p′ > p.

Everything runs at the model's input resolution, in batches, without gradients, on the same model
and class as the explanation. The map's order of pixels is the only thing a map contributes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch
from torch import nn

from ..deprecation import keyword_settings
from ..explanation import Explanation
from ..errors import CamdemoError
from ..explainers.hooks import eval_mode
from ..models import load_model
from ..models.custom import signal_model

DEFAULT_INCREMENTS = 32  # pixels are removed (or restored) in this many equal increments: 33 points per curve
DEFAULT_STEPS = DEFAULT_INCREMENTS  # its old name, for code that imports it
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0  # the insertion canvas of the RISE paper's code


@dataclass(frozen=True)
class Curves:
    """Deletion and insertion curves: probability of the class after removing/adding a fraction of pixels."""

    fractions: np.ndarray  # 0 … 1, increments + 1 points
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve (trapezoid rule); lower means a more faithful map."""
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve; higher means a more faithful map."""
        return float(np.trapezoid(self.insertion, self.fractions))


@dataclass(frozen=True)
class Faithfulness:
    """The faithfulness report of one map."""

    curves: Curves
    probability: float  # p_c(x), the class probability on the whole image
    masked_probability: float  # p_c(x ⊙ H)
    seconds: float

    @property
    def deletion_auc(self) -> float:
        return self.curves.deletion_auc

    @property
    def insertion_auc(self) -> float:
        return self.curves.insertion_auc

    @property
    def average_drop(self) -> float:
        """max(0, p − p′) / p, as a fraction (Chattopadhay et al. report it in percent, averaged over images)."""
        return max(0.0, self.probability - self.masked_probability) / max(self.probability, 1e-12)

    @property
    def confidence_increase(self) -> bool:
        """Whether showing only the explained regions raised the class probability."""
        return self.masked_probability > self.probability


@keyword_settings(renamed={"steps": "increments"})
def deletion_insertion(model: nn.Module, inputs: torch.Tensor, saliency: np.ndarray, class_index: int,
                       removed: torch.Tensor, canvas: torch.Tensor, increments: int = DEFAULT_INCREMENTS,
                       batch_size: int = 16, progress: Callable[[float, str], None] | None = None,
                       output_kind: str = "softmax") -> Curves:
    """The two curves for one image (``inputs`` 1×3×S×S) and a map ``saliency`` (S×S, larger = more important).

    Deletion replaces pixels with ``removed`` (1×3×S×S); insertion starts from ``canvas``. Pixels
    are taken in the map's order (stable for ties), about S²/``increments`` more at each point. The curves
    follow the class's probability as the model's ``output_kind`` reads it (``readout``).
    """
    if increments < 1:
        raise CamdemoError("The curves need at least one increment.")
    height, width = inputs.shape[-2:]
    if saliency.shape != (height, width):
        raise CamdemoError(f"The map is {saliency.shape}; the model input is {height}×{width}.")
    order = torch.from_numpy(np.argsort(-saliency.astype(np.float64).ravel(), kind="stable").copy())
    counts = [round(k * height * width / increments) for k in range(increments + 1)]
    rank = torch.empty(height * width, dtype=torch.long)
    rank[order] = torch.arange(height * width)
    rank = rank.view(1, 1, height, width).to(inputs.device)
    probabilities: dict[str, list[float]] = {"deletion": [], "insertion": []}
    jobs = [(curve, count) for curve in probabilities for count in counts]
    with torch.no_grad():
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            images = []
            for curve, count in chunk:
                chosen = rank < count  # the `count` most important pixels
                if curve == "deletion":
                    images.append(torch.where(chosen, removed, inputs))
                else:
                    images.append(torch.where(chosen, inputs, canvas))
            scores = readout(model(torch.cat(images)), output_kind)[:, class_index]
            for (curve, _), score in zip(chunk, scores.cpu().tolist()):
                probabilities[curve].append(score)
            if progress is not None:
                progress(min(len(jobs), start + batch_size) / len(jobs), "Deletion and insertion curves")
    fractions = np.array(counts, dtype=np.float64) / (height * width)
    return Curves(fractions, np.array(probabilities["deletion"]), np.array(probabilities["insertion"]))


def readout(outputs: torch.Tensor, output_kind: str) -> torch.Tensor:
    """What the curves follow: softmax probabilities of exclusive classes, a sigmoid per label or for a binary
    logit, or a regression's values themselves."""
    outputs = outputs.float()
    if output_kind == "regression":
        return outputs
    return torch.sigmoid(outputs) if output_kind in ("multilabel", "binary") else torch.softmax(outputs, dim=1)


def blurred(inputs: torch.Tensor) -> torch.Tensor:
    """The insertion canvas: each channel blurred with an 11×11 Gaussian, σ = 5 (RISE)."""
    array = inputs[0].permute(1, 2, 0).float().cpu().numpy()
    smooth = cv2.GaussianBlur(array, (BLUR_KERNEL, BLUR_KERNEL), BLUR_SIGMA)
    return torch.from_numpy(smooth).permute(2, 0, 1)[None].to(inputs.device, inputs.dtype)


@keyword_settings("steps", "progress", "model", renamed={"steps": "increments"})
def faithfulness(explanation: Explanation, *, increments: int = DEFAULT_INCREMENTS, model: nn.Module | None = None,
                 progress: Callable[[float, str], None] | None = None) -> Faithfulness:
    """Deletion/insertion curves and average drop/increase for ``explanation``'s map, class and model.

    The map is what is displayed (its shown sign; for "both", the positive part), resized to the
    model's input; the pixels go in ``increments`` equal increments (each curve has ``increments + 1``
    points). ``model`` defaults to the cached backbone the explanation came from. Nothing is drawn.
    """
    started = time.perf_counter()
    spec = explanation.spec
    device = torch.device(explanation.device)
    model = load_model(spec, device) if model is None else model
    if explanation.data is not None:  # a matrix or signal: the data as it is, "black" is the constant 0
        inputs = spec.data_tensor(explanation.data, device)
        model = signal_model(model) if explanation.data.ndim == 1 else model
    else:
        inputs = spec.preprocess(explanation.image, device)
    height, width = inputs.shape[-2:]
    shown = explanation.heatmap if explanation.sign != "both" else np.clip(2 * explanation.heatmap - 1, 0, 1)
    saliency = cv2.resize(shown, (width, height), interpolation=cv2.INTER_AREA)
    black = spec.constant_input(0, device, like=inputs)
    with eval_mode(model):
        curves = deletion_insertion(model, inputs, saliency, explanation.class_index, black, blurred(inputs),
                                    increments, progress=progress, output_kind=spec.output_kind)
        mask = torch.from_numpy(saliency).to(device, inputs.dtype)
        with torch.no_grad():  # x ⊙ H in pixel space = black + H·(x − black) after the affine normalization
            both = torch.cat([inputs, black + mask * (inputs - black)])
            probabilities = readout(model(both), spec.output_kind)[:, explanation.class_index].cpu().tolist()
    return Faithfulness(curves, probabilities[0], probabilities[1], time.perf_counter() - started)
