"""The whole page: an introduction, the tabs and the page's hidden state."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from camdemo.app.layout.compare_tab import CompareTab, build_compare_tab
from camdemo.app.layout.data_tab import DataTab, build_data_tab
from camdemo.app.layout.explain_tab import ExplainTab, PageState, build_explain_tab, build_page_state
from camdemo.app.layout.inside_tab import InsideTab, build_inside_tab
from camdemo.app.layout.sanity_tab import SanityTab, build_sanity_tab

INTRO = """# camdemo — why did the classifier say that?
Upload a photo, pick a network (backbone), a method and a class, and see **where in the image** the evidence
for that class lies. Bright colors mark the regions that raise the class score most (the scale under the
heatmap gives the values). Try the cat-and-coffee example with the class set to a cat, then to *espresso*:
a good method moves its map to the other object.
"""


@dataclass(frozen=True)
class Page:
    explain: ExplainTab
    compare: CompareTab
    sanity: SanityTab
    inside: InsideTab
    state: PageState
    data: DataTab


def build_page(backbone: str, method: str) -> Page:
    """Every component of the page, inside the current ``gr.Blocks``, set up for ``backbone`` and ``method``."""
    gr.Markdown(INTRO)
    explain = build_explain_tab(backbone, method)
    compare = build_compare_tab(backbone, method)
    sanity = build_sanity_tab(backbone)
    data = build_data_tab()
    inside = build_inside_tab(backbone)
    return Page(explain, compare, sanity, inside, build_page_state(), data)
