"""The base of the methods that propagate the score back through the network with rules: LRP, Deep Taylor,
DeConvNet (zennit composites) and PatternNet/PatternAttribution (patterns in place of the weights).

Every call works on a ``working_copy`` of the model (``canonizers.py`` says why), changes the copy's backward
pass, runs one forward pass and one backward pass that starts from ``Objective.seed``: the one-hot vector of
the explained class, with −1 at the contrast class and the sign of the direction, times the outputs for the
relevance methods (so R = y_c − y_b at the top). Every rule here is linear in the relevance it receives, so the
map of "c rather than b" is the map of c minus the map of b.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from contextlib import AbstractContextManager

import torch
from torch import nn

from ..models import BackboneSpec, architecture
from .base import RawMap, Target, choose_classes
from .canonizers import uncovered_leaves, working_copy
from .input_gradients import InputAttributionMethod


class PropagationMethod(InputAttributionMethod):
    """Attributions = the input's "gradient" through a backward pass whose rules ``rules`` sets on the copy."""

    family = "propagation"
    signed = True
    # True: the relevance starts as the explained score itself, R = seed ⊙ y (y_c, and −y_b for a contrast), so
    # that what arrives at the pixels is measured in score units (LRP's convention). False: the plain seed
    # (DeConvNet's backward signal, whose scale means nothing).
    seed_with_score: bool = True

    @abstractmethod
    def rules(self, target: Target, model: nn.Module) -> AbstractContextManager:
        """A context in which ``model`` (the call's working copy) propagates by this method's rules."""

    def finish_relevance(self, inputs: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
        """The attributions from what the backward pass returns at the input (relevance already, for LRP)."""
        return relevance

    def unavailable_reason(self, spec: BackboneSpec) -> str | None:
        module = getattr(spec, "module", None)  # a user's wrapped model: looked at each time, not cached
        uncovered = tuple(uncovered_leaves(module)) if module is not None else _uncovered(spec.name)
        if uncovered:
            return (f"its {', '.join(uncovered)} layers have no propagation rule here (rules cover convolutions, "
                    "linear layers, BatchNorm, ReLU/ReLU6 and pooling), so the relevance would not be conserved.")
        return None

    def propagate(self, target: Target, inputs: torch.Tensor, class_index) -> tuple[torch.Tensor, torch.Tensor,
                                                                                     list[int]]:
        """(attributions N×3×S×S, logits, classes): one forward and one modified backward pass on a copy."""
        model = working_copy(target.model)
        x = inputs.detach().clone().requires_grad_(True)
        with self.rules(target, model), torch.enable_grad():
            outputs = model(x)
            classes = choose_classes(outputs.detach(), class_index)
            seed = target.objective.seed(outputs.detach(), classes)
            if self.seed_with_score:
                seed = seed * outputs.detach()
            (relevance,) = torch.autograd.grad(outputs, x, grad_outputs=seed)
        return self.finish_relevance(x.detach(), relevance.detach()), outputs.detach(), classes

    def attribute(self, target, inputs, classes):
        return self.propagate(target, inputs, tuple(classes))[0]

    def attribute_and_logits(self, target):
        return self.propagate(target, target.inputs, target.class_index)

    def conservation_note(self, total: float, score: float) -> str:
        """"" here; the methods whose relevance should add up to the score say how closely it does."""
        return ""

    def compute_batch(self, target: Target) -> list[RawMap]:
        attributions, logits, classes = self.attribute_and_logits(target)
        values = self.reduce(attributions)
        scores = target.scores(logits, classes)
        return [RawMap(values[i], logits[i], c, self.conservation_note(float(attributions[i].sum()), float(scores[i])))
                for i, c in enumerate(classes)]


def conservation_text(total: float, score: float) -> str:
    """"The relevance adds up to 3.120; the explained score is 3.456 (90.3% of it)." """
    share = f" ({total / score:.1%} of it)" if abs(score) > 1e-12 else ""
    return f"Conservation: the relevance adds up to {total:.3f}; the explained score is {score:.3f}{share}."


@functools.cache
def _uncovered(backbone: str) -> tuple[str, ...]:
    return tuple(uncovered_leaves(architecture(backbone)))
