"""The output templates of `podctl get`: a kubectl JSONPath and a Go text/template subset.

Both evaluate over the Kubernetes-shaped dict of an object (or a List), so
field names are the JSON ones: `{.status.podIP}`, `{{.status.phase}}`.

JSONPath: `{.a.b}`, `{.items[*].metadata.name}`, `[n]`, `[a:b]`, `['key']`,
`..name` (recursive), `[?(@.type=="Ready")]` filters, `{range ...}...{end}`,
`{"\\n"}` literals. Several results are joined by a space, as kubectl does.
`relaxed_path` reads the looser paths of --sort-by and custom columns
(`metadata.name`, `{.metadata.name}`) with the same engine.

Go template: `{{.a.b}}`, `{{.}}`, `{{"text"}}`, `{{range .items}}...{{end}}`,
`{{if .x}}...{{else}}...{{end}}`, `{{index . "key"}}`, `{{len .x}}`, and `{{-`/`-}}`
trimming. A missing field prints `<no value>`, as in Go.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class TemplateError(Exception):
    """The template cannot be parsed or evaluated; str() is the one-line reason."""


# -- shared ----------------------------------------------------------------------------

def _unquote(text: str) -> str:
    try:
        value = json.loads(text, strict=False) if text.startswith('"') else text[1:-1]
    except json.JSONDecodeError as err:
        raise TemplateError(f"bad string literal {text}") from err
    return str(value)


def _scalar(value: Any) -> str:
    """A value printed as kubectl's jsonpath prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    return str(value)


# -- JSONPath --------------------------------------------------------------------------

_STEP = re.compile(
    r"""\.\.(?P<rec>[A-Za-z0-9_\-$]+|\*)"""
    r"""|\.(?P<name>[A-Za-z0-9_\-$]+|\*)"""
    r"""|\[\?\((?P<filter>.*?)\)\]"""
    r"""|\[(?P<bracket>[^\]]*)\]""")

