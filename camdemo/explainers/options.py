"""One declaration per method setting: name, default, kind, bounds or choices, label and help.

A method lists its settings once (``Method.declared_options``). Everything else is generated from that
list: the checks in ``Method.check_options``, the app's controls (``camdemo.app.options``), the command
line's ``--option`` help, parsing and ``list`` (``camdemo.cli``), and the README's table of settings
(``markdown_table``, regenerated with ``python -m camdemo list --markdown-options``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Protocol, Sequence

from ..errors import CamdemoError

Kind = Literal["int", "float", "choice", "bool"]
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """One method setting. ``low``/``high`` bound an int or float (inclusive; ``high=None``: no upper bound,
    only for settings the app does not show); ``choices`` are a choice's values; ``step`` is the app
    slider's step; ``in_app`` says whether the app shows a control for it (internal ones such as
    ``batch_size`` stay settable from Python and the command line)."""

    name: str
    default: Any
    kind: Kind
    label: str
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    step: float | None = None
    in_app: bool = True
    aliases: tuple[tuple[str, str], ...] = ()  # (another spelling, the choice it means), e.g. ("grey", "gray")

    def __post_init__(self) -> None:
        if self.kind in ("int", "float") and self.low is None:
            raise ValueError(f"Option '{self.name}' ({self.kind}) needs a lower bound.")
        if self.in_app and self.kind in ("int", "float") and self.high is None:
            raise ValueError(f"Option '{self.name}' is shown in the app, so it needs an upper bound for the slider.")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Option '{self.name}' is a choice without choices.")
        try:
            valid = self.convert(self.default, "declaration") == self.default
        except CamdemoError:
            valid = False
        if not valid:
            raise ValueError(f"Option '{self.name}': the default {self.default!r} is not one of its own values.")

    @property
    def slider_step(self) -> float:
        """The app slider's step: the declared one, else 1 for whole numbers and 0.01 for fractions."""
        return self.step if self.step is not None else (1 if self.kind == "int" else 0.01)

    def allowed(self) -> str:
        """The values this setting takes, for people: "2 to 1024", "0 or more", "black, gray or white"."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return self.choices[0] if len(self.choices) == 1 else \
                f"{', '.join(self.choices[:-1])} or {self.choices[-1]}"
        assert self.low is not None  # every number has one (__post_init__)
        low = _number(self.low, self.kind)
        return f"{low} or more" if self.high is None else f"{low} to {_number(self.high, self.kind)}"

    def convert(self, value: Any, method_title: str) -> Any:
        """``value`` as this setting's kind (text from a command line too), or ``CamdemoError`` naming the
        method, the setting and the values it takes."""
        converted = _CONVERTERS[self.kind](value, self)
        if converted is None:
            raise CamdemoError(f"{possessive(method_title)} {self.name} must be {self._what()}; got {value!r}.")
        return converted

    def _what(self) -> str:
        kinds = {"int": "a whole number", "float": "a number", "bool": "true or false", "choice": "one of"}
        if self.kind == "choice":
            return f"one of: {', '.join(self.choices)}"
        if self.kind == "bool":
            return kinds["bool"]
        return f"{kinds[self.kind]} from {self.allowed()}"


def possessive(title: str) -> str:
    """"Occlusion's", "Integrated Gradients'"."""
    return f"{title}'" if title.endswith("s") else f"{title}'s"


def _number(value: float, kind: Kind) -> str:
    return f"{int(value)}" if kind == "int" else f"{value:g}"


def _within(value: float, option: Option) -> bool:
    low = -math.inf if option.low is None else option.low
    return low <= value and (option.high is None or value <= option.high)


def _to_int(value: Any, option: Option) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if any(c in value for c in ".eE") else int(value.strip())
        except ValueError:
            return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    number = float(value)
    if not math.isfinite(number) or number != int(number):
        return None  # 16.0 from a slider is 16; 16.5 is refused rather than rounded
    return int(number) if _within(int(number), option) else None


def _to_float(value: Any, option: Option) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and _within(number, option) else None


def _to_choice(value: Any, option: Option) -> str | None:
    text = value.strip() if isinstance(value, str) else value
    text = dict(option.aliases).get(text, text) if isinstance(text, str) else text
    return text if text in option.choices else None


def _to_bool(value: Any, option: Option) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    return None


_CONVERTERS = {"int": _to_int, "float": _to_float, "choice": _to_choice, "bool": _to_bool}


def batch_size_option(what: str = "images") -> Option:
    """The internal batch size shared by the multi-pass methods: how many ``what`` go through the network at once."""
    return Option("batch_size", 8, "int", "batch size",
                  f"How many {what} go through the network in one pass (8 is fastest on a 2-core CPU, measured).",
                  low=1, high=512, in_app=False)


def unknown_options_message(method_title: str, unknown: Iterable[str], declared: Sequence[Option]) -> str:
    """The refusal of settings a method does not have, listing the ones it has."""
    names = ", ".join(f"'{name}'" for name in sorted(unknown))
    if not declared:
        return f"{method_title} has no settings, so {names} cannot be set."
    return f"{method_title} has no setting {names}. Its settings are: {', '.join(o.name for o in declared)}."


class MethodWithOptions(Protocol):
    """What ``markdown_table`` reads from each method (``camdemo.methods()`` entries qualify)."""

    @property
    def title(self) -> str: ...

    @property
    def options(self) -> tuple[Option, ...]: ...


def markdown_table(methods: Iterable[MethodWithOptions]) -> str:
    """The README's table of method settings, one row per setting, from the declarations."""
    rows = ["| method | setting | default | allowed | in the app | what it does |",
            "| --- | --- | --- | --- | --- | --- |"]
    without = []
    for method in methods:
        if not method.options:
            without.append(method.title)
        for option in method.options:
            default = str(option.default).lower() if option.kind == "bool" else option.default
            rows.append(f"| {method.title} | `{option.name}` | {default} | {option.allowed()} | "
                        f"{'yes' if option.in_app else 'no (Python, CLI)'} | {option.help} |")
    rows.append("")
    rows.append(f"No settings: {', '.join(without)}.")
    return "\n".join(rows)
