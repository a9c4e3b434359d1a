"""The folder tree shows the layers, and the imports keep to them.

The library (everything but ``camdemo/app``) never imports Gradio or the app; the app is a thin layer that
imports camdemo's public API (``import camdemo``) and pure helpers only; the bottom layers (models,
explainers, images, drawing) never reach up into the engine, the evaluation, the teaching code or the app.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import camdemo

PACKAGE = Path(camdemo.__file__).parent
# Modules of camdemo the app may import besides the public API: pure helpers with no model and no state.
APP_MAY_IMPORT = ("camdemo.app", "camdemo.drawing", "camdemo.assets", "camdemo.saving", "camdemo.errors",
                  "camdemo.evaluation.boxes", "camdemo.teaching.scenes")
BOTTOM_LAYERS = ("models", "explainers", "images", "drawing")
UPPER_LAYERS = ("camdemo.api", "camdemo.catalog", "camdemo.explanation", "camdemo.cost", "camdemo.evaluation",
                "camdemo.teaching", "camdemo.app", "camdemo.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, ``from camdemo import X`` as ``camdemo``."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            found.add(".".join([*base, *([node.module] if node.module else [])]))
    return found


def modules(where: Path) -> list[Path]:
    return sorted(where.rglob("*.py"))


def test_the_library_never_imports_gradio_or_the_app():
    script = "import sys, camdemo, camdemo.cli; sys.exit(any(n.split('.')[0] == 'gradio' for n in sys.modules))"
    assert subprocess.run([sys.executable, "-c", script]).returncode == 0, "importing camdemo loaded Gradio"
    for path in modules(PACKAGE):
        if module_name(path).startswith("camdemo.app"):
            continue
        reached = {name for name in imported_modules(path) if name.split(".")[0] == "gradio"
                   or name.startswith("camdemo.app")}
        assert not reached, f"{module_name(path)} imports {reached}"


def test_the_app_imports_only_the_public_api_and_pure_helpers():
    for path in modules(PACKAGE / "app"):
        internal = {name for name in imported_modules(path) if name.startswith("camdemo.")
                    and not name.startswith(APP_MAY_IMPORT)}
        assert not internal, f"{module_name(path)} imports camdemo internals {internal}: use `import camdemo`"


def test_the_bottom_layers_do_not_reach_up():
    for layer in BOTTOM_LAYERS:
        for path in modules(PACKAGE / layer):
            upward = {name for name in imported_modules(path) if name.startswith(UPPER_LAYERS)}
            assert not upward, f"{module_name(path)} (a {layer} module) imports {upward}"


def test_every_public_name_is_importable_and_documented():
    for name in camdemo.__all__:
        assert hasattr(camdemo, name), name
    assert camdemo.faithfulness.__module__ == "camdemo.evaluation.faithfulness"  # the function, not the module
