"""The class search: a typed name means the best-matching class, not the first in the list that contains it."""

from __future__ import annotations

import pytest

import camdemo
from camdemo.errors import CamdemoError
from camdemo.app.classes import (ANYWHERE, EXACT, NAME_START, WHOLE_WORDS, WORD_START, fold, match_rank,
                                rank_classes, resolve_class)

IMAGENET = camdemo.class_names("efficientnet_lite0")


def test_the_whole_name_comes_first():
    """'cup' is in porcupine (334), measuring cup (647) and cup (968); the list order put porcupine first."""
    assert [i for i, label in enumerate(IMAGENET) if "cup" in label] == [334, 647, 968]  # what Gradio filters
    assert rank_classes("cup", IMAGENET) == [968, 647, 334]
    assert resolve_class("cup", IMAGENET) == 968
    assert resolve_class("Espresso", IMAGENET) == 967  # not 550, "espresso maker"


def test_a_whole_word_beats_the_start_of_a_name_and_a_part_of_a_word():
    """'cat': the five '… cat' classes by index, then catamaran (name start), then oystercatcher, polecat."""
    assert rank_classes("cat", IMAGENET) == [282, 283, 284, 285, 383, 484, 143, 358]
    assert IMAGENET[resolve_class("cat", IMAGENET)] == "tiger cat"
    assert rank_classes("sheep", IMAGENET) == [229, 230]  # "Old English sheepdog", "Shetland sheepdog"


@pytest.mark.parametrize("query, label, rank", [
    ("cup", "cup", EXACT),
    ("cup", "measuring cup", WHOLE_WORDS),
    ("tiger cat", "a tiger cat toy", WHOLE_WORDS),
    ("cata", "catamaran", NAME_START),
    ("dog", "dogsled", NAME_START),
    ("sheep", "old english sheepdog", WORD_START),
    ("cat", "oystercatcher", ANYWHERE),
    ("cat", "polecat", ANYWHERE),
    ("cow", "tiger cat", None),
    ("", "tiger cat", None),
])
def test_match_ranks(query, label, rank):
    assert match_rank(query, label) == rank


def test_punctuation_and_case_do_not_matter():
    assert fold("  Jack-o'-Lantern ") == "jack o lantern"
    assert IMAGENET[resolve_class("shih tzu", IMAGENET)] == "Shih-Tzu"
    assert IMAGENET[resolve_class("jack o lantern", IMAGENET)] == "jack-o'-lantern"
    assert IMAGENET[resolve_class("carpenters kit", IMAGENET)] == "carpenter's kit"


def test_numbers_and_list_entries_are_indices():
    assert resolve_class("968", IMAGENET) == 968
    assert resolve_class(" 7 ", IMAGENET) == 7
    assert resolve_class("espresso · 967", IMAGENET) == 967  # the text of a list entry
    with pytest.raises(CamdemoError, match="classes 0 to 999; there is no class 1000"):
        resolve_class("1000", IMAGENET)
    with pytest.raises(CamdemoError, match="No class of EfficientNet-Lite0 is called 'unicorn'"):
        resolve_class("unicorn", IMAGENET, "EfficientNet-Lite0")


def test_the_app_resolves_a_typed_class_for_its_backbone():
    import gradio as gr

    from camdemo.app.inputs import class_of
    from camdemo.app.views import AUTO_CLASS

    assert class_of("cup", "efficientnet_lite0") == 968
    assert class_of("968", "efficientnet_lite0") == 968
    assert class_of(AUTO_CLASS, "efficientnet_lite0") is None
    assert class_of("star", "shapes_gapnet") == camdemo.class_names("shapes_gapnet").index("star")
    with pytest.raises(gr.Error, match="No class of"):
        class_of("cup", "shapes_gapnet")


@pytest.mark.parametrize("text", ["²", "٣", "9" * 5000])
def test_odd_digits_get_a_sentence_not_a_python_error(text):
    with pytest.raises(CamdemoError) as refused:
        resolve_class(text, IMAGENET)
    assert "int()" not in str(refused.value) and len(str(refused.value)) < 300
