"""Label and field selectors with Kubernetes' syntax and semantics.

Label selectors: `app=web`, `app==web`, `tier!=db`, `env in (a,b)`,
`env notin (c)`, `release` (exists), `!release` (does not exist), joined by
commas. Field selectors: `path=value`, `path==value`, `path!=value`, where a
path is a Kubernetes field name (`spec.nodeName`, `status.phase`,
`metadata.name`, `involvedObject.uid`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from google.protobuf.message import Message

from podlab.errors import BadRequest
from podlab.v1 import objects_pb2 as v1

_SET_OP = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_OP = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op == "=":
            return present and labels[self.key] in self.values
        if self.op == "in":
            return present and labels[self.key] in self.values
        # "!=" and "notin" also match objects that lack the key, as in Kubernetes.
        return not present or labels[self.key] not in self.values


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in (p.strip() for p in parts) if p]


class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    def __init__(self, requirements: list[Requirement]) -> None:
        self.requirements = requirements

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse `text`; raises BadRequest with the offending term."""
        requirements = []
        for term in _split_top_level(text or ""):
            eq = _EQ_OP.match(term)
            if eq:
                key, op, value = eq.groups()
                requirements.append(Requirement(key, "!=" if op == "!=" else "=", frozenset([value])))
                continue
            st = _SET_OP.match(term)
            if st is None:
                raise BadRequest(f'unable to parse requirement: invalid label selector: "{term}"')
            negated, key, op, values = st.groups()
            if op:
                if negated:
                    raise BadRequest(f'unable to parse requirement: invalid label selector: "{term}"')
                vals = frozenset(v.strip() for v in values.split(",") if v.strip())
                requirements.append(Requirement(key, op, vals))
            else:
                requirements.append(Requirement(key, "!" if negated else "exists"))
        return cls(requirements)

    @classmethod
    def from_api(cls, selector: v1.LabelSelector) -> LabelSelector:
        """A metav1.LabelSelector (matchLabels and matchExpressions) as requirements."""
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        requirements = [Requirement(k, "=", frozenset([v])) for k, v in sorted(selector.match_labels.items())]
        for expr in selector.match_expressions:
            if expr.operator not in ops:
                raise BadRequest(f'"{expr.operator}" is not a valid label selector operator')
            requirements.append(Requirement(expr.key, ops[expr.operator], frozenset(expr.values)))
        return cls(requirements)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        """The selector as a query string (`app=web,tier in (a,b)`), as metav1.FormatLabelSelector."""
        terms = []
        for r in self.requirements:
            if r.op in ("=", "!="):
                terms.append(f"{r.key}{r.op}{next(iter(r.values))}")
            elif r.op in ("in", "notin"):
                terms.append(f"{r.key} {r.op} ({','.join(sorted(r.values))})")
            else:
                terms.append(r.key if r.op == "exists" else f"!{r.key}")
        return ",".join(terms)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def field_value(obj: Message, path: str) -> str:
    """The value at a Kubernetes field path of `obj`, as a string ("" when unset)."""
    current: object = obj
    for part in path.split("."):
        if not isinstance(current, Message):
            return ""
        fields = current.DESCRIPTOR.fields_by_name
        field = None
        for candidate in (part, _camel_to_snake(part)):
            if candidate in fields:
                field = fields[candidate]
                break
        if field is None:
            for f in current.DESCRIPTOR.fields:
                if f.json_name == part:
                    field = f
                    break
        if field is None:
            raise BadRequest(f'field label not supported: {path}')
        current = getattr(current, field.name)
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, Message):
        return ""
    return str(current)


class FieldSelector:
    """A parsed field selector: a conjunction of `path=value` / `path!=value` terms."""

    def __init__(self, terms: list[tuple[str, bool, str]]) -> None:
        self.terms = terms  # (path, equal?, value)

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        terms = []
        for term in _split_top_level(text or ""):
            m = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
            if m is None:
                raise BadRequest(f'invalid field selector: "{term}"')
            path, op, value = m.groups()
            terms.append((path, op != "!=", value))
        return cls(terms)

    def value_of(self, path: str) -> str | None:
        """The value an equality term pins `path` to, if any (lets storage narrow a range)."""
        for p, equal, value in self.terms:
            if p == path and equal:
                return value
        return None

    def matches(self, obj: Message) -> bool:
        return all((field_value(obj, p) == v) == equal for p, equal, v in self.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)


def compile_filter(label_selector: str, field_selector: str) -> Callable[[Message], bool]:
    """One predicate for both selectors; raises BadRequest on bad syntax."""
    labels = LabelSelector.parse(label_selector)
    fields = FieldSelector.parse(field_selector)
    if not labels and not fields:
        return lambda obj: True
    return lambda obj: labels.matches(obj.metadata.labels) and fields.matches(obj)
