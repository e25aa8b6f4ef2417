"""Validation of API objects, with Kubernetes' field paths and wording.

What every side needs to speak of invalid input: field errors
(`FieldError`, `ErrorList`), the Invalid error built from them, whose
message is the line kubectl prints, e.g.

    The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: "Mybe":
    supported values: "Always", "OnFailure", "Never"

and whose `causes` are the single field errors; Kubernetes' name and key
syntax; and the small checks every kind's rules are built from. The rules of
each kind are the control plane's (controlplane.validation and each kind's
strategy); nothing here knows a kind.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podlab import errors
from podlab.quantity import parse_quantity

# ---------------------------------------------------------------- field errors

_NO_VALUE = object()


class Raw(str):
    """A value already in the form Kubernetes prints it (Go's %#v of a map or struct): shown as is."""


def show(value: Any) -> str:
    """A value as Kubernetes prints it in an error: strings quoted, numbers bare."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class FieldError:
    """One field's error; str() is Kubernetes' `path: Type: value: detail`."""

    path: str
    type: str  # "Required value", "Invalid value", ...
    value: Any = _NO_VALUE
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.type}"
        if self.value is not _NO_VALUE:
            text += f": {show(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text


class ErrorList(list[FieldError]):
    """Field errors in the order found, with one constructor per Kubernetes error type."""

    def required(self, path: str, detail: str = "") -> None:
        self.append(FieldError(path, "Required value", detail=detail))

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.append(FieldError(path, "Invalid value", value, detail))

    def unsupported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        values = ", ".join(show(s) for s in supported)
        self.append(FieldError(path, "Unsupported value", value, f"supported values: {values}"))

    def duplicate(self, path: str, value: Any) -> None:
        self.append(FieldError(path, "Duplicate value", value))

    def not_found(self, path: str, value: Any) -> None:
        self.append(FieldError(path, "Not found", value))

    def forbidden(self, path: str, detail: str) -> None:
        self.append(FieldError(path, "Forbidden", detail=detail))

    def too_long(self, path: str, limit: int) -> None:
        self.append(FieldError(path, "Too long", detail=f"may not be more than {limit} bytes"))


def invalid(kind: str, name: str, errs: Sequence[FieldError | str]) -> errors.Invalid:
    """The Invalid error Kubernetes returns for `errs` on object `kind`/`name`."""
    causes = [str(e) for e in errs]
    body = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
    return errors.Invalid(f'The {kind} "{name}" is invalid: {body}', causes, kind, name)


# ---------------------------------------------------------------- name syntax

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = rf"{DNS1123_LABEL}(\.{DNS1123_LABEL})*"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = rf"({_QUALIFIED_NAME})?"
_ENV_NAME = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
HTTP_HEADER = "[-A-Za-z0-9]+"


def _full(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda text: compiled.fullmatch(text) is not None


_is_label = _full(DNS1123_LABEL)
_is_subdomain = _full(DNS1123_SUBDOMAIN)
_is_qualified = _full(_QUALIFIED_NAME)
_is_label_value = _full(_LABEL_VALUE)
_is_env_name = _full(_ENV_NAME)
_is_config_key = _full(_CONFIG_KEY)
is_http_header = _full(HTTP_HEADER)


def _syntax_rule(check: Callable[[str], list[str]]) -> Callable[[str], tuple[str, ...]]:
    """A rule on a name's syntax, memoized: names, label keys and values repeat across objects."""
    return functools.wraps(check)(functools.lru_cache(maxsize=4096)(lambda value: tuple(check(value))))


@_syntax_rule
def dns1123_label_errors(value: str) -> list[str]:
    """Why `value` is not an RFC 1123 label (namespace, container name); [] when it is."""
    out = []
    if len(value) > 63:
        out.append("must be no more than 63 characters")
    if not _is_label(value):
        out.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            f"'123-abc', regex used for validation is '{DNS1123_LABEL}')")
    return out


