"""Objects as podctl shows them: podlab.manifest's conversions, in the CLI's terms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message

from podlab.kinds import kind_of
from podlab.manifest import dump_json, dump_yaml, list_dict, load_path, to_dict
from podlab.manifest import from_dict as _from_dict


def as_data(objs: Sequence[Message], single: bool) -> dict[str, Any]:
    """What -o json/yaml/jsonpath/go-template see: one object, or a List."""
    if single and len(objs) == 1:
        return to_dict(objs[0])
    return list_dict([to_dict(o) for o in objs])


def render_yaml(data: dict[str, Any]) -> str:
    return dump_yaml(data)


def render_json(data: dict[str, Any]) -> str:
    return dump_json(data)


def from_dict(data: dict[str, Any], message: type[Message]) -> Message:
    """The message `data` describes (unknown fields rejected with their path)."""
    return _from_dict(data, kind_of(message()))


__all__ = ["as_data", "from_dict", "list_dict", "load_path", "render_json", "render_yaml", "to_dict"]
