"""The teaching material: generated cluttered shapes with true boxes (``scenes``), a small GAP network
(``network``) registered as the backbone ``shapes_gapnet`` (``backbone``), its training (``train``) and
Grad-CAM step by step (``steps``). Data that is not a photo: cluttered digits (``digits``) and beam
spectrograms (``beam``) with their truth, two one-channel GAP networks (``data_networks``, ``data_train``,
``data_localization``, ``data_examples``), registered as data backbones by ``data_backbones``."""

from . import backbone  # noqa: F401  (registers shapes_gapnet)
from .data_backbones import register_data_backbones

register_data_backbones()
