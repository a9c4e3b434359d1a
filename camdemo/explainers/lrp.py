"""Layer-wise Relevance Propagation and Deep Taylor decomposition, with zennit's rules and composites.

Relevance R starts at the output as the explained score's seed and is passed down layer by layer. At a
linear layer z_k = Σ_j a_j w_jk + b_k (a convolution with BatchNorm merged into it, or a dense layer),
a rule says which share of R_k goes to each input j:

* ε (LRP-ε):       R_j = Σ_k a_j w_jk / (z_k + ε·sign(z_k)) · R_k
* z⁺ (LRP-α1β0 on ReLU inputs): R_j = Σ_k a_j w_jk⁺ / Σ_j' a_j' w_j'k⁺ · R_k
* γ:               R_j = Σ_k a_j (w_jk + γ w_jk⁺) / Σ_j' a_j' (w_j'k + γ w_j'k⁺) · R_k
* αβ (α − β = 1):  R_j = Σ_k (α (a_j w_jk)⁺ / Σ (a w)⁺ − β (a_j w_jk)⁻ / Σ (a w)⁻) · R_k
* zᴮ (the input layer, pixels in [l, h]): R_i = Σ_k (x_i w_ik − l_i w_ik⁺ − h_i w_ik⁻) / Σ_i' (…) · R_k
* flat (the input layer): R_i = Σ_k 1 / (number of inputs of k) · R_k

ReLU/ReLU6 pass relevance through unchanged, global average pooling and residual sums split it in proportion
to their inputs (zennit's ``Norm``), max pooling sends it to the maximum. A composite assigns rules to layers,
e.g. ε-plus-flat: ε for dense layers, z⁺ for convolutions, flat for the first layer (zennit's recommendation;
Kohlbrenner et al., "Towards Best Practice in Explaining Neural Network Decisions with LRP", IJCNN 2020).

Bach, Binder, Montavon, Klauschen, Müller, Samek. "On Pixel-Wise Explanations for Non-Linear Classifier
Decisions by Layer-Wise Relevance Propagation." PLOS ONE 2015. Montavon, Binder, Lapuschkin, Samek, Müller.
"Layer-Wise Relevance Propagation: An Overview." In: Explainable AI, LNCS 11700, 2019.
Anders, Neumann, Samek, Müller, Lapuschkin. "Software for Dataset-wide XAI: From Local Explanations to Global
Insights with Zennit, CoRelAy, and ViRelAy." arXiv:2106.13200 (2021).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable

import torch
from torch import nn

from .base import Target
from .canonizers import canonizers_for, input_bounds
from .options import Option
from .propagation import PropagationMethod, conservation_text

# Each choice of ``rules``: (the rule of convolutions, the rule of dense layers, the rule of the first layer or
# None for the same as the others). "epsilon-plus-flat" and "epsilon-gamma-box" are zennit's composites of
# those names; the others put one rule everywhere, as the LRP papers' variants (LRP-ε, LRP-α1β0, …).
RULE_SETS: dict[str, tuple[str, str, str | None]] = {
    "epsilon-plus-flat": ("zplus", "epsilon", "flat"),
    "epsilon-gamma-box": ("gamma", "epsilon", "box"),
    "epsilon-plus": ("zplus", "epsilon", None),
    "epsilon-alpha2-beta1-flat": ("alpha2-beta1", "epsilon", "flat"),
    "epsilon": ("epsilon", "epsilon", None),
    "zplus": ("zplus", "zplus", None),
    "gamma": ("gamma", "gamma", None),
    "alpha1-beta0": ("alpha1-beta0", "alpha1-beta0", None),
    "alpha2-beta1": ("alpha2-beta1", "alpha2-beta1", None),
}


# How many modified forward passes of a layer each rule runs in the backward pass (zennit's BasicHook modifiers).
RULE_FORWARDS = {"epsilon": 1, "zplus": 2, "alpha1-beta0": 4, "alpha2-beta1": 4, "gamma": 5}
PASSES_PER_COPY = 2.0  # forward+backward passes of the network per modified copy, measured (LRP.passes)


def make_rule(name: str, *, epsilon: float, gamma: float, bounds: tuple[torch.Tensor, torch.Tensor] | None) -> Any:
    """A fresh zennit rule (a hook template: zennit copies it per layer)."""
    from zennit import rules

    makers: dict[str, Callable[[], Any]] = {
        "epsilon": lambda: rules.Epsilon(epsilon=epsilon),
        "zplus": lambda: rules.ZPlus(),
        "gamma": lambda: rules.Gamma(gamma=gamma),
        "alpha1-beta0": lambda: rules.AlphaBeta(alpha=1.0, beta=0.0),
        "alpha2-beta1": lambda: rules.AlphaBeta(alpha=2.0, beta=1.0),
        "flat": lambda: rules.Flat(),
        "wsquare": lambda: rules.WSquare(),
        "box": lambda: rules.ZBox(low=bounds[0], high=bounds[1]) if bounds is not None else None,
    }
    return makers[name]()


def lrp_composite(convolution: str, dense: str, first: str | None, *, model: nn.Module, epsilon: float = 1e-6,
                  gamma: float = 0.25, bounds: tuple[torch.Tensor, torch.Tensor] | None = None) -> Any:
    """A zennit composite, made per call: ``convolution``'s rule for convolutions, ``dense``'s for linear layers,
    ``first``'s (if given) for the first linear layer the forward pass meets; the canonizers ``model`` needs."""
    from zennit.composites import LayerMapComposite, SpecialFirstLayerMapComposite, layer_map_base
    from zennit.types import Convolution, Linear

    def rule(name: str) -> Any:
        return make_rule(name, epsilon=epsilon, gamma=gamma, bounds=bounds)

    layer_map = layer_map_base() + [(nn.Linear, rule(dense)), (Convolution, rule(convolution))]
    canonizers = canonizers_for(model)
    if first is None:
        return LayerMapComposite(layer_map=layer_map, canonizers=canonizers)
    return SpecialFirstLayerMapComposite(layer_map=layer_map, first_map=[(Linear, rule(first))],
                                         canonizers=canonizers)


