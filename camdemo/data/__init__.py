"""Data that is not a photo: 2-D matrices, channel stacks and 1-D signals (``load_array``), and which rows and
columns of an attribution matter (``profiles``)."""

from .load import MAX_CELLS, DataInput, load_array
from .profiles import Profiles, profiles

__all__ = ["MAX_CELLS", "DataInput", "load_array", "Profiles", "profiles"]
