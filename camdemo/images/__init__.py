"""Reading what a user gives us as an image: ``load_image`` (``decode``) and what decoding it costs (``memory``)."""

from .decode import ImageInput, load_image

__all__ = ["ImageInput", "load_image"]
