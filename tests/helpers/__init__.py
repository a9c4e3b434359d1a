"""What the tests share, imported as ``from tests.helpers.<module> import ...`` (never from a test file).

- ``networks``: tiny hand-built networks whose maps can be worked out by hand, and small random ones.
- ``methods``: quick method settings for plumbing tests, and the no-hook-left check.
- ``uploads``: the corpus of bad uploads (damaged, huge, tiny, not images) and how to make each.
- ``registry``: a backbone registry and model cache of a test's own (register, re-point, load afresh).
- ``server``: the real app launched on a free port, and raw HTTP calls to it.
- ``data_models``: two models of data with hand-set weights (a matrix GAP CNN, a Conv1d signal model) and the
  ``register()`` that ``CAMDEMO_EXTRA_MODELS`` calls.
"""

from camdemo.assets import ASSETS_DIR as ASSETS

__all__ = ["ASSETS"]
