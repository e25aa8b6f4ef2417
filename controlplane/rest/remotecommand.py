"""`pods/{name}/exec` and `attach` over WebSocket: Kubernetes' channel protocols, bridged to the agent's gRPC Exec.

kubectl ≥ 1.30 asks for `v5.channel.k8s.io` (or `v4`): every binary message
starts with its channel byte — 0 stdin, 1 stdout, 2 stderr, 3 error (a
Status, the command's end: Success, or NonZeroExitCode with the exit code as
a cause), 4 resize (`{"Width":…,"Height":…}`); v5 adds 255 + channel to
close a stream (kubectl closes stdin so). The pod and container are resolved
before the upgrade, so a bad request is a plain Status kubectl prints. SPDY
is not served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from aiohttp import WSMsgType, web

from controlplane.agents import ExecSession
from controlplane.rest.status import status_dict
from podlab import errors
from podlab.v1 import services_pb2 as api

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def _flag(query: Any, name: str) -> bool:
    return query.get(name) in ("true", "1")


def exit_status(code: int) -> dict[str, Any]:
    """The error channel's last word for exit `code`, as the kubelet writes it."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


async def _inputs(ws: web.WebSocketResponse) -> AsyncIterator[api.ExecInput]:
    async for msg in ws:
        if msg.type != WSMsgType.BINARY or not msg.data:
            continue
        channel, data = msg.data[0], msg.data[1:]
        if channel == STDIN:
            yield api.ExecInput(stdin=data)
        elif channel == RESIZE:
            try:
                size = json.loads(data)
                yield api.ExecInput(resize=api.TerminalSize(width=int(size["Width"]), height=int(size["Height"])))
            except (ValueError, KeyError, TypeError):
                continue
        elif channel == CLOSE and data[:1] == bytes([STDIN]):
            yield api.ExecInput(close_stdin=True)
    yield api.ExecInput(close_stdin=True)  # the client went away


async def serve_exec(request: web.Request, open_session: Callable[[api.ExecStart], Awaitable[ExecSession]],
                     namespace: str, name: str) -> web.StreamResponse:
    """Run the query's command in the pod and bridge it to the WebSocket; raises ApiError before upgrading."""
    q = request.query
    command = q.getall("command", [])
    if not command:
        raise errors.BadRequest("you must specify at least 1 command")
    return await _serve(request, open_session, namespace, name, command, "exec")


async def serve_attach(request: web.Request, open_session: Callable[[api.ExecStart], Awaitable[ExecSession]],
                       namespace: str, name: str) -> web.StreamResponse:
    """Attach the container's main process to the WebSocket; raises ApiError before upgrading."""
    return await _serve(request, open_session, namespace, name, [], "attach")


async def _serve(request: web.Request, open_session: Callable[[api.ExecStart], Awaitable[ExecSession]],
                 namespace: str, name: str, command: list[str], verb: str) -> web.StreamResponse:
    q = request.query
    start = api.ExecStart(namespace=namespace, name=name, container=q.get("container", ""), command=command,
                          stdin=_flag(q, "stdin"), tty=_flag(q, "tty"))
    session = await open_session(start)
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise errors.BadRequest(f"{verb} needs a WebSocket upgrade with v5.channel.k8s.io or v4.channel.k8s.io "
                                "(SPDY is not served)")
    await ws.prepare(request)
    status = exit_status(0)
    try:
        async for out in session.run(_inputs(ws)):
            which = out.WhichOneof("output")
            if which == "stdout":
                await ws.send_bytes(bytes([STDOUT]) + out.stdout)
            elif which == "stderr":
                await ws.send_bytes(bytes([STDERR]) + out.stderr)
            elif which == "exit_code":
                status = exit_status(out.exit_code)
                break
    except grpc.RpcError as err:
        status = status_dict(errors.from_rpc_error(err))
    except errors.ApiError as err:
        status = status_dict(err)
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        await ws.close()
    return ws
