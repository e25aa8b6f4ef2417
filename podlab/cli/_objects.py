"""Objects as podctl shows them: Kubernetes-shaped dicts, YAML and JSON.

podlab.manifest owns the conversion; until it lands this module carries a
minimal stand-in with the same contract, so podctl works either way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

from podlab.kinds import kind_named, kind_of

try:  # pragma: no cover - depends on what is on main
    from podlab.manifest import load_path, to_dict
except ImportError:  # pragma: no cover
    def to_dict(obj: Message) -> dict[str, Any]:
        data = json_format.MessageToDict(obj, preserving_proto_field_name=False)
        kind = kind_of(obj)
        data["apiVersion"] = data.get("apiVersion") or (
            "coordination.k8s.io/v1" if kind.name == "Lease" else "v1")
        data["kind"] = data.get("kind") or kind.name
        return data

    def load_path(path: str) -> list[tuple[str, Message]]:
        if path == "-":
            sources = [("-", sys.stdin.read())]
        else:
            p = Path(path)
            files = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml", ".json")) \
                if p.is_dir() else [p]
            sources = [(str(f), f.read_text()) for f in files]
        out: list[tuple[str, Message]] = []
        for source, text in sources:
            for doc in yaml.safe_load_all(text):
                if not doc:
                    continue
                if not isinstance(doc, dict) or "kind" not in doc:
                    raise ValueError(f"error parsing {source}: Object 'Kind' is missing")
                out.append((source, from_dict(doc, kind_named(str(doc["kind"])).message)))
        return out


def list_dict(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's List wrapper around several objects."""
    return {"apiVersion": "v1", "items": list(items), "kind": "List",
            "metadata": {"resourceVersion": ""}}


def as_data(objs: Sequence[Message], single: bool) -> dict[str, Any]:
    """What -o json/yaml/jsonpath/go-template see: one object, or a List."""
    if single and len(objs) == 1:
        return to_dict(objs[0])
    return list_dict([to_dict(o) for o in objs])


def render_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def from_dict(data: dict[str, Any], message: type[Message]) -> Message:
    """The message `data` describes (the JSON mapping; unknown fields rejected)."""
    obj = message()
    json_format.ParseDict(data, obj)
    return obj


__all__ = ["as_data", "from_dict", "list_dict", "load_path", "render_json", "render_yaml",
           "to_dict"]
