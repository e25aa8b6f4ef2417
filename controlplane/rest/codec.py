"""Request bodies in, Kubernetes JSON out: the REST front end's only serialization.

Bodies are capped at 3 MiB (Kubernetes' limit) before they are parsed; JSON,
YAML (through podlab.manifest's loader, which refuses alias bombs) and
Kubernetes' protobuf are read, decoded strictly through podlab.manifest, and
a body whose apiVersion/kind is not the URL's kind is refused before anything
is stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from google.protobuf.message import Message

from controlplane.rest import k8sproto
from controlplane.rest.status import UnsupportedMediaType
from podlab import errors
from podlab.kinds import Kind
from podlab.manifest import from_dict, load_data, to_dict
from podlab.names import MAX_REQUEST_BYTES

MAX_BODY = MAX_REQUEST_BYTES
# Bodies podlab reads as JSON; Kubernetes' protobuf (kubectl's typed clients) goes to k8sproto.
JSON_TYPES = ("application/json", "application/octet-stream")
YAML_TYPE = "application/yaml"
_TOO_LARGE = f"Request entity too large: limit is {MAX_BODY}"  # Kubernetes' words (handlers/rest.go)


async def read_raw(request: web.Request) -> bytes:
    """The request's body, at most MAX_BODY bytes; raises RequestEntityTooLarge without reading on past it.

    A declared Content-Length over the cap is refused before any byte is
    read; a chunked body is read only until it passes the cap (aiohttp's
    client_max_size, which make_app sets to MAX_BODY + 1).
    """
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.RequestEntityTooLarge(_TOO_LARGE)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.RequestEntityTooLarge(_TOO_LARGE) from None


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object (from JSON, YAML or protobuf); raises RequestEntityTooLarge,
    UnsupportedMediaType or BadRequest.

    YAML goes through podlab.manifest's loader, which refuses alias bombs
    before anything is expanded, as Kubernetes' YAML decoder does.
    """
    raw = await read_raw(request)
    if request.content_type == k8sproto.CONTENT_TYPE:
        return k8sproto.decode(raw)
    if request.content_type not in (*JSON_TYPES, YAML_TYPE):
        raise UnsupportedMediaType(f'the body of the request was in an unknown format - accepted media types '
                                   f'include: {", ".join((*JSON_TYPES, YAML_TYPE, k8sproto.CONTENT_TYPE))}')
    if not raw.strip():
        raise errors.BadRequest("the request has no body")
    if request.content_type == YAML_TYPE:
        return _yaml_body(raw)
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise errors.BadRequest(f"the body of the request was in an unknown format: {err}") from None
    except RecursionError:
        raise errors.BadRequest("the body of the request is nested too deeply") from None
    if not isinstance(doc, dict):
        raise errors.BadRequest("the body of the request must be a JSON object")
    return doc


def _yaml_body(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise errors.BadRequest(f"the body of the request was in an unknown format: {err}") from None
    try:
        docs = [d for d in load_data(text, _SOURCE) if d is not None]
    except errors.BadRequest as err:
        raise errors.BadRequest(err.message.removeprefix(f"error parsing {_SOURCE}: ")) from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise errors.BadRequest("the body of the request must be one YAML object")
    return docs[0]


WARNINGS = web.RequestKey("warnings", list[str])
_VALIDATIONS = ("Strict", "Warn", "Ignore")
_SOURCE = "the request body"


def decode(doc: dict[str, Any], kind: Kind, request: web.Request) -> Message:
    """`doc` as a `kind` object; its apiVersion and kind, when given, must be the URL's.

    Unknown fields follow the request's fieldValidation, as Kubernetes': Strict
    refuses them (kubectl asks for it), Ignore drops them, Warn (the default)
    drops them and adds a warning to the response (request[WARNINGS]).
    """
    validation = request.query.get("fieldValidation", "Warn")
    if validation not in _VALIDATIONS:
        raise errors.BadRequest(f'fieldValidation must be one of {", ".join(_VALIDATIONS)}, not "{validation}"')
    api_version, kind_name = doc.get("apiVersion") or kind.api_version, doc.get("kind") or kind.name
    if (api_version, kind_name) != (kind.api_version, kind.name):
        raise errors.BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({kind.api_version})" if api_version != kind.api_version else
            f'the kind in the data ("{kind_name}") does not match the expected kind ("{kind.name}")')
    unknown: list[str] | None = None if validation == "Strict" else []
    try:
        obj = from_dict(doc, kind, _SOURCE, unknown)
    except errors.BadRequest as err:
        # Kubernetes names no source: `Pod in version "v1" cannot be handled as a Pod: ...`.
        raise errors.BadRequest(err.message.removeprefix(f"error parsing {_SOURCE}: ")) from None
    if validation == "Warn" and unknown:
        request.setdefault(WARNINGS, []).extend(f'unknown field "{path}"' for path in unknown)
    return obj


def encode(obj: Message) -> dict[str, Any]:
    return to_dict(obj)


def list_body(kind: Kind, items: Sequence[Message], revision: int) -> dict[str, Any]:
    return {"kind": f"{kind.name}List", "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(revision)}, "items": [to_dict(o) for o in items]}
