"""One declaration per method setting: validation, the command line and the README's table all follow it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import camdemo
from camdemo import cli
from camdemo.explainers import METHODS, Option, SmoothGrad
from camdemo.explainers.options import markdown_table

ROOT = Path(__file__).resolve().parents[1]
DECLARED = [(name, option) for name, method in METHODS.items() for option in method.declared_options]
IDS = [f"{name}.{option.name}" for name, option in DECLARED]
BAD_TYPE = {"int": "many", "float": "lots", "choice": 42, "bool": "maybe"}


def _refusal(method: str, options: dict) -> str:
    with pytest.raises(camdemo.CamdemoError) as refused:
        METHODS[method].check_options(options)
    return str(refused.value)


@pytest.mark.parametrize("method, option", DECLARED, ids=IDS)
def test_a_value_of_the_wrong_type_is_refused_naming_the_method_and_the_setting(method, option):
    message = _refusal(method, {option.name: BAD_TYPE[option.kind]})
    assert METHODS[method].title in message and option.name in message


@pytest.mark.parametrize("method, option", [(m, o) for m, o in DECLARED if o.kind in ("int", "float")],
                         ids=[i for i, (_, o) in zip(IDS, DECLARED) if o.kind in ("int", "float")])
def test_numbers_outside_the_declared_bounds_are_refused_with_the_range(method, option):
    below = option.low - (1 if option.kind == "int" else 0.001)
    message = _refusal(method, {option.name: below})
    assert option.name in message and option.allowed() in message
    if option.high is not None:
        assert option.allowed() in _refusal(method, {option.name: option.high + 1})
    if option.kind == "int":
        assert "whole number" in _refusal(method, {option.name: option.low + 0.5})  # refused, not rounded


@pytest.mark.parametrize("method, option", [(m, o) for m, o in DECLARED if o.kind == "choice"],
                         ids=[i for i, (_, o) in zip(IDS, DECLARED) if o.kind == "choice"])
def test_a_value_outside_the_declared_choices_is_refused_listing_them(method, option):
    message = _refusal(method, {option.name: "nonsense"})
    assert option.name in message and all(choice in message for choice in option.choices)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_unknown_settings_are_refused_listing_the_declared_ones(method):
    message = _refusal(method, {"stepz": 3})
    assert "'stepz'" in message and METHODS[method].title in message
    assert all(option.name in message for option in METHODS[method].declared_options)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_defaults_come_from_the_declaration_and_pass_their_own_check(method):
    explainer = METHODS[method]
    assert dict(explainer.option_defaults) == {option.name: option.default for option in explainer.declared_options}
    assert explainer.check_options(None) == dict(explainer.option_defaults)
    assert explainer.check_options({name: None for name in explainer.option_defaults}) == dict(
        explainer.option_defaults)  # None: the default (the app sends None for a control it does not have)


def test_values_are_converted_to_the_declared_kind():
    assert METHODS["integrated_gradients"].check_options({"steps": 16.0, "adaptive": "yes", "tolerance": "0.5"}) \
        == {**METHODS["integrated_gradients"].option_defaults, "steps": 16, "adaptive": True, "tolerance": 0.5,
            "max_steps": 256}
    assert METHODS["smoothgrad"].check_options({"noise": 1})["noise"] == 1.0
    assert isinstance(METHODS["smoothgrad"].check_options({"noise": 1})["noise"], float)


def test_the_old_spelling_of_a_choice_still_means_it():
    """camdemo spells American since 0.2; Integrated Gradients' "grey" baseline from older code is "gray"."""
    assert METHODS["integrated_gradients"].check_options({"baseline": "grey"})["baseline"] == "gray"
    assert cli.parse_options(["baseline=grey"], "integrated_gradients") == {"baseline": "gray"}


def test_cross_setting_rules_stay_with_their_method():
    assert "stride (32 px) must not exceed the patch size (16 px)" in _refusal("occlusion", {"patch": 16, "stride": 32})
    checked = METHODS["integrated_gradients"].check_options({"steps": 512, "adaptive": True})
    assert checked["max_steps"] == 512  # raised to the steps asked for (the default 256 is lower)


def test_every_declaration_is_complete_for_the_app_and_the_docs():
    for name, option in DECLARED:
        assert option.label and option.help.endswith(".") and "|" not in option.help, (name, option.name)
        if option.in_app and option.kind in ("int", "float"):
            assert option.low is not None and option.high is not None
    with pytest.raises(ValueError, match="default"):
        Option("steps", 1, "int", "steps", "Steps.", low=2, high=8)


def test_smoothgrad_declares_the_methods_it_can_wrap():
    (base,) = [option for option in SmoothGrad.declared_options if option.name == "base"]
    assert base.choices == tuple(METHODS["smoothgrad"].bases)


def test_the_catalog_carries_the_declarations():
    infos = {info.name: info for info in camdemo.methods()}
    assert infos["integrated_gradients"].options == METHODS["integrated_gradients"].declared_options
    assert infos["integrated_gradients"].cost == "1 forward + 1 backward per step"
    assert infos["cam"].options == () and infos["cam"].cost == "1 forward"


# --- the command line -------------------------------------------------------------------------------


def test_command_line_values_take_the_declared_kind():
    assert cli.parse_options(["steps=64", "baseline=gray", "adaptive=yes", "tolerance=0.5"],
                             "integrated_gradients") == {"steps": 64, "baseline": "gray", "adaptive": True,
                                                         "tolerance": 0.5}
    options = cli.parse_options(["noise=1", "base=integrated_gradients"], "smoothgrad")
    assert options == {"noise": 1.0, "base": "integrated_gradients"} and isinstance(options["noise"], float)
    assert cli.parse_options(["baseline=200"], "occlusion") == {"baseline": 200}  # occlusion's gray level: a number
    with pytest.raises(camdemo.CamdemoError, match="Occlusion's patch must be a whole number from 1 to 256"):
        cli.parse_options(["patch=big"], "occlusion")
    assert cli.parse_options(["stepz=3"], "integrated_gradients") == {"stepz": "3"}  # left for explain to refuse


def test_the_option_help_lists_every_methods_settings():
    help_text = cli.options_help()
    for info in camdemo.methods():
        if info.options:
            assert f"{info.name}: {', '.join(option.name for option in info.options)}" in help_text


def test_list_shows_each_setting_with_its_allowed_values(capsys):
    assert cli.main(["list", "shapes_gapnet"]) == 0
    text = capsys.readouterr().out
    assert "[steps=128 (2 to 1024), baseline=black (black, white or gray), adaptive=false (true or false)" in text
    assert "noise=0.15 (0 to 1)" in text and "channels=256 (0 to 2048)" in text


# --- the README's table ----------------------------------------------------------------------------


def test_the_readme_table_of_settings_is_the_generated_one(capsys):
    """Regenerate with ``python -m camdemo list --markdown-options`` and paste between the markers."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- method-options:start -->(.*?)<!-- method-options:end -->", readme, re.S)
    assert block, "README.md has no <!-- method-options:start/end --> block"
    table = block.group(1)[block.group(1).index("| method | setting"):].strip()
    assert table == markdown_table(camdemo.methods()), \
        "README's method settings are out of date: run `python -m camdemo list --markdown-options`"
    assert cli.main(["list", "--markdown-options"]) == 0
    assert capsys.readouterr().out.strip() == table