@_syntax_rule
def dns1123_subdomain_errors(value: str) -> list[str]:
    """Why `value` is not an RFC 1123 subdomain (pod, node, configmap name); [] when it is."""
    out = []
    if len(value) > 253:
        out.append("must be no more than 253 characters")
    if not _is_subdomain(value):
        out.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            f"'{DNS1123_SUBDOMAIN}')")
    return out


@_syntax_rule
def qualified_name_errors(value: str) -> list[str]:
    """Why `value` is not a qualified name ("app", "example.com/app"): label and taint keys."""
    prefix, slash, name = value.rpartition("/")
    out: list[str] = []
    if slash:
        if not prefix:
            out.append("prefix part must be non-empty")
        else:
            out.extend("prefix part " + e for e in dns1123_subdomain_errors(prefix))
    if not name:
        return [*out, "name part must be non-empty"]
    if len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if not _is_qualified(name):
        out.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{_QUALIFIED_NAME}')")
    return out


@_syntax_rule
def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a label value; [] when it is (the empty string is one)."""
    out = []
    if len(value) > 63:
        out.append("must be no more than 63 characters")
    if not _is_label_value(value):
        out.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. "
            "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            f"'{_LABEL_VALUE}')")
    return out


@_syntax_rule
def port_name_errors(value: str) -> list[str]:
    """Why `value` is not an IANA_SVC_NAME (a container port name); [] when it is."""
    out = []
    if len(value) > 15:
        out.append("must be no more than 15 characters")
    if not re.fullmatch("[-a-z0-9]+", value):
        out.append("must contain only alphanumeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        out.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", value):
        out.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


@_syntax_rule
def env_name_errors(value: str) -> list[str]:
    if _is_env_name(value):
        return []
    return [
        "a valid environment variable name must consist of alphabetic characters, digits, '_', "
        "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  "
        f"or 'MyEnvName1', regex used for validation is '{_ENV_NAME}')"]


@_syntax_rule
def config_key_errors(value: str) -> list[str]:
    """Why `value` is not a ConfigMap/Secret key; [] when it is."""
    out = []
    if len(value) > 253:
        out.append("must be no more than 253 characters")
    if not _is_config_key(value):
        out.append(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
            f"'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            f"'{_CONFIG_KEY}')")
    if value == ".":
        out.append("must not be '.'")
    elif value == "..":
        out.append("must not be '..'")
    elif value.startswith(".."):
        out.append("must not start with '..'")
    return out


def check(errs: ErrorList, path: str, value: str, check: Callable[[str], Sequence[str]]) -> None:
    for detail in check(value):
        errs.invalid(path, value, detail)


def enum(errs: ErrorList, path: str, value: str, supported: Sequence[str],
          required: bool = False) -> None:
    if not value:
        if required:
            errs.required(path)
        return
    if value not in supported:
        errs.unsupported(path, value, supported)


def non_negative(errs: ErrorList, path: str, value: int) -> None:
    if value < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")


def port_number(errs: ErrorList, path: str, value: int) -> None:
    if not 1 <= value <= 65535:
        errs.invalid(path, value, "must be between 1 and 65535, inclusive")


def relative_path(errs: ErrorList, path: str, value: str) -> None:
    if value.startswith("/"):
        errs.invalid(path, value, "must be a relative path")
    if ".." in value.split("/"):
        errs.invalid(path, value, "must not contain '..'")


def quantity(errs: ErrorList, path: str, value: str) -> Any:
    try:
        quantity = parse_quantity(value)
    except ValueError as err:
        errs.invalid(path, value, str(err))
        return None
    if quantity < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")
        return None
    return quantity




@functools.lru_cache(maxsize=1024)
def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)



def go_strings(values: Iterable[str]) -> Raw:
    """A []string as Go's %#v prints it: []string{"a", "b"}."""
    return Raw("[]string{" + ", ".join(json.dumps(v) for v in values) + "}")



def labels(errs: ErrorList, path: str, mapping: Mapping[str, str]) -> None:
    """Label keys must be qualified names and values label values (also node selectors)."""
    for key, value in sorted(mapping.items()):
        check(errs, path, key, qualified_name_errors)
        check(errs, path, value, label_value_errors)

