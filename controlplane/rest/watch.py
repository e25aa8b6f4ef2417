"""`?watch=true`: a chunked stream of JSON watch events, one object per line.

As Kubernetes: no resourceVersion (or "0") first sends every current object
as ADDED, then the changes; a resourceVersion resumes after it. A compacted
revision known before the stream starts answers 410 Gone (reason Expired);
one found later ends the stream with an ERROR event carrying that Status.
BOOKMARK events come only when the client allows them. `timeoutSeconds`
ends the stream cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

from aiohttp import web
from google.protobuf.message import Message

from controlplane.registry import ObjectEvent, Registry
from controlplane.rest.status import error_response, status_dict
from podlab import errors
from podlab.kinds import Kind
from podlab.manifest import to_dict

BOOKMARK_SECONDS = 10.0
# How long the first event may take before the stream's headers go out: a
# Gone for a compacted revision comes at once, so it can still be a 410.
# (etcd says "compacted" in a few ms, more on a loaded machine; a later
# answer is an ERROR event, which clients take the same way.)
_FIRST_EVENT_WAIT = 0.2


async def _events(registry: Registry, kind: Kind, namespace: str, labels: str, fields: str,
                  resource_version: str, bookmark_seconds: float) -> AsyncGenerator[ObjectEvent, None]:
    if resource_version in ("", "0"):
        # "0" may start from any state: the watch cache's, as Kubernetes serves it; "" reads etcd.
        items, revision = await registry.list(kind, namespace, labels, fields, resource_version=resource_version)
        for obj in items:
            yield ObjectEvent("ADDED", obj, revision)
        resource_version = str(revision)
    async for event in registry.watch(kind, namespace, labels, fields, resource_version, bookmark_seconds):
        if event.type != "BOOKMARK" or bookmark_seconds:
            yield event


def _line(event: ObjectEvent, kind: Kind, render: Callable[[Message], dict[str, Any]]) -> bytes:
    if event.object is None:  # a bookmark: only the revision
        obj: dict[str, Any] = {"kind": kind.name, "apiVersion": kind.api_version,
                               "metadata": {"resourceVersion": str(event.revision)}}
    else:
        obj = render(event.object)
    return json.dumps({"type": event.type, "object": obj}, separators=(",", ":")).encode() + b"\n"


async def serve_watch(request: web.Request, registry: Registry, kind: Kind, namespace: str,
                      render: Callable[[Message], dict[str, Any]] = to_dict,
                      bookmark_seconds: float = BOOKMARK_SECONDS) -> web.StreamResponse:
    """Stream `kind`'s changes in `namespace` ("" = all) to the client, as the query asks.

    Bookmarks, when the client allows them, come every `bookmark_seconds` of quiet.
    """
    q = request.query
    timeout = q.get("timeoutSeconds")
    try:
        seconds = float(timeout) if timeout else None
    except ValueError:
        raise errors.BadRequest(f'invalid timeoutSeconds "{timeout}"') from None
    events = _events(registry, kind, namespace, q.get("labelSelector", ""), q.get("fieldSelector", ""),
                     q.get("resourceVersion", ""),
                     bookmark_seconds if q.get("allowWatchBookmarks", "") == "true" else 0)
    first = asyncio.ensure_future(anext(events))
    try:
        await asyncio.wait({first}, timeout=_FIRST_EVENT_WAIT)
        if first.done() and isinstance(first.exception(), errors.ApiError):
            err = first.exception()
            assert isinstance(err, errors.ApiError)
            return error_response(err, kind)
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Transfer-Encoding": "chunked"})
        await response.prepare(request)
        try:
            async with asyncio.timeout(seconds):
                await response.write(_line(await first, kind, render))
                async for event in events:
                    await response.write(_line(event, kind, render))
        except TimeoutError:
            pass
        except StopAsyncIteration:
            pass
        except errors.ApiError as err:
            line = {"type": "ERROR", "object": status_dict(err, kind)}
            await response.write(json.dumps(line).encode() + b"\n")
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response
    finally:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await events.aclose()
