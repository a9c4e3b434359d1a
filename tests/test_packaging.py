"""The project's own bookkeeping: the install lists agree, the console script works, the wheel holds every
subpackage, and test files share code only through tests/helpers/."""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(requirements: str) -> set[str]:
    """The requirement lines of a requirements file, without comments and ``-r`` includes."""
    lines = (line.split("#")[0].strip() for line in (ROOT / requirements).read_text().splitlines())
    return {line for line in lines if line and not line.startswith("-")}


def test_pyproject_pins_the_app_exactly_as_requirements_txt():
    """A Space installs requirements.txt, ``pip install ".[app]"`` reads pyproject.toml: the same app either way;
    the library alone (``pip install .``) leaves out only Gradio."""
    library, app = set(PYPROJECT["project"]["dependencies"]), set(PYPROJECT["project"]["optional-dependencies"]["app"])
    assert library | app == pins("requirements.txt") and not library & app
    assert {pin.split("==")[0] for pin in app} == {"gradio"}
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", pin) for pin in pins("requirements.txt"))


def test_the_extras_are_the_bench_and_dev_requirements():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras["bench"]) == pins("requirements-bench.txt")
    assert set(extras["dev"]) - {"camdemo[app,bench]"} == pins("requirements-dev.txt")
    assert {"ruff", "mypy", "pytest"} <= {pin.split("==")[0] for pin in extras["dev"]}


def test_the_space_runs_the_gradio_and_python_that_the_package_names():
    front_matter = (ROOT / "README.md").read_text().split("---")[1]
    sdk = re.search(r"^sdk_version:\s*(\S+)", front_matter, re.MULTILINE)
    python = re.search(r"^python_version:\s*\"?([0-9.]+)", front_matter, re.MULTILINE)
    assert sdk and f"gradio=={sdk.group(1)}" in pins("requirements.txt")
    assert python and PYPROJECT["project"]["requires-python"] == f">={python.group(1)}"


def test_the_console_script_returns_mains_exit_code(capsys):
    """``camdemo = "camdemo.cli:main"``: the generated script exits with what ``main`` returns, so it must be an int."""
    module, _, name = PYPROJECT["project"]["scripts"]["camdemo"].partition(":")
    main = getattr(importlib.import_module(module), name)
    listed = main(["list", "shapes_gapnet"])
    assert listed == 0 and type(listed) is int
    assert "ShapesGapNet" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:  # argparse exits by itself on unknown choices
        main(["explain", "x.jpg", "--backbone", "resnet9"])
    assert refused.value.code == 2


def test_every_camdemo_folder_with_code_is_a_package_the_wheel_takes():
    """The wheel takes ``camdemo`` and ``camdemo.*`` packages: a folder of code without ``__init__.py`` would be
    left out."""
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["camdemo", "camdemo.*"]
    folders = {path.parent for path in (ROOT / "camdemo").rglob("*.py") if "__pycache__" not in path.parts}
    assert folders and all((folder / "__init__.py").is_file() for folder in folders), sorted(folders)


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_test_files_share_code_only_through_tests_helpers():
    """No test file (nor conftest, nor a helper) imports a test file or conftest: shared code is in tests/helpers/."""
    tests = ROOT / "tests"
    offenders = {}
    for path in sorted(tests.rglob("*.py")):
        wrong = {name for name in _imported_modules(path)
                 if re.fullmatch(r"(tests\.)?(conftest|test_\w+|helpers_server)", name)}
        if wrong:
            offenders[str(path.relative_to(ROOT))] = sorted(wrong)
    assert offenders == {}
