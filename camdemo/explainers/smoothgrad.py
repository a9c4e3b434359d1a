"""SmoothGrad (Smilkov et al. 2017): average any gradient method over noisy copies of the input."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import torch

from ..errors import CamdemoError
from .base import RawMap, Target, choose_classes
from .input_gradients import InputAttributionMethod, replace_inputs
from .options import Option, batch_size_option

BASES = ("saliency", "input_x_gradient", "integrated_gradients", "guided_backprop")  # the registry's gradient methods


class SmoothGrad(InputAttributionMethod):
    """M̂_c(x) = reduce( (1/n) Σ_{i=1..n} R_c(x + ε_i) ),  ε_i ~ N(0, σ²),
    σ = noise · (max(x) − min(x)),

    where R_c is the wrapped method's attribution (saliency: |∂y_c/∂x|; Integrated Gradients,
    Input × Gradient or Guided Backprop likewise). Averaging removes the speckle that comes from
    the gradient's sharp local fluctuations. The noise is drawn from a seeded generator, so the
    same request gives the same map.

    Smilkov, Thorat, Kim, Viégas, Wattenberg. "SmoothGrad: removing noise by adding noise."
    ICML Workshop 2017. arXiv:1706.03825
    """

    group = "functions"
    name = "smoothgrad"
    title = "SmoothGrad"
    paper = "Smilkov et al., SmoothGrad: removing noise by adding noise, ICML Workshop 2017 (arXiv:1706.03825)"
    summary = (
        "SmoothGrad runs a gradient method (saliency by default) on many copies of the image with random noise "
        "added and averages the results: speckle cancels out and the object stands out. Costs one gradient "
        "method per sample (25 by default)."
    )
    cost = "the wrapped method's cost per sample"
    declared_options = (
        Option("base", "saliency", "choice", "method to smooth",
               "The gradient method averaged over the noisy copies; the map is signed when it is.", choices=BASES),
        Option("samples", 25, "int", "noisy samples", "How many noisy copies are averaged.", low=1, high=500),
        Option("noise", 0.15, "float", "noise level",
               "The noise's standard deviation as a fraction of the input's range (max − min).",
               low=0.0, high=1.0),
        Option("seed", 0, "int", "random seed", "Seeds the noise, so the same request gives the same map.",
               low=0, high=2 ** 32 - 1, in_app=False),
        batch_size_option("noisy copies"),
    )
    sign_options = ("base",)

    def __init__(self, bases: dict[str, InputAttributionMethod] | None = None):
        self._bases = bases  # filled by the registry (every gradient method but SmoothGrad itself)

    @property
    def bases(self) -> dict[str, InputAttributionMethod]:
        if self._bases is None:
            from . import METHODS

            self._bases = {name: method for name, method in METHODS.items()
                           if isinstance(method, InputAttributionMethod) and not isinstance(method, SmoothGrad)
                           and not method.uses_layer and method.family == "gradient"}  # not the propagation ones
        return self._bases

    def check_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        base = (options or {}).get("base")
        if base is not None and base not in self.bases:
            raise CamdemoError(f"SmoothGrad can wrap: {', '.join(self.bases)}; not '{base}' (setting base).")
        return super().check_options(options)

    def is_signed(self, options: Mapping[str, Any] | None = None) -> bool:
        """Signed when the wrapped method is (Integrated Gradients, Input × Gradient); saliency is not."""
        return self.bases[(options or {}).get("base") or self.option_defaults["base"]].is_signed()

    def base_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The wrapped method's checked options: its defaults, and the settings both share (``batch_size``)."""
        options = {**self.option_defaults, **options}
        base = self.bases[options["base"]]
        return base.check_options({key: value for key, value in options.items() if key in base.option_defaults})

    def passes(self, options, *, channels, input_size):
        """The wrapped method's cost once per noisy sample."""
        base = self.bases[options["base"]]
        return options["samples"] * base.passes(self.base_options(options), channels=channels, input_size=input_size)

    def base_of(self, target: Target) -> InputAttributionMethod:
        return self.bases[self.option(target, "base")]

    def reduce(self, attributions):
        raise NotImplementedError  # the wrapped method reduces; see compute_batch

    def attribute(self, target, inputs, classes):
        base = self.base_of(target)
        samples, batch = self.option(target, "samples"), self.option(target, "batch_size")
        where = {"image": 0, "start": 0}  # the batch of noisy samples being computed, for the inner method's reports

        def inner_report(fraction: float, _text: str) -> None:
            # A multi-pass base (Integrated Gradients) reports within each batch of samples, so a long job can
            # be followed and stopped between its passes, not only between batches.
            done = where["start"] + fraction * min(batch, samples - where["start"])
            target.report((where["image"] + done / samples) / len(classes),
                          f"SmoothGrad: sample {int(done)} of {samples}")

        inner = replace(replace_inputs(target, inputs, classes), options=self.base_options(target.options),
                        progress=inner_report if target.progress is not None else None)
        results = []
        for i, class_index in enumerate(classes):
            image = inputs[i:i + 1]
            sigma = self.option(target, "noise") * float(image.max() - image.min())
            # Seeded per image, so an image's map is the same in a batch as alone.
            generator = torch.Generator(device="cpu").manual_seed(self.option(target, "seed"))
            noise = torch.normal(0.0, torch.full((samples, *image.shape[1:]), sigma), generator=generator)
            total = torch.zeros_like(image)
            for start in range(0, samples, batch):
                where.update(image=i, start=start)
                noisy = image + noise[start:start + batch].to(image.device, image.dtype)
                total += base.attribute(inner, noisy, [class_index] * len(noisy)).sum(dim=0, keepdim=True)
                target.report((i + min(samples, start + batch) / samples) / len(classes),
                              f"SmoothGrad: sample {min(samples, start + batch)} of {samples}")
            results.append(total / samples)
        return torch.cat(results)

    def compute_batch(self, target: Target) -> list[RawMap]:
        with torch.no_grad():
            logits = target.model(target.inputs)
        classes = choose_classes(logits, target.class_index)
        base = self.base_of(target)
        values = base.reduce(self.attribute(target, target.inputs, classes)).detach()
        return [RawMap(values[i], logits[i], c) for i, c in enumerate(classes)]
