"""Manifests <-> API objects: kubectl's YAML and JSON in; Kubernetes-shaped dicts, YAML, JSON out.

Loading is strict the way the API server's decoder is: every unknown field is
reported with its full path (`spec.containers[0].foo`), and a value of the
wrong type names its path too. Every failure is an errors.BadRequest whose
message names the source; nothing here ever lets a parser's own exception
escape.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from podlab import errors
from podlab.kinds import Kind, kind_for, kind_named, kind_of
from podlab.validation import FieldError, show

SUFFIXES = (".yaml", ".yml", ".json")
# Fields whose values (or map values) are Kubernetes quantities: YAML writes `cpu: 1` as a number;
# Kubernetes' protobuf sends a Quantity message (controlplane.rest.k8sproto).
QUANTITY_FIELDS = {
    ("podlab.v1.ResourceRequirements", "limits"), ("podlab.v1.ResourceRequirements", "requests"),
    ("podlab.v1.NodeStatus", "capacity"), ("podlab.v1.NodeStatus", "allocatable"),
    ("podlab.v1.EmptyDirVolumeSource", "size_limit"),
    ("podlab.v1.ResourceFieldSelector", "divisor"),
}
_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
_TIMESTAMP = "google.protobuf.Timestamp"
_VALUE = "google.protobuf.Value"


def api_version_of(kind_name: str) -> str:
    """The apiVersion a kind is served under: "v1", or "coordination.k8s.io/v1" for Lease."""
    return kind_named(kind_name).api_version


# ---------------------------------------------------------------- YAML


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML that keeps timestamps as strings and refuses duplicate keys, as kubectl."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'mapping key "{key_node.value}" already defined',
                        key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _json_documents(text: str) -> list[Any] | None:
    """The JSON values in `text` (one, or a stream of several), or None if it is not JSON."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos = 0
    try:
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                return docs
            doc, pos = decoder.raw_decode(text, pos)
            docs.append(doc)
    except (ValueError, RecursionError):
        return None


# go-yaml's budget for alias expansion (gopkg.in/yaml v2.2.4+, the fix Kubernetes took for
# CVE-2019-11253): a document may owe at most this share of its decoded nodes to aliases, 99% for a
# small one down to 10% for a large one, so a few hundred bytes can no longer stand for gigabytes.
_ALIAS_RATIO_LOW, _ALIAS_RATIO_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(decodes: int) -> float:
    if decodes <= _ALIAS_RATIO_LOW:
        return 0.99
    if decodes >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decodes - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


