"""The README and docs/ say true things: the Python example runs as written, the method and backbone
tables match the catalog, the layout names every module, and every relative link leads somewhere.

Fast (a few seconds): the example uses the bundled image and an offline backbone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import camdemo

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def prose(path: Path) -> str:
    """The page without its fenced code blocks (a `# comment` in a bash block is not a heading)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def code_blocks(path: Path, language: str) -> list[str]:
    """The fenced code blocks whose info string is ``language`` ("" for a bare fence), in order."""
    blocks, current, info = [], None, ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if current is None:
                current, info = [], line[3:].strip()
            else:
                if info == language:
                    blocks.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    seen: dict[str, int] = {}
    result = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", prose(path), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The cells of the Markdown table whose header row starts with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([cell.strip() for cell in cells])
    return rows


def test_the_python_example_runs_as_written(monkeypatch):
    blocks = code_blocks(README, "python")
    assert blocks, "the README has a Python example"
    monkeypatch.chdir(ROOT)  # the example names assets/... relative to the repository
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    result = namespace["result"]
    assert result.class_index == 967 and result.class_label == "espresso"  # what its comment promises
    assert result.heatmap.shape == result.overlay.shape[:2]


def test_method_table_matches_the_catalog():
    rows = table_rows(prose(README), "| method | `name` |")
    infos = camdemo.methods()
    assert [row[1].strip("`") for row in rows] == [info.name for info in infos]
    for row, info in zip(rows, infos):
        assert row[0].startswith(f"**{info.title}**"), row[0]
        assert row[2] == info.family
        if row[5] == "as wrapped":  # the sign depends on a setting (SmoothGrad's base)
            assert info.sign_options and not info.signed, info.name  # unsigned with the default settings
        else:
            assert (row[5] != "no") == info.signed and not info.sign_options, info.name
        assert (row[4] == "input") == (not info.uses_layer), info.name


def test_backbone_table_matches_the_catalog():
    rows = table_rows(prose(README), "| backbone | `name` |")
    infos = camdemo.backbones()
    assert [row[1].strip("`") for row in rows] == [info.name for info in infos]
    for row, info in zip(rows, infos):
        assert row[0].startswith(info.title)
        assert int(row[3]) == info.input_size and int(row[4]) == info.num_classes
        methods = camdemo.methods(info.name)
        cam = next(m for m in methods if m.name == "cam")
        assert row[5] == "—" if not cam.available else row[5].startswith(f"`{cam.fixed_layer}`"), info.name
        unavailable = [m.title for m in methods if not m.available]
        assert row[7] == (", ".join(unavailable) or "—"), info.name


def test_the_module_list_names_every_module():
    layout = code_blocks(ROOT / "docs" / "development.md", "")[-1]
    listed = set(re.findall(r"^((?:camdemo|benchmarks)/\S+\.py)", layout, re.M))
    present = {path.relative_to(ROOT).as_posix() for folder in ("camdemo", "benchmarks")
               for path in (ROOT / folder).rglob("*.py")}
    assert listed == present, f"missing from docs/development.md's modules: {sorted(present - listed)}; " \
                              f"listed but gone: {sorted(listed - present)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_relative_links_lead_somewhere(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.name}: {broken}"