def target_bounds(target: Target, model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The lowest and highest model input per color channel: those of a black and a white image when the
    preprocessing is known, else (a bare model) the range of this batch's own inputs. Flattened when the first
    layer is a dense one (a network that starts with ``Flatten``)."""
    if target.constant_input is None:
        low = target.inputs.detach().amin(dim=(0, 2, 3), keepdim=True)
        high = target.inputs.detach().amax(dim=(0, 2, 3), keepdim=True)
    else:
        low, high = input_bounds(target.constant(0), target.constant(255))
    first = next((module for module in model.modules() if isinstance(module, (nn.Linear, nn.Conv2d))), None)
    if isinstance(first, nn.Linear):
        shape = (1, *target.inputs.shape[1:])
        return low.expand(shape).reshape(1, -1), high.expand(shape).reshape(1, -1)
    return low, high


class LRP(PropagationMethod):
    """R(x) = the relevance at the input pixels after propagating the seeded score down with ``rules``,
    summed over color channels (signed).

    Bach et al., PLOS ONE 2015; Montavon et al., LRP: An Overview, 2019 (rules and composites as in zennit).
    """

    name = "lrp"
    title = "LRP"
    paper = ("Bach et al., On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance "
             "Propagation, PLOS ONE 2015; Montavon et al., Layer-Wise Relevance Propagation: An Overview, 2019")
    summary = (
        "Layer-wise Relevance Propagation passes the class score back down the network, layer by layer, dividing "
        "it among each layer's inputs by a rule (ε, z⁺, γ, αβ; flat or zᴮ at the pixels), so that what arrives at "
        "the pixels adds up to about the score: the note says how closely. Signed. One forward and one "
        "backward pass (on a copy of the network with BatchNorm merged into the convolutions)."
    )
    group = "attribution"
    cost = "1 forward + 1 backward, each layer re-run 1–5× by its rule"
    declared_options = (
        Option("rules", "epsilon-plus-flat", "choice", "rules",
               "Which rule each layer uses: a composite (ε for dense layers, z⁺ or γ or α2β1 for convolutions, flat "
               "or zᴮ at the pixels) or one rule everywhere.", choices=tuple(RULE_SETS)),
        Option("epsilon", 1e-6, "float", "ε",
               "The ε rule's stabilizer: larger values absorb weak, contradictory relevance (sparser maps).",
               low=1e-9, high=100.0, in_app=False),
        Option("gamma", 0.25, "float", "γ",
               "The γ rule's weight on positive contributions (0: the ε rule without ε; large: z⁺).",
               low=0.0, high=100.0, in_app=False),
    )

    def passes(self, options, *, channels, input_size):
        """One forward and one backward pass, and in the backward pass each layer runs again once per modified
        copy its rule needs (ε: 1, z⁺: 2, α2β1: 4, γ: 5), with a backward pass of its own and zennit's per-layer
        overhead: measured on EfficientNet-Lite0 (docs/performance.md) 3.1, 4.3 and 8.8 passes for ε, ε-plus-flat
        and ε-γ-box, so 1 + 2 per modified copy (erring on the slow side)."""
        return 1.0 + PASSES_PER_COPY * RULE_FORWARDS[RULE_SETS[options["rules"]][0]]

    def rules(self, target: Target, model: nn.Module) -> AbstractContextManager:
        convolution, dense, first = RULE_SETS[self.option(target, "rules")]
        bounds = target_bounds(target, model) if "box" in (convolution, dense, first) else None
        return lrp_composite(convolution, dense, first, model=model, epsilon=self.option(target, "epsilon"),
                             gamma=self.option(target, "gamma"), bounds=bounds).context(model)

    def conservation_note(self, total, score):
        return conservation_text(total, score) + (
            " Biases, the ε stabilizer and the flat or zᴮ input rules take or add some relevance, so the two "
            "differ by design; a large gap means much of the score comes from biases.")


class DeepTaylor(PropagationMethod):
    """R(x): z⁺ in every layer above the input (the root point of each ReLU neuron on its positive inputs),
    zᴮ at the input with the box [l, h] of the model's input range (black to white), summed over colors.

    Montavon, Lapuschkin, Binder, Samek, Müller. "Explaining Nonlinear Classification Decisions with Deep
    Taylor Decomposition." Pattern Recognition 65 (2017). arXiv:1512.02479
    """

    name = "deep_taylor"
    title = "Deep Taylor"
    paper = ("Montavon et al., Explaining Nonlinear Classification Decisions with Deep Taylor Decomposition, "
             "Pattern Recognition 2017 (arXiv:1512.02479)")
    summary = (
        "Deep Taylor decomposition explains each neuron by a first-order Taylor expansion at a root point on its "
        "positive inputs (the z⁺ rule), and the pixels within the range a pixel can take (zᴮ, black to white). "
        "Relevance is positive for a positive score and adds up to about it. One forward and one backward pass."
    )
    group = "attribution"
    cost = "1 forward + 1 backward, each layer re-run 2× (z⁺)"

    def passes(self, options, *, channels, input_size):
        return 1.0 + PASSES_PER_COPY * RULE_FORWARDS["zplus"]  # measured 5.1 on Lite0 (z⁺, and zᴮ's 3 copies once)

    def rules(self, target: Target, model: nn.Module) -> AbstractContextManager:
        return lrp_composite("zplus", "zplus", "box", model=model, bounds=target_bounds(target, model)).context(model)

    def conservation_note(self, total, score):
        return conservation_text(total, score) + " Positive biases take some relevance (z⁺ keeps them)."
