"""Looking inside the network: what a channel responds to, what a layer keeps, what a layer amplifies.

* ``maximize_activation`` (``activation_max``): the image that most excites a channel, neuron or class score
  (Olah et al., "Feature Visualization", Distill 2017), on a decorrelated Fourier image (``parameterization``)
  under random jitter, scale and rotation (``transforms``).
* ``reconstruct`` (``reconstruction``): images whose activations at several layers match the user's image
  (Mahendran & Vedaldi, CVPR 2015).
* ``deep_dream`` (``dream``): the user's image with a layer's activations amplified, over octaves
  (Mordvintsev, Olah & Tyka, 2015).
* ``channel_gallery`` (``gallery``): the shipped images of the strongest channels of each built-in backbone.
* ``inside_cost`` (``cost``): what a run costs here, before it runs.

All of them read the shared, cached model through ``probe``: nothing of it is changed, and no hook outlives a call.
"""

from .activation_max import ActivationImage, maximize_activation
from .cost import inside_cost
from .dream import Dream, deep_dream, default_dream_layer
from .gallery import GalleryEntry, channel_gallery
from .probe import LOGITS
from .reconstruction import LayerReconstruction, Reconstruction, default_layers, reconstruct

__all__ = ["maximize_activation", "ActivationImage", "reconstruct", "Reconstruction", "LayerReconstruction",
           "default_layers", "deep_dream", "Dream", "default_dream_layer", "channel_gallery", "GalleryEntry",
           "inside_cost", "LOGITS"]
