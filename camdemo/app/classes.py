"""The class box's search: which class a typed text means, and the script that sends the typed text.

Gradio's searchable dropdown filters its choices by substring and keeps their order, so pressing
Enter after typing ``cup`` picked the first match, *porcupine* (334), and ``cat`` gave *oystercatcher*
(143). Here the app's head script makes Enter send the typed text itself (``ENTER_SENDS_TEXT``) and
the server ranks every class of the backbone against it (``rank_classes``), so the best match wins
whatever the list order and however many classes match.

The ranking, on names folded to lower case with apostrophes dropped and any other punctuation read as
a space (so ``shih tzu`` finds "Shih-Tzu" and ``jack o lantern`` finds "jack-o'-lantern"):

1. the whole name: ``cup`` → "cup" (968);
2. whole words of the name: ``cat`` → "tiger cat" (282), not "oystercatcher";
3. the start of the name: ``cata`` → "catamaran";
4. the start of a later word: ``sheep`` → "Old English sheepdog";
5. anywhere: ``cupine`` → "porcupine".

Within a rank the lower class index comes first (ImageNet's order, the order of the list).
"""

from __future__ import annotations

import re
from typing import Sequence

from ..errors import CamdemoError

EXACT, WHOLE_WORDS, NAME_START, WORD_START, ANYWHERE = range(5)

# A choice's label as the dropdown shows it: "tiger cat · 282" (see ``camdemo.app.ui.class_choices``).
_SHOWN_CHOICE = re.compile(r"^.*·\s*(\d+)$")


def fold(text: str) -> str:
    """Lower case, apostrophes dropped, any other run of non-alphanumerics one space, trimmed."""
    text = re.sub(r"['’]", "", str(text).casefold())
    return re.sub(r"[\W_]+", " ", text).strip()


def match_rank(query: str, label: str) -> int | None:
    """How well the folded ``query`` matches the folded ``label`` (``EXACT`` … ``ANYWHERE``); None: not at all."""
    if not query or query not in label:
        return None
    if label == query:
        return EXACT
    if re.search(rf"(?<!\w){re.escape(query)}(?!\w)", label):
        return WHOLE_WORDS
    if label.startswith(query):
        return NAME_START
    if re.search(rf"(?<!\w){re.escape(query)}", label):
        return WORD_START
    return ANYWHERE


def rank_classes(query: str, labels: Sequence[str]) -> list[int]:
    """The indices of the classes whose name contains ``query``, best match first (see the module note)."""
    wanted = fold(query)
    ranked = [(rank, index) for index, label in enumerate(labels)
              if (rank := match_rank(wanted, fold(label))) is not None]
    return [index for _, index in sorted(ranked)]


def resolve_class(text: str, labels: Sequence[str], backbone_title: str = "this backbone") -> int:
    """The class index ``text`` stands for: a number, a list entry ("cup · 968") or a name, searched.

    ``CamdemoError`` for a number out of range or a text that matches no class name.
    """
    text = str(text).strip()
    shown = _SHOWN_CHOICE.match(text)
    number = shown.group(1) if shown else text
    if re.fullmatch(r"[0-9]+", number):  # ASCII digits only: "²".isdigit() is True but int("²") fails
        if len(number) <= 6 and int(number) < len(labels):  # and int() refuses 5,000 digits
            return int(number)
        raise CamdemoError(f"{backbone_title} has classes 0 to {len(labels) - 1}; there is no class "
                           f"{number[:12]}{'…' if len(number) > 12 else ''}.")
    ranked = rank_classes(text, labels)
    if not ranked:
        raise CamdemoError(f"No class of {backbone_title} is called '{text}'. Type part of a class name, "
                           "or pick one from the list.")
    return ranked[0]


# Enter in the class box sends what was typed, not the first item of Gradio's filtered list (which
# keeps the list's order: "porcupine" before "cup"). The handler runs in the capture phase on
# ``window``, before Gradio's own keydown handler, and then takes the focus away: with
# ``allow_custom_value`` the dropdown then takes the typed text as its value and fires its ``input``
# event, exactly as clicking elsewhere does; the server resolves the text (``resolve_class``).
# Enter is left to Gradio when nothing was typed since the box got the focus, or when the arrow keys
# chose an item after the last keystroke.
CLASS_BOX_ID = "class-box"
ENTER_SENDS_TEXT = """<script>
(() => {
  const inClassBox = (node) => node instanceof HTMLInputElement && node.closest("#%(id)s") !== null;
  let typed = false, chose = false;
  window.addEventListener("focusin", (event) => {
    if (inClassBox(event.target)) { typed = false; chose = false; }
  }, true);
  window.addEventListener("input", (event) => {
    if (inClassBox(event.target)) { typed = true; chose = false; }
  }, true);
  window.addEventListener("keydown", (event) => {
    if (!inClassBox(event.target) || event.isComposing) return;
    if (["ArrowUp", "ArrowDown", "Home", "End"].includes(event.key)) { chose = true; return; }
    if (event.key !== "Enter" || !typed || chose || !event.target.value.trim()) return;
    event.stopImmediatePropagation();
    event.preventDefault();
    typed = false;
    event.target.blur();
  }, true);
})();
</script>""" % {"id": CLASS_BOX_ID}  # noqa: UP031  # braces are JavaScript here
