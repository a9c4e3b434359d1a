"""Debian's Chromium for the browser tests (Playwright's own browser download is not available here).

``.ci/run`` installs it and sets CAMDEMO_REQUIRE_BROWSER=1, so in CI a missing browser is a failure; elsewhere a
browser test module is skipped with a note. Screenshots go to ``ARTIFACTS`` (``test-artifacts/`` by default).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ARTIFACTS = Path(os.environ.get("CAMDEMO_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


def chromium() -> tuple[str, ModuleType]:
    """Chromium's path and Playwright's sync API, for a browser test module to call at import: skips the module
    without them, unless CAMDEMO_REQUIRE_BROWSER=1 (then a missing browser is an error)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CAMDEMO_REQUIRE_BROWSER") == "1":
            raise RuntimeError("CAMDEMO_REQUIRE_BROWSER=1 but no chromium found: apt-get install chromium")
        pytest.skip("no Chromium on this machine (apt-get install chromium)", allow_module_level=True)
    return path, pytest.importorskip("playwright.sync_api")
