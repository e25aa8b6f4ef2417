"""kubectl's --sort-by: objects in the order of the value one JSONPath picks from each.

Values compare as kubectl's sorter (pkg/cmd/get/sorter.go) compares them:
numbers numerically; strings in natural order ("pod-2" before "pod-10"),
or as quantities when both are ("500m" before "1"); and an object without
the field before every object with it. Timestamps compare chronologically.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from google.protobuf.message import Message

from podctl._objects import to_dict
from podctl.templates import TemplateError, eval_path, relaxed_path
from podlab.quantity import parse_quantity

M = TypeVar("M", bound=Message)

_MISSING = object()


def sort_objects(objs: Sequence[M], field: str) -> list[M]:
    """`objs` ordered by `field`, a relaxed JSONPath (".metadata.name", "{.spec.nodeName}").

    The sort is stable, so objects with equal values keep their order, and a
    path no object has leaves the list as it is: podlab's objects omit zero
    values (a restartCount of 0, an empty string), so "no object has it"
    cannot tell a mistyped path from a field that is zero everywhere.
    Raises TemplateError for a malformed path, or for values kubectl cannot
    compare (booleans, maps, lists, a number against a string).
    """
    path = relaxed_path(field)
    values = [_first(path, obj) for obj in objs]

    def by_value(i: int, j: int) -> int:
        return _compare(path, values[i], values[j])

    return [objs[i] for i in sorted(range(len(objs)), key=functools.cmp_to_key(by_value))]


def _first(path: str, obj: Message) -> Any:
    values = eval_path(path, to_dict(obj))
    return values[0] if values else _MISSING


def _compare(path: str, a: Any, b: Any) -> int:
    a_missing, b_missing = a is _MISSING or a is None, b is _MISSING or b is None
    if a_missing or b_missing:
        return int(b_missing) - int(a_missing)
    x, y = _comparable(path, a, b)
    return (x > y) - (x < y)


def _comparable(path: str, a: Any, b: Any) -> tuple[Any, Any]:
    """`a` and `b` as values Python orders the way kubectl's isLess orders them."""
    if _is_number(a) and _is_number(b):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return _string_keys(a, b)
    types = " and ".join(sorted({_go_type(a), _go_type(b)}))
    raise TemplateError(f"Field {{{path}}} is an unsortable type: {types}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _string_keys(a: str, b: str) -> tuple[Any, Any]:
    times = _timestamp(a), _timestamp(b)
    if times[0] is not None and times[1] is not None:
        return times
    quantities = _quantity(a), _quantity(b)
    if quantities[0] is not None and quantities[1] is not None:
        return quantities
    return natural_key(a), natural_key(b)


# Lease times keep a variable number of fraction digits, so a plain string
# comparison would put 12:00:00.5Z before 12:00:00Z.
_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")


def _timestamp(text: str) -> tuple[str, Decimal] | None:
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    return m.group(1), Decimal("0." + (m.group(2) or "0"))


def _quantity(text: str) -> Decimal | None:
    try:
        return parse_quantity(text)
    except ValueError:
        return None


_RUN = re.compile(r"[0-9]+|[^0-9]")


def natural_key(text: str) -> list[tuple[Any, ...]]:
    """A key for kubectl's natural string order (sortorder.NaturalLess).

    A run of digits compares by its number, ahead of any other character, with
    fewer leading zeros first ("2" < "02"); other characters compare as they are.
    """
    key: list[tuple[Any, ...]] = []
    for run in _RUN.findall(text):
        if run[0].isascii() and run[0].isdigit():
            digits = run.lstrip("0")
            key.append((0, len(digits), digits, len(run) - len(digits)))
        else:
            key.append((1, run))
    return key


# The Go type kubectl names for a JSON value; bool before int, as a bool is an int here.
_GO_TYPES = ((bool, "bool"), (dict, "map[string]interface {}"), (list, "[]interface {}"),
             (int, "int64"), (float, "float64"), (str, "string"))


def _go_type(value: Any) -> str:
    """The Go type kubectl would name for a JSON value."""
    return next((name for kind, name in _GO_TYPES if isinstance(value, kind)), type(value).__name__)
