"""Models a server's operator adds to the app: ``CAMDEMO_EXTRA_MODELS`` names Python modules (comma-separated),
each with a ``register()`` function that calls ``camdemo.register_backbone``. Read once, when the page is built.

This is how a teacher serves a model of their own (for example a model of matrices or signals, which then appears
in the *Matrices & signals* tab): only whoever starts the server can set it; a visitor cannot name a module.

    CAMDEMO_EXTRA_MODELS=my_models python app.py     # my_models.register() registers its backbones
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

import camdemo

ENVIRONMENT = "CAMDEMO_EXTRA_MODELS"


def register_extra_models(environ: Mapping[str, str] = os.environ) -> list[str]:
    """Import each module named in ``CAMDEMO_EXTRA_MODELS`` and call its ``register()``; the modules' names.
    ``CamdemoError`` (the server does not start) for a module that cannot be imported or has no ``register()``."""
    names = [name.strip() for name in environ.get(ENVIRONMENT, "").split(",") if name.strip()]
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as error:  # the operator's module: any failure stops the server with this sentence
            raise camdemo.CamdemoError(f"{ENVIRONMENT} names the module '{name}', which could not be imported: "
                                       f"{type(error).__name__}: {error}") from error
        register = getattr(module, "register", None)
        if not callable(register):
            raise camdemo.CamdemoError(f"{ENVIRONMENT} names the module '{name}', which has no register() function; "
                                       "it should call camdemo.register_backbone(...) for each model it adds.")
        register()
    return names
