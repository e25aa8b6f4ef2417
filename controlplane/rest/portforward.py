"""`pods/{name}/portforward` as kubectl ≥ 1.31 speaks it: SPDY/3.1 tunnelled in a WebSocket.

The WebSocket's subprotocol is `SPDY/3.1+portforward.k8s.io`; its binary
messages are a SPDY byte stream (controlplane.rest.spdy). For each local
connection kubectl opens two SPDY streams sharing a `requestID` header: an
`error` stream (which it half-closes at once) and a `data` stream, each
with a `port` header, as the kubelet's SPDY port-forward server expects.
Each data stream becomes one agent PortForward RPC: the client's bytes go
to the pod's port, the port's bytes come back on the data stream, a failure
("error forwarding port …") on the error stream; both end with FIN.
Kubelet-style PINGs are answered. The pod is checked before the upgrade,
so a pod not running is a Status kubectl prints.

The kubelet's older WebSocket protocol, `v4.channel.k8s.io` with `?ports=`
(what the official Python client's portforward speaks), is served too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from aiohttp import WSMsgType, web

from controlplane.agents import PortForwardSession
from controlplane.rest import spdy
from podlab import errors
from podlab.v1 import services_pb2 as api

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHANNELS = "v4.channel.k8s.io"

Inputs = asyncio.Queue[api.PortForwardInput | None]


class _Tunnel:
    """One kubectl port-forward connection: the SPDY session and a task per forwarded connection.

    Frames go out through `_send` only, under `_lock`, because SYN_REPLY header
    blocks share one compression context and must leave in the order built.
    """

    def __init__(self, ws: web.WebSocketResponse, pod: PortForwardSession) -> None:
        self.ws, self.pod = ws, pod
        self.reader, self.writer = spdy.FrameReader(), spdy.FrameWriter()
        self._lock = asyncio.Lock()
        self._error_streams: dict[str, int] = {}  # requestID -> error stream id
        self._inputs: dict[int, Inputs] = {}  # data stream id -> its bytes for the pod
        self._tasks: dict[int, asyncio.Task[None]] = {}  # data stream id -> its forward

    async def _send(self, frame: bytes | Callable[[], bytes]) -> None:
        """Send a frame, or build one (a SYN_REPLY, for its compression context) and send it, in turn."""
        async with self._lock:
            with contextlib.suppress(ConnectionResetError):
                await self.ws.send_bytes(frame() if callable(frame) else frame)

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                try:
                    frames = self.reader.feed(msg.data)
                except spdy.ProtocolError:
                    await self._send(spdy.FrameWriter.goaway(0))
                    return
                for frame in frames:
                    if not await self._on(frame):
                        return
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _on(self, frame: spdy.Frame) -> bool:
        """Handle one frame; False ends the session (GOAWAY)."""
        if isinstance(frame, spdy.SynStream):
            await self._open(frame)
        elif isinstance(frame, spdy.Data):
            queue = self._inputs.get(frame.stream_id)
            if queue is not None:
                if frame.data:
                    queue.put_nowait(api.PortForwardInput(data=frame.data))
                if frame.fin:
                    queue.put_nowait(api.PortForwardInput(close_write=True))
                    queue.put_nowait(None)
        elif isinstance(frame, spdy.RstStream):
            task = self._tasks.get(frame.stream_id)
            if task is not None:
                task.cancel()
        elif isinstance(frame, spdy.Ping):
            await self._send(spdy.FrameWriter.ping(frame.ping_id))
        elif isinstance(frame, spdy.GoAway):
            return False
        return True

    async def _open(self, frame: spdy.SynStream) -> None:
        sid, headers = frame.stream_id, frame.headers
        kind, request_id = headers.get("streamtype", ""), headers.get("requestid", "")
        try:
            port = int(headers.get("port", ""))
        except ValueError:
            port = 0
        if kind not in ("data", "error") or not 0 < port < 65536:
            await self._send(spdy.FrameWriter.rst_stream(sid, spdy.RST_PROTOCOL_ERROR))
            return
        await self._send(lambda: self.writer.syn_reply(sid))
        if kind == "error":
            self._error_streams[request_id] = sid
            return
        queue: Inputs = asyncio.Queue()
        self._inputs[sid] = queue
        if frame.fin:
            queue.put_nowait(api.PortForwardInput(close_write=True))
            queue.put_nowait(None)
        error_sid = self._error_streams.pop(request_id, 0)
        self._tasks[sid] = asyncio.create_task(self._forward(sid, error_sid, port, queue),
                                               name=f"port-forward-{port}-{sid}")

    async def _forward(self, sid: int, error_sid: int, port: int, queue: Inputs) -> None:
        finished = False

        async def fin() -> None:
            """The end of both streams, once: kubectl closes the local connection when it sees the
            data stream end and the error stream end too, as the kubelet ends them together."""
            nonlocal finished
            if not finished:
                finished = True
                await self._send(spdy.FrameWriter.data(sid, b"", fin=True))
                if error_sid:
                    await self._send(spdy.FrameWriter.data(error_sid, b"", fin=True))

        try:
            failure = await _connection(self.pod, port, queue,
                                        lambda data: self._send(spdy.FrameWriter.data(sid, data)), fin)
        finally:
            self._inputs.pop(sid, None)
            self._tasks.pop(sid, None)
        if failure and error_sid and not finished:
            await self._send(spdy.FrameWriter.data(error_sid, failure.encode()))
        await fin()


async def _connection(pod: PortForwardSession, port: int, queue: Inputs,
                      send: Callable[[bytes], Awaitable[None]],
                      closed: Callable[[], Awaitable[None]] | None = None) -> str:
    """One forwarded connection through the agent: `queue`'s bytes in, the port's bytes to `send`,
    `closed` when the pod closed its side; returns the failure in the kubelet's words ("" when the
    connection just ended)."""
    start = api.PortForwardStart()
    start.CopyFrom(pod.start)
    start.port = port

    async def inputs() -> AsyncIterator[api.PortForwardInput]:
        while (item := await queue.get()) is not None:
            yield item

    failure = ""
    try:
        async for out in PortForwardSession(pod.stub, start).run(inputs()):
            which = out.WhichOneof("output")
            if which == "data":
                await send(out.data)
            elif which == "closed":
                if closed is not None:
                    await closed()
            else:
                failure = out.error
                queue.put_nowait(None)  # nothing more to send: the agent ends the call once we are done
    except grpc.RpcError as err:
        failure = (f"error forwarding port {port} to pod {start.name}, uid {start.uid}: "
                   f"{err.details() or 'node agent unreachable'}")
    finally:
        queue.put_nowait(None)  # the call is over: its request stream ends too
    return failure


async def _serve_channels(ws: web.WebSocketResponse, pod: PortForwardSession, ports: list[int]) -> None:
    """The kubelet's WebSocket port-forward (`v4.channel.k8s.io`, the official Python client's): one
    connection per port, port i on channels 2i (data) and 2i+1 (error), each opened by the port as two
    little-endian bytes."""
    lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with lock:
            with contextlib.suppress(ConnectionResetError):
                await ws.send_bytes(bytes([channel]) + data)

    queues: list[Inputs] = [asyncio.Queue() for _ in ports]
    for i, port in enumerate(ports):
        await send(2 * i, port.to_bytes(2, "little"))
        await send(2 * i + 1, port.to_bytes(2, "little"))

    async def forward(i: int, port: int) -> None:
        failure = await _connection(pod, port, queues[i], lambda data: send(2 * i, data))
        if failure:
            await send(2 * i + 1, failure.encode())

    async def forward_all() -> None:
        await asyncio.gather(*(forward(i, port) for i, port in enumerate(ports)))

    done = asyncio.create_task(forward_all())

    async def read() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and msg.data and msg.data[0] % 2 == 0 and msg.data[0] // 2 < len(ports):
                if len(msg.data) > 1:
                    queues[msg.data[0] // 2].put_nowait(api.PortForwardInput(data=msg.data[1:]))

    reader = asyncio.create_task(read())
    try:
        await asyncio.wait([reader, done], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for queue in queues:  # the client went away, or every connection ended
            queue.put_nowait(api.PortForwardInput(close_write=True))
            queue.put_nowait(None)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(done, 5)


def _ports(request: web.Request) -> list[int]:
    ports = []
    for value in request.query.getall("ports", []):
        for text in value.split(","):
            try:
                port = int(text)
            except ValueError:
                raise errors.BadRequest(f'unable to parse "{text}" as a port: invalid syntax') from None
            if not 0 < port < 65536:
                raise errors.BadRequest(f"port {port} must be > 0 and < 65536")
            ports.append(port)
    return ports


async def serve_portforward(request: web.Request,
                            open_forward: Callable[[api.PortForwardStart], Awaitable[PortForwardSession]],
                            namespace: str, name: str) -> web.StreamResponse:
    """Tunnel kubectl's port-forward to the pod's agent; raises ApiError before upgrading."""
    pod = await open_forward(api.PortForwardStart(namespace=namespace, name=name))
    ports = _ports(request)
    ws = web.WebSocketResponse(protocols=(PROTOCOL, CHANNELS), max_msg_size=0, autoping=True)
    chosen = ws.can_prepare(request)
    if not chosen.ok:
        raise errors.BadRequest(f"portforward needs a WebSocket upgrade with {PROTOCOL} or {CHANNELS} (SPDY is "
                                "not served without the WebSocket tunnel)")
    if chosen.protocol == CHANNELS and not ports:
        raise errors.BadRequest("query parameter \"port\" is required")
    await ws.prepare(request)
    try:
        await (_serve_channels(ws, pod, ports) if ws.ws_protocol == CHANNELS else _Tunnel(ws, pod).run())
    finally:
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            await ws.close()
    return ws
