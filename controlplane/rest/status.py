"""ApiErrors as `metav1.Status`: the body kubectl reads to print its own error lines.

kubectl prints `Error from server (<reason>): <message>` from `reason` and
`message`; for reason Invalid it ignores the message and rebuilds the line
from `details` ("The <kind> "<name>" is invalid: " + each cause's
`field: message`), so an Invalid's causes are split into field and message.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from podlab import errors
from podlab.kinds import Kind

# Kubernetes' cause types for the messages podlab.validation writes.
_CAUSE_TYPES = {
    "Required value": "FieldValueRequired", "Invalid value": "FieldValueInvalid",
    "Unsupported value": "FieldValueNotSupported", "Duplicate value": "FieldValueDuplicate",
    "Not found": "FieldValueNotFound", "Forbidden": "FieldValueForbidden", "Too long": "FieldValueTooLong",
}


class NotAcceptable(errors.ApiError):
    reason = "NotAcceptable"
    http_status = 406


class MethodNotAllowed(errors.ApiError):
    reason = "MethodNotAllowed"
    http_status = 405


class UnsupportedMediaType(errors.ApiError):
    reason = "UnsupportedMediaType"
    http_status = 415


def _cause(text: str) -> dict[str, str]:
    """`spec.restartPolicy: Unsupported value: "Mybe": ...` -> field, message and type."""
    field, sep, message = text.partition(": ")
    if not sep or " " in field:
        return {"message": text}
    kind = _CAUSE_TYPES.get(message.partition(":")[0], "FieldValueInvalid")
    return {"reason": kind, "message": message, "field": field}


def status_dict(err: errors.ApiError, kind: Kind | None = None, name: str = "") -> dict[str, Any]:
    """The Status object for `err`, raised while serving `kind`/`name` (either may be unknown)."""
    status: dict[str, Any] = {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": err.message, "reason": err.reason, "code": err.http_status,
    }
    details: dict[str, Any] = {}
    if isinstance(err, errors.Invalid) and err.name:
        name = err.name
    if name:
        details["name"] = name
    if kind is not None:
        group = kind.api_version.rpartition("/")[0]
        if group:
            details["group"] = group
        details["kind"] = kind.name if isinstance(err, errors.Invalid) else kind.plural
    if isinstance(err, errors.Invalid):
        details["causes"] = [_cause(c) for c in err.causes]
    if details:
        status["details"] = details
    return status


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


def error_response(err: errors.ApiError, kind: Kind | None = None, name: str = "") -> web.Response:
    return json_response(status_dict(err, kind, name), err.http_status)


def success(kind: Kind, name: str, uid: str) -> dict[str, Any]:
    """The Status a delete that removed the object at once may answer with."""
    group = kind.api_version.rpartition("/")[0]
    details = {"name": name, "kind": kind.plural, "uid": uid, **({"group": group} if group else {})}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
