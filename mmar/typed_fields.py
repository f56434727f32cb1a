"""A dataclass's field values checked against their type hints and lower bounds, every problem in one message.

Settings reach the code from YAML (``mmar/profiles.yaml``), from ``--set KEY=VALUE`` and from papermill
parameters, so nothing has checked their types: ``--set 06_evaluation.train.epochs=abc`` or ``n_trials=-1``
should stop before any work, with the setting's name, what it takes and what it got, instead of failing
deep inside a notebook minutes later. :func:`field_problems` understands the hints the settings use:
``int``, ``float`` (an integer is accepted), ``bool``, ``str``, ``X | None``, ``list[X]``, ``tuple[X, ...]``,
``dict[K, V]`` and ``Any``; numpy scalars count as the Python numbers they stand for, booleans never do.
"""

from __future__ import annotations

import functools
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any

_SINGULAR = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
_PLURAL = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """The evaluated type hints of ``cls``'s fields (annotations written as strings included)."""
    return typing.get_type_hints(cls)


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of type ``hint`` (see the module docstring for the hints understood)."""
    if hint is Any:
        return True
    if _is_union(hint):
        return any(matches(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(matches(item, args[0]) for item in value)
    if origin in (dict, Mapping):
        return isinstance(value, Mapping) and all(matches(k, args[0]) and matches(v, args[1])
                                                  for k, v in value.items())
    return isinstance(value, hint)


def describe(hint: Any) -> str:
    """What a value of ``hint`` is, in words: ``an integer or null``, ``a list of numbers``."""
    if hint is Any:
        return "any value"
    if _is_union(hint):
        return " or ".join(describe(arm) for arm in typing.get_args(hint))
    if hint in _SINGULAR:
        return _SINGULAR[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple):
        return f"a list of {_PLURAL.get(args[0], 'values')}"
    if origin in (dict, Mapping):
        return "a mapping"
    return f"a {getattr(hint, '__name__', hint)}"


def _numbers_below(value: Any, minimum: float) -> list[Any]:
    """The numbers in ``value`` (a number, or a list of them) that are below ``minimum``."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [x for x in items if isinstance(x, numbers.Real) and not isinstance(x, bool) and x < minimum]


def field_problems(cls: type, values: Mapping[str, Any], owner: str,
                   minimums: Mapping[str, float] | None = None) -> list[str]:
    """One line per value of ``values`` (field name -> value of dataclass ``cls``) that does not match its
    field's type hint, or that is (or holds, for a list) a number below its entry in ``minimums``:
    ``owner.name must be an integer, got 'abc' (str)``. Empty when all is well."""
    hints = type_hints(cls)
    problems = []
    for name, value in values.items():
        hint = hints[name]
        if not matches(value, hint):
            problems.append(f"{owner}.{name} must be {describe(hint)}, got {value!r} ({type(value).__name__})")
        elif minimums and name in minimums and _numbers_below(value, minimums[name]):
            each = " each" if isinstance(value, (list, tuple)) else ""
            problems.append(f"{owner}.{name} must be at least {minimums[name]}{each}, got {value!r}")
    return problems
