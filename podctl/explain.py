"""`explain`'s text from the proto schema, as kubectl prints it from the OpenAPI podlab serves.

The REST API's OpenAPI document (controlplane.rest.openapi) is generated
from the same descriptors with the same names and types, so podctl and
kubectl explain alike: fields by their JSON names, sorted; a message's type
is its name, a list `[]T`, a map `map[string]T`; Kubernetes' int-or-string
is `IntOrString`, timestamps strings. The proto carries no descriptions.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from podlab.kinds import Kind

_SCALARS = {
    FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BYTES: "string", FieldDescriptor.TYPE_ENUM: "string",
    FieldDescriptor.TYPE_BOOL: "boolean", FieldDescriptor.TYPE_DOUBLE: "number", FieldDescriptor.TYPE_FLOAT: "number",
}
_WELL_KNOWN = {"google.protobuf.Timestamp": "string", "google.protobuf.Value": "IntOrString",
               "google.protobuf.Struct": "Object"}


class ExplainError(Exception):
    """A path that names no field: kubectl's message."""


def _single(fd: FieldDescriptor) -> str:
    if fd.message_type is None:
        return _SCALARS.get(fd.type, "integer")
    return _WELL_KNOWN.get(fd.message_type.full_name, fd.message_type.name)


def type_name(fd: FieldDescriptor) -> str:
    """kubectl's <type> of a field."""
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        return f"map[string]{_single(fd.message_type.fields_by_name['value'])}"
    return f"[]{_single(fd)}" if fd.is_repeated else _single(fd)


def _fields(desc: Descriptor | None) -> dict[str, FieldDescriptor]:
    if desc is None or desc.full_name in _WELL_KNOWN or desc.GetOptions().map_entry:
        return {}
    return {fd.json_name: fd for fd in desc.fields}


def explain(kind: Kind, path: list[str]) -> str:
    """The text of `explain KIND[.path...]`; raises ExplainError for a field that does not exist."""
    desc: Descriptor | None = kind.message.DESCRIPTOR
    field: FieldDescriptor | None = None
    for name in path:
        fields = _fields(desc)
        if name not in fields:
            raise ExplainError(f'field "{name}" does not exist')
        field = fields[name]
        desc = field.message_type
        if desc is not None and desc.GetOptions().map_entry:
            desc = desc.fields_by_name["value"].message_type
    group, _, version = kind.api_version.rpartition("/")
    out = (f"GROUP:      {group}\n" if group else "") + f"KIND:       {kind.name}\nVERSION:    {version}\n\n"
    if field is not None:
        out += f"FIELD: {field.json_name} <{type_name(field)}>\n\n\n"
    out += "DESCRIPTION:\n    <empty>\n"
    fields = _fields(desc)
    if fields:
        out += "FIELDS:\n"
        for name in sorted(fields):
            out += f"  {name}\t<{type_name(fields[name])}>\n    <no description>\n\n"
    return out + "\n"
