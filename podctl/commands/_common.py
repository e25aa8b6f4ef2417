"""Helpers shared by several commands: resource arguments, output, file loading."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from google.protobuf.message import Message

from podctl import _objects, columns
from podctl._base import CliError
from podctl.templates import TemplateError, go_template, jsonpath
from podlab import errors
from podlab.kinds import Kind, kind_for_resource, kind_of, meta


def resolve_kind(resource: str) -> Kind:
    try:
        return kind_for_resource(resource)
    except errors.BadRequest as err:
        raise CliError(err.message, raw=False) from None


def split_refs(resource: str, names: Sequence[str]) -> list[tuple[Kind, str]]:
    """(kind, name) pairs from `pods a b` or `pod/a node/b` arguments."""
    if "/" in resource:
        refs = []
        for arg in (resource, *names):
            if "/" not in arg:
                raise CliError("there is no need to specify a resource type as a separate "
                               "argument when passing arguments in resource/name form")
            res, _, name = arg.partition("/")
            refs.append((resolve_kind(res), name))
        return refs
    kind = resolve_kind(resource)
    return [(kind, name) for name in names]


def resource_word(kind: Kind) -> str:
    """How kubectl names a kind in its output: pod, deployment.apps, lease.coordination.k8s.io."""
    group = kind.api_version.rpartition("/")[0]
    return f"{kind.name.lower()}.{group}" if group else kind.name.lower()


def ref_name(obj: Message) -> str:
    """kubectl's -o name form: pod/x, deployment.apps/x."""
    return f"{resource_word(kind_of(obj))}/{meta(obj).name}"


def quoted_ref(obj: Message) -> str:
    """kubectl's deletion form: pod "x", deployment.apps "x"."""
    return f'{resource_word(kind_of(obj))} "{meta(obj).name}"'


def load_files(paths: Sequence[str]) -> list[tuple[str, Message]]:
    """Every object in the -f arguments, in order; one-line errors for bad input."""
    if not paths:
        raise CliError("must specify one of -f and -k")
    loaded: list[tuple[str, Message]] = []
    for path in paths:
        if path != "-" and not os.path.exists(path):
            raise CliError(f'the path "{path}" does not exist')
        try:
            loaded.extend(_objects.load_path(path))
        except errors.ApiError as err:
            message = err.message if path in err.message else f"error parsing {path}: {err.message}"
            raise CliError(message) from None
        except Exception as err:  # the manifest loader's own errors: one line, no traceback
            message = " ".join(str(err).split()) or type(err).__name__
            if path not in message:
                message = f"error parsing {path}: {message}"
            raise CliError(message) from None
    if not loaded:
        raise CliError("no objects passed to apply")
    return loaded


def namespace_of(obj: Message, default: str) -> str:
    if not kind_of(obj).namespaced:
        return ""
    return obj.metadata.namespace or default


ALLOWED_FORMATS = sorted(("json", "yaml", "name", "go-template", "jsonpath", "wide", *columns.FORMATS))


def parse_output(output: str | None, template: str | None) -> tuple[str, str]:
    """(format, argument) from -o/--output and --template, kubectl's rules.

    The argument is the template of go-template/jsonpath, or the spec (or file)
    of custom-columns (custom-columns-file).
    """
    output = output or ""
    fmt, _, arg = output.partition("=")
    if not fmt and template:
        fmt = "go-template"
    if fmt in ("go-template", "jsonpath", "template"):
        arg = arg or template or ""
        if not arg:
            raise CliError("template format specified but no template given")
        fmt = "go-template" if fmt == "template" else fmt
    elif fmt in columns.FORMATS:
        arg = arg or template or ""
    elif fmt not in ("", "wide", "json", "yaml", "name"):
        raise CliError(f'unable to match a printer suitable for the output format "{output}", '
                       f"allowed formats are: {','.join(ALLOWED_FORMATS)}")
    return fmt, arg


@contextmanager
def template_errors() -> Iterator[None]:
    """A TemplateError (a bad path, column spec or sort) as the CliError `error: <reason>`."""
    try:
        yield
    except TemplateError as err:
        raise CliError(str(err)) from None


def render(fmt: str, template: str, data: dict[str, Any]) -> str:
    """The text of one json/yaml/template rendering of `data`."""
    if fmt == "json":
        return _objects.render_json(data)
    if fmt == "yaml":
        return _objects.render_yaml(data)
    try:
        if fmt == "jsonpath":
            return jsonpath(template, data)
        return go_template(template, data)
    except TemplateError as err:
        raise CliError(f"error executing template {template!r}: {err}") from None
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise CliError(f"error executing {fmt} {template!r}: {err}") from None
