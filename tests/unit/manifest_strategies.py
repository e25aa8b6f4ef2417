"""Hypothesis strategies for manifests: valid fixtures, then mutated out of shape.

`mutated_manifests()` draws one of the fixture manifests in tests/unit/manifests
and applies a few random mutations anywhere in it: drop a key, add an unknown
key, swap a value for one of the wrong type, a random string or number, or
wrap it in more nesting. Whatever comes out, podlab must either accept it or
refuse it with an errors.ApiError, never crash.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

MANIFESTS = Path(__file__).parent / "manifests"


def fixture_documents() -> list[dict[str, Any]]:
    """Every document in the fixture manifests (valid and invalid ones), as plain dicts."""
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json"):
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
    return docs


_DOCS = fixture_documents()

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "Always", "500m", "12x", "1Gi", "TCP", "metadata.name",
                     "a" * 300, "Bad_Name", "../x", "1.2.3.4", "YWRtaW4=", "!!!", "null"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (a tuple of keys and indexes) to a value inside `node`."""
    out = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out.extend(_paths(child, (*prefix, i)))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


@st.composite
def _mutate(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        target = _get(doc, path)
        action = draw(st.sampled_from(["drop", "unknown", "replace", "wrap", "list", "retype"]))
        if not path:
            if action == "unknown":
                doc[draw(st.text(min_size=1, max_size=8))] = draw(values)
            continue
        parent, last = _get(doc, path[:-1]), path[-1]
        if action == "drop":
            del parent[last]
        elif action == "unknown" and isinstance(target, dict):
            target[draw(st.text(min_size=1, max_size=8))] = draw(values)
        elif action == "wrap":
            parent[last] = {draw(st.text(max_size=5)): target}
        elif action == "list":
            parent[last] = [target]
        elif action == "retype":
            parent[last] = str(target) if not isinstance(target, str) else draw(
                st.one_of(st.integers(), st.booleans(), st.floats()))
        else:
            parent[last] = draw(values)
    return doc


def valid_manifests() -> st.SearchStrategy[dict[str, Any]]:
    """The fixture documents themselves."""
    return st.sampled_from(_DOCS).map(copy.deepcopy)


def mutated_manifests() -> st.SearchStrategy[dict[str, Any]]:
    """Fixture documents with one to four random mutations each."""
    return st.sampled_from(_DOCS).flatmap(_mutate)
