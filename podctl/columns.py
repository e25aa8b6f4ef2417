"""kubectl's `-o custom-columns=SPEC` and `-o custom-columns-file=FILE`.

SPEC is `HEADER:PATH[,HEADER:PATH...]`; FILE holds a line of headers and a
line of paths below it, each whitespace-separated, as kubectl reads it:

    NAME          IP
    .metadata.name .status.podIP

A PATH is a relaxed JSONPath (`.metadata.name`, `{.status.podIP}`) evaluated
by podctl.templates; a cell shows every value it selects, comma-separated,
or <none>. The table is aligned as `get`'s own tables are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podctl.templates import TemplateError, eval_path, go_sprint, relaxed_path
from podlab.printers import NONE, format_table

FORMATS = ("custom-columns", "custom-columns-file")

_FILE_FORMAT = "Expected format is one line of space separated headers, one line of space separated column specs."


@dataclass(frozen=True)
class Column:
    header: str
    path: str  # "" selects nothing, as kubectl's empty field spec does


def load(fmt: str, argument: str) -> tuple[Column, ...]:
    """The columns `-o FMT=ARGUMENT` asks for. Raises TemplateError with kubectl's messages."""
    if not argument:
        raise TemplateError("custom-columns format specified but no custom columns given")
    if fmt == "custom-columns-file":
        return read_file(argument)
    return parse_spec(argument)


def parse_spec(spec: str) -> tuple[Column, ...]:
    """Columns from `NAME:.metadata.name,IP:.status.podIP`."""
    columns = []
    for part in spec.split(","):
        header, colon, expression = part.partition(":")
        if not colon:
            raise TemplateError(f"unexpected custom-columns spec: {part}, "
                                "expected <header>:<json-path-expr>")
        columns.append(Column(header, _path(expression)))
    return tuple(columns)


def read_file(path: str) -> tuple[Column, ...]:
    """Columns from a file of two lines: the headers, then their paths."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise TemplateError(f"error reading template {path}, open {path}: {reason}") from None
    if not lines:
        raise TemplateError(f"invalid template, missing header line. {_FILE_FORMAT}")
    if len(lines) < 2:
        raise TemplateError(f"invalid template, missing spec line. {_FILE_FORMAT}")
    headers, paths = lines[0].split(), lines[1].split()
    if len(headers) != len(paths):
        raise TemplateError(f"number of headers ({len(headers)}) and field specifications "
                            f"({len(paths)}) don't match")
    return tuple(Column(h, _path(p)) for h, p in zip(headers, paths, strict=True))


def _path(expression: str) -> str:
    return relaxed_path(expression) if expression else ""


def cell(column: Column, item: dict[str, Any]) -> str:
    """What `column` shows for `item`: its values as Go prints them, comma-joined, or <none>."""
    values = eval_path(column.path, item) if column.path else []
    if not values:
        return NONE
    return ",".join(go_sprint(v) for v in values)


def print_columns(columns: Sequence[Column], items: Sequence[dict[str, Any]],
                  headers: bool = True) -> str:
    """The table; with `headers` its header line is printed even when there are no items."""
    rows = [[cell(c, item) for c in columns] for item in items]
    return format_table([c.header for c in columns] if headers else None, rows)
