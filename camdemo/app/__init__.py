"""The Gradio app: a thin layer over camdemo's public API.

``ui.build_demo`` makes the page and ``ui.launch_options`` are the settings it is served with. Where to look:

* ``layout/``: one module per tab; each tab is built by its own function and returns its components.
* ``handlers/``: the event handlers; each returns a ``NamedTuple`` named like the components it fills.
* ``wiring.py``: which event runs which handler; the rules shared by model events are written once there.
* ``views.py``, ``display.py``, ``examples.py``: choice lists, texts and pictures, without Gradio.
* ``uploads.py``, ``inputs.py``, ``budget.py``, ``work.py``, ``jobs.py``, ``serving.py``, ``downloads.py``,
  ``results.py``: serving policy (the upload check, checks of raw values, the cost budget, the model lanes,
  upload limits and disk, the files shown and downloaded, the results kept for re-drawing).
"""
