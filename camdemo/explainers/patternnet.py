"""PatternNet (the signal) and PatternAttribution (its attribution): ``patterns.py`` fits and applies the patterns.

Kindermans et al. "Learning how to explain neural networks: PatternNet and PatternAttribution." ICLR 2018.
arXiv:1705.05598
"""

from __future__ import annotations

from .patterns import _PatternMethod

PAPER = ("Kindermans et al., Learning how to explain neural networks: PatternNet and PatternAttribution, "
         "ICLR 2018 (arXiv:1705.05598)")


class PatternNet(_PatternMethod):
    """S(x) = the backward pass from the seeded score with every layer's weights W replaced by its patterns A
    (ReLU and pooling as in the gradient), shown as the largest magnitude over color channels.

    Kindermans et al., ICLR 2018, §5 (arXiv:1705.05598)
    """

    name = "patternnet"
    title = "PatternNet"
    paper = PAPER
    summary = (
        "PatternNet projects the class score back onto the input through patterns learned from data: for each "
        "neuron, the direction in its input that carries the signal it responds to (the weights, in contrast, also "
        "cancel distractors). The result is the signal the network detected, as an image. Needs patterns fitted "
        "for the network. One forward and one backward pass."
    )
    group = "signal"
    signed = False


class PatternAttribution(_PatternMethod):
    """R(x) = the backward pass from the seeded score with every layer's weights W replaced by W ⊙ A, summed over
    color channels (signed): Deep Taylor with each neuron's root point x − a·y learned from data.

    Kindermans et al., ICLR 2018, §5 (arXiv:1705.05598)
    """

    name = "patternattribution"
    title = "PatternAttribution"
    paper = PAPER
    summary = (
        "PatternAttribution divides the score among the pixels like Deep Taylor / LRP, but each neuron's reference "
        "point is learned from data (its pattern: the signal direction), so what the weights use only to cancel "
        "noise gets no credit. Signed. Needs patterns fitted for the network. One forward and one backward pass."
    )
    group = "attribution"
    times_weights = True
    kind = "attribution"
