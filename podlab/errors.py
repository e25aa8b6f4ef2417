"""The API's error hierarchy, and its mapping to and from gRPC status codes.

Every failure a caller can act on is a named exception; the API server turns
it into a gRPC status, and the client turns the status back into the same
exception, so code on both sides reads `except Conflict:`, never a string.
"""

from __future__ import annotations

import grpc


class ApiError(Exception):
    """A failure the API reports to its caller. `reason` is Kubernetes' word for it."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    reason = "InternalError"
    http_status = 500  # the code the REST front end answers with

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(ApiError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NotFound"
    http_status = 404


class AlreadyExists(ApiError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "AlreadyExists"
    http_status = 409


class Invalid(ApiError):
    """The object breaks validation; `causes` lists each field error."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "Invalid"
    http_status = 422

    def __init__(self, message: str, causes: list[str] | None = None, kind: str = "", name: str = "") -> None:
        super().__init__(message)
        self.causes = causes or []
        self.kind, self.name = kind, name  # the object that is invalid, when known


class BadRequest(ApiError):
    """The request itself is malformed (unknown kind, bad selector, ...)."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "BadRequest"
    http_status = 400


class Conflict(ApiError):
    """A write lost an optimistic-concurrency race; read again and retry."""

    code = grpc.StatusCode.ABORTED
    reason = "Conflict"
    http_status = 409


class Gone(ApiError):
    """A watch asked for a revision etcd has compacted: list again."""

    code = grpc.StatusCode.OUT_OF_RANGE
    reason = "Expired"
    http_status = 410


class Unavailable(ApiError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "ServiceUnavailable"
    http_status = 503


class Forbidden(ApiError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "Forbidden"
    http_status = 403


class Timeout(ApiError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "Timeout"
    http_status = 504


class RequestEntityTooLarge(ApiError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RequestEntityTooLarge"
    http_status = 413


_BY_CODE: dict[grpc.StatusCode, type[ApiError]] = {
    cls.code: cls for cls in (NotFound, AlreadyExists, Invalid, Conflict, Gone, Unavailable,
                              Forbidden, Timeout, RequestEntityTooLarge)
}


def from_rpc_error(err: grpc.RpcError) -> ApiError:
    """The ApiError a failed call stands for (Unavailable for transport failures)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else None) or str(code)
    cls = _BY_CODE.get(code, ApiError)
    if code == grpc.StatusCode.INVALID_ARGUMENT and not details.startswith("The "):
        cls = BadRequest
    return cls(details)