_FILTER = re.compile(r"""^@(?P<path>[.\w\-\[\]'"]*)\s*"""
                     r"""(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.+))?$""")


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _recurse(node: Any, name: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        if name == "*":
            found.extend(node.values())
        elif name in node:
            found.append(node[name])
    for child in _children(node):
        found.extend(_recurse(child, name))
    return found


def _literal(text: str) -> Any:
    text = text.strip()
    if text[:1] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _compare(left: Any, op: str, right: Any) -> bool:
    try:
        if op == "==":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        return bool({"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op])
    except TypeError:
        return False


def _step(nodes: list[Any], m: re.Match[str]) -> list[Any]:
    out: list[Any] = []
    if m.group("rec") is not None:
        for node in nodes:
            out.extend(_recurse(node, m.group("rec")))
        return out
    if m.group("name") is not None:
        name = m.group("name")
        for node in nodes:
            if name == "*":
                out.extend(_children(node))
            elif isinstance(node, dict) and name in node:
                out.append(node[name])
        return out
    if m.group("filter") is not None:
        fm = _FILTER.match(m.group("filter").strip())
        if fm is None:
            raise TemplateError(f"unsupported filter {m.group('filter')}")
        for node in nodes:
            for item in (node if isinstance(node, list) else [node]):
                values = eval_path(fm.group("path"), item) if fm.group("path") else [item]
                if fm.group("op") is None:
                    if values and values[0] not in (None, False, ""):
                        out.append(item)
                elif values and _compare(values[0], fm.group("op"), _literal(fm.group("value"))):
                    out.append(item)
        return out
    inner = m.group("bracket").strip()
    for node in nodes:
        if inner == "*":
            out.extend(_children(node))
        elif inner[:1] in "'\"":
            for key in (k.strip()[1:-1] for k in inner.split(",")):
                if isinstance(node, dict) and key in node:
                    out.append(node[key])
        elif ":" in inner:
            if isinstance(node, list):
                parts = [int(p) if p.strip() else None for p in inner.split(":")]
                out.extend(node[slice(*parts)])
        else:
            indexes = [int(p) for p in inner.split(",")]
            if isinstance(node, list):
                for i in indexes:
                    if -len(node) <= i < len(node):
                        out.append(node[i])
                    else:
                        raise TemplateError("array index out of bounds: "
                                            f"index {i}, length {len(node)}")
    return out


_INDEX = re.compile(r"\s*-?\d+\s*")


def _check_step(m: re.Match[str]) -> None:
    """Raise TemplateError for a filter or a bracket that no data could make sense of."""
    if m.group("filter") is not None:
        if _FILTER.match(m.group("filter").strip()) is None:
            raise TemplateError(f"unsupported filter {m.group('filter')}")
        return
    inner = m.group("bracket")
    if inner is None or inner.strip() == "*" or inner.strip().startswith(("'", '"')):
        return
    if ":" in inner:
        parts = inner.split(":")
        ok = len(parts) <= 3 and all(not p.strip() or _INDEX.fullmatch(p) for p in parts)
    else:
        ok = all(_INDEX.fullmatch(p) for p in inner.split(","))
    if not ok:
        raise TemplateError(f"bad index [{inner.strip()}]")


def parse_path(path: str) -> list[re.Match[str]]:
    """The steps of `path` (".a.b[0]", "$.items[*]", "@.x"); raises TemplateError if malformed."""
    path = path.strip()
    if path.startswith(("$", "@")):
        path = path[1:]
    steps: list[re.Match[str]] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            if path[pos] not in " ":
                raise TemplateError(f"unrecognized character in path at {path[pos:]!r}")
            pos += 1
            continue
        _check_step(m)
        steps.append(m)
        pos = m.end()
    return steps


def eval_path(path: str, data: Any) -> list[Any]:
    """Every value `path` selects in `data`; raises TemplateError if `path` is malformed."""
    nodes = [data]
    for step in parse_path(path):
        nodes = _step(nodes, step)
    return nodes


_RELAXED = re.compile(r"\{\.?([^{}]+)\}|\.?([^{}]+)")


def relaxed_path(expression: str) -> str:
    """kubectl's RelaxedJSONPathExpression, for --sort-by and custom columns.

    "metadata.name", ".metadata.name", "{metadata.name}" and "{.metadata.name}"
    all give the path ".metadata.name". Raises TemplateError, with kubectl's
    message when `expression` is none of those forms.
    """
    m = _RELAXED.fullmatch(expression)
    if m is None:
        raise TemplateError("unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                            "'{name1.name2}' or '{.name1.name2}'")
    path = "." + (m.group(1) or m.group(2))
    parse_path(path)
    return path


def _jsonpath_tokens(template: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            tokens.append(("text", template[i:]))
            break
        if start > i:
            tokens.append(("text", template[i:start]))
        depth, j, quote = 0, start, ""
        while j < len(template):
            c = template[j]
            if quote:
                if c == "\\":
                    j += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= len(template):
            raise TemplateError(f"unclosed action in {template!r}")
        tokens.append(("action", template[start + 1:j].strip()))
        i = j + 1
    return tokens


def jsonpath(template: str, data: Any) -> str:
    """kubectl's `-o jsonpath=TEMPLATE` over `data`. Raises TemplateError."""
    tokens = _jsonpath_tokens(template)
    out, _ = _jsonpath_run(tokens, 0, data)
    return out


def _jsonpath_run(tokens: list[tuple[str, str]], i: int, data: Any) -> tuple[str, int]:
    out: list[str] = []
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "text":
            out.append(text)
        elif text == "end":
            return "".join(out), i
        elif text.startswith("range "):
            items = eval_path(text[len("range "):], data)
            if len(items) == 1 and isinstance(items[0], list):
                items = items[0]
            end = _jsonpath_skip(tokens, i + 1)
            for item in items:
                chunk, _ = _jsonpath_run(tokens, i + 1, item)
                out.append(chunk)
            i = end
        elif text[:1] in "'\"":
            out.append(_unquote(text))
        else:
            values = eval_path(text, data)
            out.append(" ".join(_scalar(v) for v in values))
        i += 1
    return "".join(out), i


def _jsonpath_skip(tokens: list[tuple[str, str]], i: int) -> int:
    depth = 1
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "action" and text.startswith("range "):
            depth += 1
        elif kind == "action" and text == "end":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise TemplateError("not in range, nothing to end")


# -- Go templates ----------------------------------------------------------------------

_NO_VALUE = object()


@dataclass
class _Node:
    kind: str  # text, expr, range, if
    text: str = ""
    body: list[_Node] = field(default_factory=list)
    other: list[_Node] = field(default_factory=list)


def _go_tokens(template: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(template):
        start = template.find("{{", i)
        if start < 0:
            tokens.append(("text", template[i:]))
            break
        end = template.find("}}", start)
        if end < 0:
            raise TemplateError('template: output:1: unclosed action')
        text = template[i:start]
        action = template[start + 2:end]
        if action.startswith("-"):
            text = text.rstrip()
            action = action[1:]
        trim_next = action.endswith("-")
        if trim_next:
            action = action[:-1]
        if text:
            tokens.append(("text", text))
        tokens.append(("action", action.strip()))
        i = end + 2
        if trim_next:
            while i < len(template) and template[i].isspace():
                i += 1
    return tokens


def _go_parse(tokens: list[tuple[str, str]], i: int, stop: tuple[str, ...]) \
        -> tuple[list[_Node], int, str]:
    nodes: list[_Node] = []
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "text":
            nodes.append(_Node("text", text))
        elif text in stop:
            return nodes, i, text
        elif text.startswith("/*"):
            pass
        elif text.startswith(("range ", "if ", "with ")):
            word, _, expr = text.partition(" ")
            body, i, ended = _go_parse(tokens, i + 1, ("end", "else"))
            other: list[_Node] = []
            if ended == "else":
                other, i, ended = _go_parse(tokens, i + 1, ("end",))
            if ended != "end":
                raise TemplateError(f"template: output: unexpected EOF in {word}")
            nodes.append(_Node(word, expr.strip(), body, other))
        elif text in ("end", "else"):
            raise TemplateError(f"template: output: unexpected {{{{{text}}}}}")
        else:
            nodes.append(_Node("expr", text))
        i += 1
    return nodes, i, ""


_GO_ARG = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\S+')


def _go_field(path: str, dot: Any, root: Any) -> Any:
    if path == ".":
        return dot
    value = root if path.startswith("$") else dot
    path = path.lstrip("$")
    for part in path.split(".")[1:]:
        if isinstance(value, dict):
            value = value.get(part, _NO_VALUE)
        else:
            raise TemplateError(f"can't evaluate field {part} in type {type(value).__name__}")
        if value is _NO_VALUE:
            return _NO_VALUE
    return value


def _go_value(arg: str, dot: Any, root: Any) -> Any:
    if arg.startswith('"') or arg.startswith("`"):
        return _unquote(arg) if arg.startswith('"') else arg[1:-1]
    if arg.startswith((".", "$")):
        return _go_field(arg, dot, root)
    if arg in ("true", "false"):
        return arg == "true"
    try:
        return json.loads(arg)
    except json.JSONDecodeError:
        raise TemplateError(f'template: output: function "{arg}" not defined') from None


def _go_eval(expr: str, dot: Any, root: Any) -> Any:
    args = _GO_ARG.findall(expr)
    if not args:
        raise TemplateError("template: output: missing value for command")
    fn, rest = args[0], args[1:]
    if fn == "index":
        value = _go_value(rest[0], dot, root)
        for key in rest[1:]:
            k = _go_value(key, dot, root)
            value = value[k] if isinstance(value, (dict, list)) else _NO_VALUE
        return value
    if fn == "len":
        value = _go_value(rest[0], dot, root)
        return len(value) if isinstance(value, (dict, list, str)) else 0
    if fn == "not":
        return not _truthy(_go_value(rest[0], dot, root))
    if fn in ("eq", "ne"):
        a, b = (_go_value(x, dot, root) for x in rest[:2])
        return (a == b) == (fn == "eq")
    if fn == "printf":
        fmt = _go_value(rest[0], dot, root)
        values = tuple(_go_value(x, dot, root) for x in rest[1:])
        return re.sub(r"%v", "%s", str(fmt)) % values
    if rest:
        raise TemplateError(f"template: output: can't give argument to non-function {fn}")
    return _go_value(fn, dot, root)


def _truthy(value: Any) -> bool:
    return value is not _NO_VALUE and bool(value)


def go_sprint(value: Any) -> str:
    """`value` as Go's fmt.Sprint prints it: map[k:v], [a b], <nil>; <no value> when missing."""
    if value is _NO_VALUE:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_sprint(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    return str(value)


def _go_run(nodes: list[_Node], dot: Any, root: Any, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.text)
        elif node.kind == "expr":
            out.append(go_sprint(_go_eval(node.text, dot, root)))
        elif node.kind == "if":
            _go_run(node.body if _truthy(_go_eval(node.text, dot, root)) else node.other,
                    dot, root, out)
        elif node.kind == "with":
            value = _go_eval(node.text, dot, root)
            if _truthy(value):
                _go_run(node.body, value, root, out)
            else:
                _go_run(node.other, dot, root, out)
        elif node.kind == "range":
            value = _go_eval(node.text, dot, root)
            items = list(value.values()) if isinstance(value, dict) else \
                (value if isinstance(value, list) else [])
            if items:
                for item in items:
                    _go_run(node.body, item, root, out)
            else:
                _go_run(node.other, dot, root, out)


def go_template(template: str, data: Any) -> str:
    """kubectl's `-o go-template=TEMPLATE` (the subset above) over `data`."""
    nodes, _, ended = _go_parse(_go_tokens(template), 0, ())
    out: list[str] = []
    _go_run(nodes, data, data, out)
    return "".join(out)