class _Aliasing(Exception):
    """A document refused for its aliases (the message is go-yaml's)."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_aliasing(root: yaml.Node) -> None:
    """Refuse `root` if its aliases expand it beyond go-yaml's budget, or if an anchor contains itself.

    The composed graph shares an anchored node wherever an alias names it, so
    it is as small as the text; this counts the nodes a full expansion would
    decode (each node's count once, memoized), without expanding anything.
    """
    size: dict[int, int] = {}  # id(node) -> nodes in its expansion, itself included
    on_path: set[int] = set()  # the nodes whose expansion is being counted (ancestors of the top)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted_children = stack.pop()
        key = id(node)
        if counted_children:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            continue
        if key in size:
            continue
        if key in on_path:
            raise _Aliasing("anchor value contains itself")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    decodes = size[id(root)]
    aliased = decodes - len(size)  # every decode past a node's first is one an alias caused
    if aliased > 100 and decodes > 1000 and aliased / decodes > _allowed_alias_ratio(decodes):
        raise _Aliasing("document contains excessive aliasing")


def _yaml_documents(text: str) -> list[Any]:
    """Every YAML document in `text` as plain data, each checked for aliasing before it is built."""
    loader = _Loader(text)
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            _check_aliasing(node)
            docs.append(loader.construct_document(node))
        return docs
    finally:
        loader.dispose()


def _documents(text: str, source: str) -> list[Any]:
    if text.lstrip()[:1] in ("{", "["):
        docs = _json_documents(text)
        if docs is not None:
            return docs
    try:
        return _yaml_documents(text)
    except _Aliasing as err:
        raise errors.BadRequest(f"error parsing {source}: error converting YAML to JSON: yaml: {err}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = err.problem or err.context or "invalid YAML"
        raise errors.BadRequest(
            f"error parsing {source}: error converting YAML to JSON: yaml: {where}{problem}"
        ) from None
    except RecursionError:
        raise errors.BadRequest(f"error parsing {source}: the document is nested too deeply") \
            from None
    except Exception as err:  # noqa: BLE001 - the parser boundary: nothing may escape raw
        raise errors.BadRequest(
            f"error parsing {source}: error converting YAML to JSON: {err}") from None


# ---------------------------------------------------------------- dict -> message


class _Decode:
    """One document's decoding problems: unknown fields and badly typed values."""

    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.bad: list[FieldError] = []

    def wrong(self, path: str, value: Any, detail: str) -> None:
        self.bad.append(FieldError(path, "Invalid value", value, detail))


_FIELDS_CACHE: dict[str, dict[str, FieldDescriptor]] = {}


def _fields(desc: Descriptor) -> dict[str, FieldDescriptor]:
    """A message's fields by their JSON (Kubernetes) name."""
    fields = _FIELDS_CACHE.get(desc.full_name)
    if fields is None:
        fields = _FIELDS_CACHE[desc.full_name] = {f.json_name: f for f in desc.fields}
    return fields


def _key(key: Any) -> str:
    """A YAML mapping key as JSON would have it: YAML's `1:` or `true:` become strings."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _message(value: Any, desc: Descriptor, path: str, out: _Decode) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        out.wrong(path, value, "must be an object")
        return None
    fields = _fields(desc)
    clean: dict[str, Any] = {}
    for raw_key, item in value.items():
        key = _key(raw_key)
        fd = fields.get(key)
        if fd is None:
            out.unknown.append(_join(path, key))
        elif item is not None:  # null means "not set", as in Kubernetes
            converted = _field(item, fd, desc, _join(path, key), out)
            if converted is not None:
                clean[key] = converted
    return clean


def _field(value: Any, fd: FieldDescriptor, owner: Descriptor, path: str, out: _Decode) -> Any:
    quantity = (owner.full_name, fd.name) in QUANTITY_FIELDS
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        if not isinstance(value, dict):
            out.wrong(path, value, "must be an object")
            return None
        value_fd = fd.message_type.fields_by_name["value"]
        clean = {}
        for raw_key, item in value.items():
            key = _key(raw_key)
            converted = _single(item, value_fd, quantity, f"{path}[{key}]", out)
            if converted is not None:
                clean[key] = converted
        return clean
    if fd.is_repeated:
        if not isinstance(value, list):
            out.wrong(path, value, "must be a list")
            return None
        items = [_single(item, fd, quantity, f"{path}[{i}]", out) for i, item in enumerate(value)]
        return [item for item in items if item is not None]
    return _single(value, fd, quantity, path, out)


def _single(value: Any, fd: FieldDescriptor, quantity: bool, path: str, out: _Decode) -> Any:
    """One value of field `fd`, made fit for ParseDict; None (and an error noted) if it is not."""
    if fd.message_type is not None:
        name = fd.message_type.full_name
        if name == _VALUE:  # IntOrString
            if isinstance(value, int | str) and not isinstance(value, bool):
                return value
            out.wrong(path, value, "must be an integer or a string")
            return None
        if name == _TIMESTAMP:
            try:
                Timestamp().FromJsonString(value)
            except (ValueError, TypeError, AttributeError):
                out.wrong(path, value, "must be an RFC 3339 timestamp")
                return None
            return value
        if value is None:
            out.wrong(path, value, "must be an object")
            return None
        return _message(value, fd.message_type, path, out)
    cpp = fd.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_STRING and fd.type == FieldDescriptor.TYPE_BYTES:
        return _base64(value, path, out)
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        if isinstance(value, str):
            return value
        if quantity and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        out.wrong(path, value, "must be a quantity" if quantity else "must be a string")
        return None
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        if isinstance(value, bool):
            return value
        out.wrong(path, value, "must be a boolean")
        return None
    if cpp in _INT_RANGES:
        low, high = _INT_RANGES[cpp]
        if not isinstance(value, int) or isinstance(value, bool):
            out.wrong(path, value, "must be an integer")
            return None
        if not low <= value <= high:
            out.wrong(path, value, f"must be between {low} and {high}, inclusive")
            return None
        return value
    if cpp in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        out.wrong(path, value, "must be a number")
        return None
    out.wrong(path, value, "is not supported")  # enums: the schema has none
    return None


def _base64(value: Any, path: str, out: _Decode) -> str | None:
    if not isinstance(value, str):
        out.wrong(path, value, "must be a base64-encoded string")
        return None
    text = value.replace("\n", "").replace("\r", "")
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        out.wrong(path, value, f"illegal base64 data: {err}")
        return None
    return text


def from_dict(doc: Mapping[str, Any], kind: Kind, source: str = "<stdin>",
              unknown: list[str] | None = None) -> Message:
    """The `kind` object `doc` describes; raises BadRequest naming every unknown or bad field.

    Given `unknown` (the API's fieldValidation Ignore or Warn), unknown fields
    are dropped and their paths appended to it instead; bad values still raise.
    """
    out = _Decode()
    clean = _message(dict(doc), kind.message.DESCRIPTOR, "", out)
    if unknown is not None:
        unknown.extend(out.unknown)
        out.unknown = []
    version = doc.get("apiVersion", api_version_of(kind.name))
    if out.bad or out.unknown:
        parts = [str(e) for e in out.bad]
        if out.unknown:
            parts.append("strict decoding error: " + ", ".join(
                f'unknown field "{p}"' for p in out.unknown))
        raise errors.BadRequest(
            f"error parsing {source}: {kind.name} in version \"{version}\" cannot be handled as "
            f"a {kind.name}: " + "; ".join(parts))
    obj = kind.message()
    try:
        json_format.ParseDict(clean or {}, obj)
    except (json_format.ParseError, ValueError, TypeError) as err:
        raise errors.BadRequest(
            f"error parsing {source}: {kind.name} in version \"{version}\" cannot be handled as "
            f"a {kind.name}: {err}") from None
    return obj


def _brief(doc: Any) -> str:
    text = json.dumps(doc, default=str, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _objects(doc: Any, source: str) -> list[Message]:
    if not isinstance(doc, dict):
        raise errors.BadRequest(
            f"error parsing {source}: expected an object with apiVersion and kind, got "
            f"{show(doc)}")
    kind_name, version = doc.get("kind"), doc.get("apiVersion")
    if not kind_name:
        raise errors.BadRequest(
            f"error parsing {source}: Object 'Kind' is missing in '{_brief(doc)}'")
    if not version:
        raise errors.BadRequest(
            f"error parsing {source}: Object 'apiVersion' is missing in '{_brief(doc)}'")
    if kind_name == "List" and version == "v1":
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise errors.BadRequest(f"error parsing {source}: List items must be a list")
        return [obj for item in items for obj in _objects(item, source)]
    kind = kind_for(_key(version), _key(kind_name))
    if kind is None:
        meta = doc.get("metadata")
        name = meta.get("name", "") if isinstance(meta, dict) else ""
        namespace = meta.get("namespace", "") if isinstance(meta, dict) else ""
        raise errors.BadRequest(
            f'resource mapping not found for name: "{name}" namespace: "{namespace}" from '
            f'"{source}": no matches for kind "{kind_name}" in version "{version}"')
    return [from_dict(doc, kind, source)]


def load_data(text: str, source: str = "<stdin>") -> list[Any]:
    """The documents in `text` (YAML or JSON) as plain data, aliases within budget; raises BadRequest."""
    return _documents(text, source)


def load_manifests(text: str, source: str = "<stdin>") -> list[Message]:
    """The API objects in `text`: YAML (block or flow, `---` separated) or JSON.

    Empty documents are skipped and a `kind: List` contributes its items.
    Raises errors.BadRequest, naming `source`, for anything that does not load.
    """
    objects: list[Message] = []
    for doc in _documents(text, source):
        if doc is None:
            continue
        objects.extend(_objects(doc, source))
    return objects


def load_path(path: str) -> list[tuple[str, Message]]:
    """(source, object) for every object in a file, a directory's manifests (sorted), or "-".

    Raises errors.BadRequest for a missing or unreadable path and for any bad manifest.
    """
    if path == "-":
        sources = [("STDIN", sys.stdin.read())]
    else:
        p = Path(path)
        if not p.exists():
            raise errors.BadRequest(f'the path "{path}" does not exist')
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in SUFFIXES) \
            if p.is_dir() else [p]
        sources = []
        for f in files:
            try:
                sources.append((str(f), f.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as err:
                raise errors.BadRequest(f'error reading "{f}": {err}') from None
    return [(source, obj) for source, text in sources for obj in load_manifests(text, source)]


# ---------------------------------------------------------------- message -> dict, YAML, JSON


# Fields Kubernetes' Go types print even when zero (no `omitempty`) and its typed clients require
# (the official Python client refuses a ContainerStatus without restartCount or imageID).
_ALWAYS_PRINTED: dict[str, dict[str, Any]] = {
    "podlab.v1.ContainerStatus": {"name": "", "ready": False, "restartCount": 0, "image": "", "imageID": ""},
    "podlab.v1.ContainerStateTerminated": {"exitCode": 0},
    "podlab.v1.ReplicaSetStatus": {"replicas": 0},
}


def _tidy(data: dict[str, Any], desc: Descriptor) -> None:
    """Kubernetes' look for MessageToDict output: whole-second times, integer ports, required zeros."""
    for key, zero in _ALWAYS_PRINTED.get(desc.full_name, {}).items():
        data.setdefault(key, zero)
    fields = _fields(desc)
    for key, value in data.items():
        fd = fields.get(key)
        if fd is None or fd.message_type is None or fd.message_type.GetOptions().map_entry:
            continue
        name = fd.message_type.full_name
        values = value if fd.is_repeated else [value]
        if name == _TIMESTAMP and desc.full_name != "podlab.v1.LeaseSpec":  # Lease: MicroTime
            data[key] = _seconds(value) if not fd.is_repeated else [_seconds(v) for v in value]
        elif name == _VALUE:
            data[key] = _integral(value) if not fd.is_repeated else [_integral(v) for v in value]
        else:
            for item in values:
                if isinstance(item, dict):
                    _tidy(item, fd.message_type)


def _seconds(stamp: str) -> str:
    head, dot, _ = stamp.partition(".")
    return head + "Z" if dot else stamp


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_dict(obj: Message) -> dict[str, Any]:
    """`obj` as Kubernetes prints it: camelCase names, apiVersion/kind filled, empties omitted."""
    kind = kind_of(obj)
    data = json_format.MessageToDict(obj)
    _tidy(data, obj.DESCRIPTOR)
    out: dict[str, Any] = {
        "apiVersion": data.pop("apiVersion", "") or api_version_of(kind.name),
        "kind": data.pop("kind", "") or kind.name,
    }
    out.update(data)
    return out


def list_dict(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's `kind: List` around several objects."""
    return {"apiVersion": "v1", "items": list(items), "kind": "List",
            "metadata": {"resourceVersion": ""}}


def as_data(objs: Message | Sequence[Message] | Mapping[str, Any]) -> dict[str, Any]:
    """One object's dict, or a List's for a sequence (as `kubectl get` of a list prints)."""
    if isinstance(objs, Message):
        return to_dict(objs)
    if isinstance(objs, Mapping):
        return dict(objs)
    return list_dict([to_dict(o) for o in objs])


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Multi-line text reads best as a literal block; the emitter falls back when it can't be one.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(objs: Message | Sequence[Message] | Mapping[str, Any]) -> str:
    """Block-style YAML with kubectl's (sorted) key order; a sequence becomes a `kind: List`."""
    return yaml.dump(as_data(objs), Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True)


def dump_json(objs: Message | Sequence[Message] | Mapping[str, Any]) -> str:
    """JSON as `kubectl -o json` prints it (4-space indent, sorted keys)."""
    return json.dumps(as_data(objs), indent=4, sort_keys=True, ensure_ascii=False) + "\n"


__all__ = ["api_version_of", "as_data", "dump_json", "dump_yaml", "from_dict", "list_dict",
           "load_data", "load_manifests", "load_path", "to_dict"]
