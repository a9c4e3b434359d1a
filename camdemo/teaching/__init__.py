"""The teaching material: generated cluttered shapes with true boxes (``scenes``), a small GAP network
(``network``) registered as the backbone ``shapes_gapnet`` (``backbone``), its training (``train``) and
Grad-CAM step by step (``steps``)."""

from . import backbone  # noqa: F401  (registers shapes_gapnet)
