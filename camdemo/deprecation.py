"""Old ways of calling the public API that keep working for one release, with a ``DeprecationWarning``.

Settings come after the image, by keyword (``camdemo.explain(image, backbone="resnet50", method="cam")``).
Code written for the older signatures passed them by position (``camdemo.explain(image, "resnet50", "cam")``)
or under names that now mean one thing only (faithfulness ``steps`` became ``increments``). The decorator
``keyword_settings`` maps such calls onto the new signature and says how to write them now.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, Mapping, TypeVar

Function = TypeVar("Function", bound=Callable[..., Any])


def keyword_settings(*old_positions: str, renamed: Mapping[str, str] | None = None) -> Callable[[Function], Function]:
    """Accept, with a ``DeprecationWarning``, settings passed by position and keywords under their old names.

    ``old_positions`` are the old signature's positional settings after the leading arguments (the image),
    in their old order, under their old names; ``renamed`` maps an old keyword to the new one.
    """
    renamed = dict(renamed or {})

    def decorate(function: Function) -> Function:
        leading = sum(1 for p in inspect.signature(function).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        name = function.__qualname__

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > leading:
                extra = args[leading:]
                if len(extra) > len(old_positions):
                    raise TypeError(f"{name}() takes at most {leading + len(old_positions)} positional arguments "
                                    f"({len(args)} given)")
                olds = old_positions[:len(extra)]
                _warn(f"passing {', '.join(olds)} to {name}() by position is deprecated; pass "
                      + ", ".join(f"{renamed.get(old, old)}=..." for old in olds) + " by keyword")
                for old, value in zip(olds, extra):
                    _put(kwargs, renamed.get(old, old), value, name)
                args = args[:leading]
            for old, new in renamed.items():
                if old in kwargs:
                    _warn(f"{name}({old}=...) is deprecated; its name is now {new}=...")
                    _put(kwargs, new, kwargs.pop(old), name)
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def retired_style(function: str, colormap: str | None, opacity: float | None) -> dict[str, Any]:
    """The style settings an evaluation function was given, as ``explain`` keywords, with a warning if any.

    Evaluation computes maps and never draws them, so these settings are deprecated there; for this release
    they still style the returned explanations (drawn only when ``.overlay`` is read). Call it directly from
    a function decorated with ``keyword_settings``, so that the warning names the user's line.
    """
    style = {key: value for key, value in (("colormap", colormap), ("opacity", opacity)) if value is not None}
    if style:
        warnings.warn(f"{function}({'=..., '.join(style)}=...) is deprecated and will be removed: evaluation does "
                      "not draw; draw a result with result.restyled(colormap=..., opacity=...).overlay",
                      DeprecationWarning, stacklevel=4)
    return style


def _put(kwargs: dict[str, Any], key: str, value: Any, function: str) -> None:
    if key in kwargs:
        raise TypeError(f"{function}() got multiple values for argument '{key}'")
    kwargs[key] = value


def _warn(message: str) -> None:
    warnings.warn(message, DeprecationWarning, stacklevel=3)  # the caller of the decorated function
